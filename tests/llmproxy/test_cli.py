"""The real command line: ``llmproxy serve`` in a subprocess, started, used and stopped with
SIGTERM (graceful drain), and ``llmproxy routes``."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time

import aiohttp

from tests.conftest import TEST_KEY, free_port
from tests.support.fake_anthropic import FakeAnthropic, Reply, StreamFault, text


async def wait_ready(url: str, deadline: float = 10.0) -> float:
    start = time.monotonic()
    async with aiohttp.ClientSession() as s:
        while time.monotonic() - start < deadline:
            try:
                async with s.get(url + "/readyz") as r:
                    if r.status == 200:
                        return time.monotonic() - start
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.02)
    raise AssertionError("the gateway did not become ready")


async def test_routes_command_lists_claude2codex() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "llmproxy",
        "routes",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, _ = await proc.communicate()
    assert proc.returncode == 0
    assert b"claude2codex\tPOST responses, POST responses/compact, GET models" in out


async def test_sigterm_drains_and_ends_streams_with_failed(fake: FakeAnthropic) -> None:
    port = free_port()
    env = {**os.environ, "LLMPROXY_REASONING_KEY": "k", "LLMPROXY_ALLOW_UPSTREAM": fake.base_url}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "llmproxy",
        "serve",
        "--port",
        str(port),
        "--shutdown-grace",
        "0.5",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        await wait_ready(url)
        fake.script.append(StreamFault(Reply([text("a long answer")]), 4, "hang"))
        headers = {"Authorization": f"Bearer {TEST_KEY}"}
        body = {"model": "claude-sonnet-4-5", "input": "hi", "stream": True}
        async with aiohttp.ClientSession() as s:
            resp = await s.post(
                f"{url}/claude2codex/{fake.base_url}/responses", json=body, headers=headers
            )
            first = await resp.content.readuntil(b"response.in_progress")
            proc.send_signal(signal.SIGTERM)
            await asyncio.sleep(0.1)
            async with s.get(url + "/readyz") as r:
                assert r.status == 503
            fake.script.append(Reply([text("never")]))
            async with s.post(
                f"{url}/claude2codex/{fake.base_url}/responses",
                json={**body, "stream": False},
                headers=headers,
            ) as r:
                assert r.status == 503
                assert (await r.json())["error"]["code"] == "draining"
            rest = await resp.content.read()
        raw = (first + rest).decode()
        events = [json.loads(line[6:]) for line in raw.splitlines() if line.startswith("data: ")]
        assert events[-1]["type"] == "response.failed"
        assert "response.completed" not in [e["type"] for e in events]
        assert await asyncio.wait_for(proc.wait(), 10) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        assert proc.stdout is not None
        logs = (await proc.stdout.read()).decode()
    assert TEST_KEY not in logs
    assert '"event": "draining"' in logs
