"""Shared fixtures: a strict fake Anthropic upstream and a gateway in front of it, both on
127.0.0.1. Tests reach the gateway at ``gateway.url`` and build client base URLs with
``gateway.base(route)``. For the reverse direction, ``responses_fake`` is a strict fake OpenAI
Responses upstream and ``codex2claude_gateway`` a gateway serving ``codex2claude`` in front of
it."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from llmproxy.app import make_app
from llmproxy.config import Settings
from llmproxy.contract import Route
from routes.claude2chat import Claude2Chat
from routes.claude2codex import Claude2Codex
from routes.codex2claude import Codex2Claude
from tests.support.fake_anthropic import FakeAnthropic
from tests.support.fake_responses import FakeResponsesServer

TEST_KEY = "sk-ant-test-SECRET-0123456789"
REASONING_KEY = "test-reasoning-key"


@dataclass
class Gateway:
    url: str
    upstream: str
    app: web.Application
    settings: Settings

    def base(self, route: str = "claude2codex") -> str:
        return f"{self.url}/{route}/{self.upstream}"


@pytest.fixture
async def fake() -> AsyncIterator[FakeAnthropic]:
    async with FakeAnthropic() as f:
        yield f


def make_settings(upstream: str, **kw: object) -> Settings:
    base: dict[str, object] = {
        "allow_upstream": [upstream],
        "reasoning_key": REASONING_KEY,
        "heartbeat_interval": 15.0,
    }
    base.update(kw)
    return Settings(**base)  # type: ignore[arg-type]


async def start_gateway(
    settings: Settings, upstream: str, routes: Sequence[Route] | None = None
) -> tuple[Gateway, TestServer]:
    """A gateway on 127.0.0.1 serving ``routes`` (default: claude2codex only)."""
    app = make_app(settings, routes=[Claude2Codex(settings)] if routes is None else list(routes))
    server = TestServer(app, host="127.0.0.1", handler_cancellation=True)
    await server.start_server()
    return Gateway(str(server.make_url("")).rstrip("/"), upstream, app, settings), server


@pytest.fixture
async def gateway(fake: FakeAnthropic) -> AsyncIterator[Gateway]:
    gw, server = await start_gateway(make_settings(fake.base_url), fake.base_url)
    try:
        yield gw
    finally:
        await server.close()


@pytest.fixture
async def responses_fake() -> AsyncIterator[FakeResponsesServer]:
    async with FakeResponsesServer(strict=True) as f:
        yield f


@pytest.fixture
async def codex2claude_gateway(responses_fake: FakeResponsesServer) -> AsyncIterator[Gateway]:
    """``gateway.base("codex2claude")`` is an Anthropic base URL (clients append ``/v1/...``)."""
    upstream = responses_fake.origin
    settings = make_settings(upstream)
    gw, server = await start_gateway(settings, upstream, routes=[Codex2Claude(settings)])
    try:
        yield gw
    finally:
        await server.close()


@pytest.fixture
async def chat_gateway(fake: FakeAnthropic) -> AsyncIterator[Gateway]:
    """A gateway serving ``claude2chat`` in front of ``fake``: ``gateway.base("claude2chat")`` is
    an OpenAI base URL (clients append ``/chat/completions``)."""
    settings = make_settings(fake.base_url)
    gw, server = await start_gateway(settings, fake.base_url, routes=[Claude2Chat(settings)])
    try:
        yield gw
    finally:
        await server.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port
