"""codex2claude through the real handler, over sockets: JSON and SSE replies, credentials,
errors before and inside the stream, heartbeats, count_tokens, models. The upstream is the
strict fake Responses server, which refuses what OpenAI would."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from routes.codex2claude import Codex2Claude
from tests.conftest import TEST_KEY, Gateway, make_settings, start_gateway
from tests.support.anthropic_lifecycle import check_messages_sse
from tests.support.fake_responses import (
    FakeResponsesServer,
    count_input_tokens,
    function_call,
    reasoning,
    reply,
    text_message,
)

JSON = dict[str, Any]
HEADERS = {"x-api-key": TEST_KEY, "anthropic-version": "2023-06-01"}
BODY: JSON = {
    "model": "gpt-5.5",
    "max_tokens": 512,
    "messages": [{"role": "user", "content": "Hi"}],
}


@pytest.fixture
async def gateway(responses_fake: FakeResponsesServer) -> AsyncIterator[Gateway]:
    """No retries and a fast heartbeat: each scripted reply is seen by the client as it is."""
    upstream = responses_fake.origin
    settings = make_settings(upstream, max_retries=0, heartbeat_interval=0.05)
    gw, server = await start_gateway(settings, upstream, routes=[Codex2Claude(settings)])
    try:
        yield gw
    finally:
        await server.close()


async def call(
    url: str, body: JSON | None = BODY, *, method: str = "POST", headers: Any = None
) -> tuple[int, dict[str, str], bytes]:
    async with (
        aiohttp.ClientSession() as s,
        s.request(method, url, json=body, headers=headers or HEADERS) as r,
    ):
        return r.status, {k.lower(): v for k, v in r.headers.items()}, await r.read()


def messages_url(gateway: Gateway) -> str:
    return gateway.base("codex2claude") + "/v1/messages"


async def test_json_reply(gateway: Gateway, responses_fake: FakeResponsesServer) -> None:
    responses_fake.enqueue(reply(text_message("Hello!")))
    status, headers, raw = await call(messages_url(gateway))
    assert status == 200, raw
    body = json.loads(raw)
    assert body["type"] == "message"
    assert body["role"] == "assistant"
    assert body["model"] == "gpt-5.5"
    assert body["content"] == [{"type": "text", "text": "Hello!"}]
    assert body["stop_reason"] == "end_turn"
    assert body["stop_sequence"] is None
    assert body["usage"]["input_tokens"] == 100
    assert body["usage"]["output_tokens"] == 20
    assert headers["request-id"] == headers["x-request-id"]
    sent = responses_fake.responses_requests[0]
    assert sent.header("authorization") == f"Bearer {TEST_KEY}"
    assert sent.header("x-api-key") is None
    assert sent.header("anthropic-version") is None
    assert sent.json["stream"] is True  # always streamed upstream
    assert responses_fake.rejections == []


async def test_bearer_credentials_are_forwarded(
    gateway: Gateway, responses_fake: FakeResponsesServer
) -> None:
    responses_fake.enqueue(reply(text_message("ok")))
    status, _, _ = await call(
        messages_url(gateway), headers={"Authorization": f"Bearer {TEST_KEY}"}
    )
    assert status == 200
    assert responses_fake.responses_requests[0].header("authorization") == f"Bearer {TEST_KEY}"


async def test_sse_reply(gateway: Gateway, responses_fake: FakeResponsesServer) -> None:
    responses_fake.enqueue(
        reply(
            reasoning("Plan.", encrypted_content="enc-1"),
            function_call("get_weather", {"city": "Paris"}, call_id="call_1"),
        )
    )
    body = {
        **BODY,
        "stream": True,
        "thinking": {"type": "enabled", "budget_tokens": 2048},
        "tools": [{"name": "get_weather", "input_schema": {"type": "object", "properties": {}}}],
    }
    status, headers, raw = await call(messages_url(gateway), body)
    assert status == 200
    assert headers["content-type"].startswith("text/event-stream")
    assert headers["request-id"]
    checked = check_messages_sse(raw)
    assert [b.type for b in checked.blocks] == ["thinking", "tool_use"]
    assert checked.blocks[0].text == "Plan."
    assert checked.blocks[1].start["id"] == "call_1"
    assert json.loads(checked.blocks[1].partial_json) == {"city": "Paris"}
    assert checked.stop_reason == "tool_use"
    assert responses_fake.rejections == []


@pytest.mark.parametrize(
    ("upstream_status", "error", "headers", "status", "etype", "message"),
    [
        pytest.param(
            429,
            {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"},
            {"retry-after": "7"},
            429,
            "rate_limit_error",
            "Rate limit reached",
            id="429",
        ),
        pytest.param(
            429,
            {"message": "You exceeded your quota", "code": "insufficient_quota"},
            {},
            402,
            "billing_error",
            "You exceeded your quota",
            id="quota",
        ),
        pytest.param(
            401,
            {"message": "Incorrect API key provided", "code": "invalid_api_key"},
            {},
            401,
            "authentication_error",
            "Incorrect API key provided",
            id="401",
        ),
        pytest.param(
            403, {"message": "Forbidden"}, {}, 403, "permission_error", "Forbidden", id="403"
        ),
        pytest.param(
            404,
            {"message": "The model `gpt-9` does not exist", "code": "model_not_found"},
            {},
            404,
            "not_found_error",
            "does not exist",
            id="404",
        ),
        pytest.param(
            400,
            {
                "message": "Your input exceeds the context window.",
                "code": "context_length_exceeded",
            },
            {},
            400,
            "invalid_request_error",
            "prompt is too long: Your input exceeds the context window",
            id="context",
        ),
        pytest.param(
            500,
            {"message": "The server had an error"},
            {},
            500,
            "api_error",
            "server had",
            id="500",
        ),
        pytest.param(
            503,
            {"message": "The engine is currently overloaded", "code": "server_is_overloaded"},
            {"retry-after": "2"},
            529,
            "overloaded_error",
            "overloaded",
            id="503",
        ),
        pytest.param(
            504, {"message": "Gateway Timeout"}, {}, 504, "timeout_error", "Timeout", id="504"
        ),
    ],
)
async def test_upstream_errors_in_anthropic_shape(
    gateway: Gateway,
    responses_fake: FakeResponsesServer,
    upstream_status: int,
    error: JSON,
    headers: dict[str, str],
    status: int,
    etype: str,
    message: str,
) -> None:
    responses_fake.enqueue(
        reply(status=upstream_status, error_body={"error": error}, headers=headers)
    )
    got, got_headers, raw = await call(messages_url(gateway))
    assert got == status, raw
    body = json.loads(raw)
    assert body["type"] == "error"
    assert body["error"]["type"] == etype
    assert message in body["error"]["message"]
    assert body["request_id"] == got_headers["request-id"]
    assert "req_fake_" in body["error"]["message"]  # the upstream's request id, for support
    if "retry-after" in headers:
        assert got_headers["retry-after"] == headers["retry-after"]
    assert TEST_KEY not in raw.decode()


async def test_an_error_body_in_another_shape(
    gateway: Gateway, responses_fake: FakeResponsesServer
) -> None:
    # FastAPI-style servers (vLLM, ...) answer {"detail": ...}.
    responses_fake.enqueue(reply(status=502, error_body={"detail": "Bad gateway"}))
    status, _, raw = await call(messages_url(gateway))
    assert status == 502
    assert json.loads(raw)["error"] == {
        "type": "api_error",
        "message": "Bad gateway (upstream request id req_fake_1)",
    }


async def test_failure_inside_the_stream_is_an_error_event(
    gateway: Gateway, responses_fake: FakeResponsesServer
) -> None:
    error = {"code": "server_error", "message": "The model crashed"}
    responses_fake.enqueue(reply(text_message("Half an answer"), terminal="failed", error=error))
    status, _, raw = await call(messages_url(gateway), {**BODY, "stream": True})
    assert status == 200
    checked = check_messages_sse(raw)
    assert checked.terminal == "error"
    assert b"message_stop" not in raw
    assert checked.events[-1]["error"] == {"type": "api_error", "message": "The model crashed"}


async def test_failure_inside_the_stream_for_a_json_client(
    gateway: Gateway, responses_fake: FakeResponsesServer
) -> None:
    error = {"code": "rate_limit_exceeded", "message": "Slow down. Please try again in 3s."}
    responses_fake.enqueue(reply(text_message("Half"), terminal="failed", error=error))
    status, _, raw = await call(messages_url(gateway))
    assert status == 429
    assert json.loads(raw)["error"]["type"] == "rate_limit_error"


async def test_error_event_and_cut_stream(
    gateway: Gateway, responses_fake: FakeResponsesServer
) -> None:
    overloaded = {"code": "server_is_overloaded", "message": "Overloaded"}
    responses_fake.enqueue(reply(text_message("x"), terminal="error", error=overloaded))
    responses_fake.enqueue(reply(text_message("Hello world"), cut_after=5))
    _, _, raw = await call(messages_url(gateway), {**BODY, "stream": True})
    assert check_messages_sse(raw).events[-1]["error"]["type"] == "overloaded_error"
    _, _, raw = await call(messages_url(gateway), {**BODY, "stream": True})
    last = check_messages_sse(raw).events[-1]
    assert last["error"]["type"] == "api_error"
    assert "before its terminal event" in last["error"]["message"]


async def test_heartbeats_are_pings(gateway: Gateway, responses_fake: FakeResponsesServer) -> None:
    responses_fake.enqueue(reply(text_message("slow"), event_delay=0.2))
    _, _, raw = await call(messages_url(gateway), {**BODY, "stream": True})
    checked = check_messages_sse(raw)
    types = [e["type"] for e in checked.events]
    assert "ping" in types
    assert types[0] == "message_start"
    assert types[-1] == "message_stop"


async def test_count_tokens(gateway: Gateway, responses_fake: FakeResponsesServer) -> None:
    body = {
        "model": "gpt-5.5",
        "system": "Be brief.",
        "messages": [{"role": "user", "content": "How many tokens is this?"}],
    }
    status, _, raw = await call(gateway.base("codex2claude") + "/v1/messages/count_tokens", body)
    assert status == 200, raw
    sent = responses_fake.requests[-1]
    assert sent.path == "/v1/responses/input_tokens"
    assert json.loads(raw) == {"input_tokens": count_input_tokens(sent.json)}
    assert responses_fake.rejections == []


async def test_models(gateway: Gateway, responses_fake: FakeResponsesServer) -> None:
    status, _, raw = await call(gateway.base("codex2claude") + "/v1/models", None, method="GET")
    assert status == 200, raw
    body = json.loads(raw)
    assert [m["id"] for m in body["data"]] == ["gpt-5.5", "gpt-5.5-mini", "o4-mini"]
    assert body["data"][0] == {
        "type": "model",
        "id": "gpt-5.5",
        "display_name": "gpt-5.5",
        "created_at": "2026-01-01T00:00:00Z",
        "lifecycle": "active",
    }
    assert (body["has_more"], body["first_id"], body["last_id"]) == (False, "gpt-5.5", "o4-mini")


@pytest.mark.parametrize(
    ("method", "suffix"), [("GET", "/v1/models/gpt-5.5"), ("POST", "/v1/complete")]
)
async def test_unknown_endpoints_are_404_in_anthropic_shape(
    gateway: Gateway, method: str, suffix: str
) -> None:
    status, _, raw = await call(gateway.base("codex2claude") + suffix, BODY, method=method)
    assert status == 404
    assert json.loads(raw)["error"]["type"] == "not_found_error"


async def test_stop_sequences_are_refused_before_the_upstream(
    gateway: Gateway, responses_fake: FakeResponsesServer
) -> None:
    status, _, raw = await call(messages_url(gateway), {**BODY, "stop_sequences": ["END"]})
    assert status == 400
    error = json.loads(raw)["error"]
    assert error["type"] == "invalid_request_error"
    assert error["message"].startswith("stop_sequences: ")
    assert responses_fake.requests == []


async def test_client_disconnect_closes_the_upstream(
    gateway: Gateway, responses_fake: FakeResponsesServer
) -> None:
    responses_fake.enqueue(reply(text_message("a b c d e f g"), event_delay=0.3))
    async with aiohttp.ClientSession() as s:
        resp = await s.post(messages_url(gateway), json={**BODY, "stream": True}, headers=HEADERS)
        await resp.content.readuntil(b"message_start")
        resp.close()
    for _ in range(50):
        if responses_fake.disconnects:
            break
        await asyncio.sleep(0.1)
    assert responses_fake.disconnects == 1


async def test_model_map_renames_the_upstream_model_only(
    responses_fake: FakeResponsesServer,
) -> None:
    upstream = responses_fake.origin
    settings = make_settings(upstream, model_map={"claude-opus-5-5": "gpt-5.5"})
    gw, server = await start_gateway(settings, upstream, routes=[Codex2Claude(settings)])
    try:
        responses_fake.enqueue(reply(text_message("Hi")))
        status, _, raw = await call(messages_url(gw), {**BODY, "model": "claude-opus-5-5"})
    finally:
        await server.close()
    assert status == 200, raw
    assert json.loads(raw)["model"] == "claude-opus-5-5"
    assert responses_fake.responses_requests[0].json["model"] == "gpt-5.5"
