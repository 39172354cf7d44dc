"""The I/O shell end to end over real sockets: URL forms, policy refusals, limits, errors,
heartbeats, cancellation, health and metrics. All on 127.0.0.1."""

from __future__ import annotations

import asyncio
import io
import json
import socket
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp_sse_client import client as sse_client
from yarl import URL

from llmproxy.logs import configure_logging
from tests.conftest import TEST_KEY, Gateway, make_settings, start_gateway
from tests.support.fake_anthropic import (
    ErrorReply,
    FakeAnthropic,
    Reply,
    StreamFault,
    text,
    thinking,
)

HEADERS = {"Authorization": f"Bearer {TEST_KEY}"}
BODY: dict[str, Any] = {"model": "claude-sonnet-4-5", "input": "hi"}


async def post(url: str | URL, body: Any = BODY, **kw: Any) -> tuple[int, dict[str, str], Any]:
    async with (
        aiohttp.ClientSession() as s,
        s.post(url, json=body, headers={**HEADERS, **kw.pop("headers", {})}, **kw) as r,
    ):
        raw = await r.read()
        try:
            parsed: Any = json.loads(raw)
        except ValueError:
            parsed = raw.decode()
        return r.status, {k.lower(): v for k, v in r.headers.items()}, parsed


def sse_events(raw: str) -> list[dict[str, Any]]:
    return [json.loads(line[6:]) for line in raw.splitlines() if line.startswith("data: ")]


@pytest.mark.parametrize(
    "suffix",
    ["/responses", "/v1/responses", "/v1/responses/", "/v1/responses?api-version=1"],
)
async def test_endpoint_forms(gateway: Gateway, suffix: str) -> None:
    status, headers, body = await post(gateway.base() + suffix)
    assert status == 200, body
    assert body["output"][0]["content"][0]["text"] == "ok"
    assert headers["x-request-id"].startswith("req_")


async def test_base_url_ending_in_v1_is_not_doubled(gateway: Gateway, fake: FakeAnthropic) -> None:
    status, _, _ = await post(gateway.base() + "/v1/responses")
    assert status == 200
    assert fake.requests[-1].path == "/v1/messages"


async def test_percent_encoded_upstream(gateway: Gateway, fake: FakeAnthropic) -> None:
    encoded = fake.base_url.replace(":", "%3A").replace("/", "%2F")
    url = f"{gateway.url}/claude2codex/{encoded}/v1/responses"
    status, _, body = await post(URL(url, encoded=True))
    assert status == 200, body


async def test_merged_double_slash_is_repaired(gateway: Gateway, fake: FakeAnthropic) -> None:
    merged = fake.base_url.replace("http://", "http:/")
    url = f"{gateway.url}/claude2codex/{merged}/responses"
    status, _, body = await post(URL(url, encoded=True))
    assert status == 200, body


async def test_unknown_route_is_404_in_openai_shape(gateway: Gateway) -> None:
    status, _, body = await post(f"{gateway.url}/nope2nothing/{gateway.upstream}/responses")
    assert status == 404
    assert body["error"]["type"] == "invalid_request_error"
    assert "claude2codex" in body["error"]["message"]


async def test_unknown_endpoint_is_404(gateway: Gateway) -> None:
    status, _, body = await post(gateway.base() + "/v1/embeddings")
    assert status == 404
    assert "error" in body


async def test_bad_json_is_400_naming_the_body(gateway: Gateway) -> None:
    async with (
        aiohttp.ClientSession() as s,
        s.post(gateway.base() + "/responses", data=b"{nope", headers=HEADERS) as r,
    ):
        body = await r.json()
    assert r.status == 400
    assert body["error"]["param"] == "body"


async def test_stateful_fields_are_refused(gateway: Gateway) -> None:
    status, _, body = await post(
        gateway.base() + "/responses", {**BODY, "previous_response_id": "resp_1"}
    )
    assert status == 400
    assert body["error"]["param"] == "previous_response_id"
    assert body["error"]["code"] == "unsupported_parameter"


async def test_body_limit(fake: FakeAnthropic) -> None:
    gw, server = await start_gateway(
        make_settings(fake.base_url, max_body_bytes=1000), fake.base_url
    )
    try:
        status, _, body = await post(gw.base() + "/responses", {**BODY, "input": "x" * 5000})
    finally:
        await server.close()
    assert status == 413
    assert "error" in body
    assert fake.requests == []


async def test_default_policy_refuses_private_http_upstream(fake: FakeAnthropic) -> None:
    gw, server = await start_gateway(make_settings("https://example.invalid"), fake.base_url)
    try:
        status, _, body = await post(gw.base() + "/responses")
    finally:
        await server.close()
    assert status == 403
    assert body["error"]["code"] == "upstream_not_allowed"
    assert fake.requests == []


class MapResolver(AbstractResolver):
    def __init__(self, table: dict[str, str]) -> None:
        self.table = table
        self.asked: list[str] = []

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.asked.append(host)
        return [
            ResolveResult(
                hostname=host, host=self.table[host], port=port, family=family, proto=0, flags=0
            )
        ]

    async def close(self) -> None:
        pass


async def test_name_resolving_to_private_address_is_refused_before_connecting(
    fake: FakeAnthropic,
) -> None:
    from llmproxy.app import make_app
    from routes.claude2codex import Claude2Codex

    settings = make_settings("https://unrelated.example")
    resolver = MapResolver({"api.evil.example": "127.0.0.1"})
    app = make_app(settings, routes=[Claude2Codex(settings)], resolver=resolver)
    from aiohttp.test_utils import TestServer

    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        url = f"{str(server.make_url('')).rstrip('/')}/claude2codex/https://api.evil.example/v1/responses"
        status, _, body = await post(url)
    finally:
        await server.close()
    assert resolver.asked == ["api.evil.example"]
    assert status == 403
    assert body["error"]["code"] == "upstream_not_allowed"


async def test_upstream_html_error_page_becomes_openai_error(fake: FakeAnthropic) -> None:
    async def broken(request: web.Request) -> web.Response:
        return web.Response(status=502, text="<html>bad gateway</html>", content_type="text/html")

    app = web.Application()
    app.router.add_post("/v1/messages", broken)
    from aiohttp.test_utils import TestServer

    upstream = TestServer(app, host="127.0.0.1")
    await upstream.start_server()
    base = str(upstream.make_url("")).rstrip("/")
    gw, server = await start_gateway(make_settings(base), base)
    try:
        status, _, body = await post(gw.base() + "/responses")
    finally:
        await server.close()
        await upstream.close()
    assert status == 502
    assert body["error"]["type"] == "server_error"
    assert "502" in body["error"]["message"]


async def test_request_id_is_propagated(gateway: Gateway, fake: FakeAnthropic) -> None:
    status, headers, _ = await post(
        gateway.base() + "/responses", headers={"x-request-id": "trace-abc-123"}
    )
    assert status == 200
    assert headers["x-request-id"] == "trace-abc-123"
    assert fake.requests[0].headers["x-request-id"] == "trace-abc-123"


async def test_hop_by_hop_and_cookies_are_not_forwarded(
    gateway: Gateway, fake: FakeAnthropic
) -> None:
    await post(
        gateway.base() + "/responses",
        headers={"Cookie": "session=1", "X-Forwarded-For": "10.0.0.1", "x-api-key": "sk-other"},
    )
    sent = fake.requests[0].headers
    assert "cookie" not in sent
    assert "x-forwarded-for" not in sent
    assert sent["x-api-key"] == "sk-other"


async def test_streams_parse_with_an_independent_sse_client(
    gateway: Gateway, fake: FakeAnthropic
) -> None:
    fake.script.append(Reply([thinking("hmm"), text("streamed answer")]))
    events: list[dict[str, Any]] = []
    names: list[str] = []
    async with sse_client.EventSource(
        gateway.base() + "/responses",
        option={"method": "POST"},
        json={**BODY, "stream": True, "reasoning": {"effort": "low", "summary": "auto"}},
        headers=HEADERS,
    ) as source:
        try:
            async for ev in source:
                names.append(ev.type)
                events.append(json.loads(ev.data))
                if ev.type.startswith("response.") and ev.type.split(".")[1] in (
                    "completed",
                    "failed",
                    "incomplete",
                ):
                    break
        except ConnectionError:
            pass
    assert names[0] == "response.created"
    assert names[-1] == "response.completed"
    assert [e["type"] for e in events] == names
    assert [e["sequence_number"] for e in events] == list(range(len(events)))


async def test_heartbeat_during_upstream_silence(fake: FakeAnthropic) -> None:
    async def slow(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await resp.prepare(request)
        start = {
            "type": "message_start",
            "message": {"id": "msg_1", "usage": {"input_tokens": 3, "output_tokens": 1}},
        }
        await resp.write(b"event: message_start\ndata: " + json.dumps(start).encode() + b"\n\n")
        await asyncio.sleep(0.5)
        for name, data in [
            (
                "content_block_start",
                {
                    "type": "content_block_start",
                    "index": 0,
                    "content_block": {"type": "text", "text": ""},
                },
            ),
            (
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "text_delta", "text": "late"},
                },
            ),
            ("content_block_stop", {"type": "content_block_stop", "index": 0}),
            (
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": "end_turn"},
                    "usage": {"output_tokens": 2},
                },
            ),
            ("message_stop", {"type": "message_stop"}),
        ]:
            await resp.write(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())
        return resp

    app = web.Application()
    app.router.add_post("/v1/messages", slow)
    from aiohttp.test_utils import TestServer

    upstream = TestServer(app, host="127.0.0.1")
    await upstream.start_server()
    base = str(upstream.make_url("")).rstrip("/")
    gw, server = await start_gateway(make_settings(base, heartbeat_interval=0.1), base)
    try:
        status, _, raw = await post(gw.base() + "/responses", {**BODY, "stream": True})
    finally:
        await server.close()
        await upstream.close()
    assert status == 200
    types = [e["type"] for e in sse_events(raw)]
    assert types[:2] == ["response.created", "response.in_progress"]
    assert types.count("response.in_progress") >= 3  # keep-alives while the upstream was silent
    assert types[-1] == "response.completed"


async def test_idle_timeout_ends_stream_with_failed(fake: FakeAnthropic) -> None:
    fake.script.append(StreamFault(Reply([text("never finished")]), 3, "hang"))
    gw, server = await start_gateway(
        make_settings(fake.base_url, heartbeat_interval=0.05, idle_timeout=0.3), fake.base_url
    )
    try:
        status, _, raw = await post(gw.base() + "/responses", {**BODY, "stream": True})
    finally:
        await server.close()
    assert status == 200
    events = sse_events(raw)
    assert events[-1]["type"] == "response.failed"
    assert "response.completed" not in [e["type"] for e in events]


async def test_client_disconnect_closes_the_upstream_quickly(
    gateway: Gateway, fake: FakeAnthropic
) -> None:
    fake.script.append(StreamFault(Reply([text("endless")]), 3, "hang"))
    loop = asyncio.get_running_loop()
    async with aiohttp.ClientSession() as s:
        resp = await s.post(
            gateway.base() + "/responses", json={**BODY, "stream": True}, headers=HEADERS
        )
        await resp.content.readuntil(b"response.in_progress")
        await asyncio.sleep(0.05)
        closed_at = loop.time()
        resp.close()
    for _ in range(100):
        if fake.closed_connections:
            break
        await asyncio.sleep(0.005)
    assert fake.closed_connections, "the upstream request was left running"
    assert fake.closed_connections[0] - closed_at < 0.1


async def test_upstream_overloaded_is_503_with_retry_after(
    gateway: Gateway, fake: FakeAnthropic
) -> None:
    fake.script.append(
        ErrorReply(529, "overloaded_error", "Overloaded", headers={"retry-after": "30"})
    )
    status, headers, body = await post(gateway.base() + "/responses")
    # A retry-after beyond the gateway's retry budget goes back to the client untouched.
    assert status == 503
    assert headers["retry-after"] == "30"
    assert len(fake.requests) == 1
    assert body["error"]["code"] == "server_is_overloaded"


async def test_health_ready_metrics(gateway: Gateway) -> None:
    await post(gateway.base() + "/responses")
    async with aiohttp.ClientSession() as s:
        async with s.get(gateway.url + "/healthz") as r:
            assert r.status == 200
        async with s.get(gateway.url + "/readyz") as r:
            assert r.status == 200
            assert (await r.json())["routes"] == ["claude2codex"]
        async with s.get(gateway.url + "/metrics") as r:
            metrics = await r.text()
    assert 'llmproxy_requests_total{outcome="ok",route="claude2codex"} 1.0' in metrics
    assert 'llmproxy_tokens_total{kind="input",route="claude2codex"} 12.0' in metrics
    assert (
        'llmproxy_upstream_responses_total{route="claude2codex",status_class="2xx"} 1.0' in metrics
    )


async def test_credentials_never_logged_or_echoed(fake: FakeAnthropic) -> None:
    """A recognisable key through every error path: never in a log line, a metric, a response
    body or a response header."""
    buf = io.StringIO()
    configure_logging("json", "debug", stream=buf)
    results: list[tuple[int, dict[str, str], Any]] = []
    metrics = ""
    try:
        gw, server = await start_gateway(
            make_settings(fake.base_url, idle_timeout=0.3, heartbeat_interval=0.1, max_retries=1),
            fake.base_url,
        )
        base = gw.base() + "/responses"
        stream = {**BODY, "stream": True}
        try:
            fake.script.append(ErrorReply(401, "authentication_error", "invalid x-api-key"))
            results.append(await post(base))
            results.append(await post(base, {"model": 5}))
            results.append(await post(f"{gw.url}/claude2codex/http://10.0.0.1/responses"))
            results.append(await post(f"{gw.url}/nope/{fake.base_url}/responses"))
            results.append(await post(base, stream))
            fake.script.append(ErrorReply(429, "rate_limit_error", "slow", {"retry-after": "99"}))
            results.append(await post(base))
            fake.script.append(ErrorReply(529, "overloaded_error", "Overloaded"))
            fake.script.append(ErrorReply(529, "overloaded_error", "Overloaded"))
            results.append(await post(base))
            fake.script.append(StreamFault(Reply([text("cut short")]), 4, "error_event"))
            results.append(await post(base, stream))
            fake.script.append(StreamFault(Reply([text("cut short")]), 4, "reset"))
            results.append(await post(base))
            fake.script.append(StreamFault(Reply([text("silent")]), 3, "hang"))
            results.append(await post(base, stream))
            results.append(await post(base, {**BODY, "previous_response_id": "resp_1"}))
            async with aiohttp.ClientSession() as s, s.get(gw.url + "/metrics") as r:
                metrics = await r.text()
        finally:
            await server.close()
    finally:
        configure_logging("console", "info")
    assert [r[0] for r in results] == [401, 400, 403, 404, 200, 429, 503, 200, 502, 200, 400]
    logs = buf.getvalue()
    assert buf.getvalue().count('"event": "request"') == len(results)
    for haystack in (logs, metrics):
        assert TEST_KEY not in haystack
        assert TEST_KEY[-12:] not in haystack
    for _, headers, body in results:
        assert TEST_KEY not in json.dumps(body)
        assert TEST_KEY not in json.dumps(headers)


async def test_first_byte_timeout_is_504() -> None:
    done = asyncio.Event()
    writers: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        await done.wait()  # accepts, answers nothing

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    settings = make_settings(base, connect_timeout=0.2, first_byte_timeout=0.3)
    gw, gw_server = await start_gateway(settings, base)
    try:
        status, _, body = await post(gw.base() + "/responses")
    finally:
        await gw_server.close()
        done.set()
        for w in writers:
            w.close()
            await w.wait_closed()
        server.close()
        await server.wait_closed()
    assert status == 504
    assert body["error"]["code"] == "upstream_timeout"


async def test_overloaded_then_ok_is_retried_invisibly(
    gateway: Gateway, fake: FakeAnthropic
) -> None:
    fake.script.append(
        ErrorReply(529, "overloaded_error", "Overloaded", headers={"retry-after": "0"})
    )
    fake.script.append(ErrorReply(429, "rate_limit_error", "slow down"))
    status, _, body = await post(gateway.base() + "/responses")
    assert status == 200, body
    assert len(fake.requests) == 3
    async with aiohttp.ClientSession() as s, s.get(gateway.url + "/metrics") as r:
        metrics = await r.text()
    assert 'llmproxy_upstream_retries_total{reason="529",route="claude2codex"} 1.0' in metrics
    assert 'llmproxy_upstream_retries_total{reason="429",route="claude2codex"} 1.0' in metrics


async def test_retries_are_bounded(fake: FakeAnthropic) -> None:
    for _ in range(5):
        fake.script.append(ErrorReply(529, "overloaded_error", "Overloaded"))
    gw, server = await start_gateway(make_settings(fake.base_url, max_retries=2), fake.base_url)
    try:
        status, _, body = await post(gw.base() + "/responses")
    finally:
        await server.close()
    assert status == 503
    assert body["error"]["code"] == "server_is_overloaded"
    assert len(fake.requests) == 3


async def test_connect_failure_is_retried_then_502() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    base = f"http://127.0.0.1:{port}"  # nothing listens there
    gw, server = await start_gateway(make_settings(base), base)
    try:
        status, _, body = await post(gw.base() + "/responses")
        async with aiohttp.ClientSession() as s2, s2.get(gw.url + "/metrics") as r:
            metrics = await r.text()
    finally:
        await server.close()
    assert status == 502
    assert body["error"]["code"] == "upstream_connect_error"
    assert 'llmproxy_upstream_retries_total{reason="connect",route="claude2codex"} 2.0' in metrics


async def test_operator_alias_and_allowlist_mode(fake: FakeAnthropic) -> None:
    settings = make_settings(
        "https://unused.example", upstreams={"zai": fake.base_url}, allowlist_only=True
    )
    settings.allow_upstream.clear()
    gw, server = await start_gateway(settings, fake.base_url)
    try:
        ok = await post(f"{gw.url}/claude2codex/zai/v1/responses")
        unknown = await post(f"{gw.url}/claude2codex/other/v1/responses")
        public = await post(f"{gw.url}/claude2codex/https://api.anthropic.com/v1/responses")
    finally:
        await server.close()
    assert ok[0] == 200, ok[2]
    assert fake.requests[0].path == "/v1/messages"
    assert unknown[0] == 403
    assert public[0] == 403
    assert "configured upstreams" in public[2]["error"]["message"]
    assert len(fake.requests) == 1


async def test_input_item_limit(fake: FakeAnthropic) -> None:
    gw, server = await start_gateway(make_settings(fake.base_url, max_input_items=3), fake.base_url)
    try:
        items = [{"role": "user", "content": f"m{i}"} for i in range(4)]
        status, _, body = await post(gw.base() + "/responses", {**BODY, "input": items})
    finally:
        await server.close()
    assert status == 400
    assert body["error"]["param"] == "input"
    assert fake.requests == []


async def test_prompt_text_is_never_logged_unless_asked_and_then_redacted(
    fake: FakeAnthropic,
) -> None:
    prompt = "my private prompt " + "x" * 300
    for log_bodies in (False, True):
        buf = io.StringIO()
        configure_logging("json", "debug", stream=buf)
        try:
            gw, server = await start_gateway(
                make_settings(fake.base_url, log_bodies=log_bodies), fake.base_url
            )
            try:
                fake.script.append(Reply([text("a completion nobody should log")]))
                status, _, _ = await post(
                    gw.base() + "/responses",
                    {**BODY, "input": prompt, "metadata": {"api_key": "sk-inside-body"}},
                )
            finally:
                await server.close()
        finally:
            configure_logging("console", "info")
        logs = buf.getvalue()
        assert status == 200
        assert TEST_KEY not in logs
        assert "sk-inside-body" not in logs
        assert "a completion nobody should log" not in logs
        assert prompt not in logs  # never whole
        if log_bodies:
            assert "my private prompt" in logs  # cut to a prefix, on request
            assert "[redacted]" in logs
        else:
            assert "my private prompt" not in logs


@pytest.mark.parametrize("stream", [False, True])
async def test_max_tokens_counts_as_incomplete(
    gateway: Gateway, fake: FakeAnthropic, stream: bool
) -> None:
    fake.script.append(Reply([text("cut sh")], stop_reason="max_tokens"))
    status, _, _ = await post(gateway.base() + "/responses", {**BODY, "stream": stream})
    assert status == 200
    async with aiohttp.ClientSession() as s, s.get(gateway.url + "/metrics") as r:
        metrics = await r.text()
    assert 'llmproxy_requests_total{outcome="incomplete",route="claude2codex"} 1.0' in metrics
