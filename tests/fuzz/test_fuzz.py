"""Bad input never becomes a 5xx or a traceback.

* Request bodies: every captured real request (../shared/captures) mutated by hypothesis
  (values replaced by other JSON, keys dropped, items duplicated or shuffled, wrong types) and
  arbitrary JSON, sent through the whole application to the strict fake upstream. The gateway
  must answer 2xx or 4xx in OpenAI's error shape, and never send the upstream a request the
  upstream rejects (that would be a mistranslation) unless the client's own input was invalid.
* Upstream streams: arbitrary and mutated Anthropic event sequences through the SSE decoder and
  the translator: they end with exactly one terminal event and never raise.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmproxy.app import make_app
from llmproxy.sse import SSEDecoder
from routes.claude2codex import Claude2Codex
from routes.claude2codex.reasoning import Envelope
from routes.claude2codex.request import Echo
from routes.claude2codex.stream import ResponsesStream, ResponseTemplate
from routes.claude2codex.tools import ToolMap
from tests.conftest import TEST_KEY, make_settings
from tests.support.fake_anthropic import FakeAnthropic

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "captures"
CAPTURES = [
    json.loads(p.read_text())["body"]
    for p in sorted(SHARED.glob("*.json"))
    if p.name != "codex_tools_full.json" and json.loads(p.read_text()).get("method") == "POST"
]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value[:12]):
            out += _paths(v, (*prefix, i))
    return out


@st.composite
def mutated_capture(draw: st.DrawFn) -> Any:
    body = json.loads(json.dumps(draw(st.sampled_from(CAPTURES))))
    for _ in range(draw(st.integers(1, 4))):
        paths = _paths(body)
        path = draw(st.sampled_from(paths))
        if not path:
            continue
        parent: Any = body
        for key in path[:-1]:
            parent = parent[key]
        action = draw(st.sampled_from(["replace", "drop", "dup"]))
        last = path[-1]
        if action == "replace":
            parent[last] = draw(json_values)
        elif action == "drop":
            if isinstance(parent, dict):
                del parent[last]
            else:
                parent.pop(last)
        elif isinstance(parent, list):
            parent.insert(last, json.loads(json.dumps(parent[last])))
    return body


bodies = st.one_of(
    mutated_capture(), json_values, st.dictionaries(st.text(max_size=10), json_values)
)


@pytest.fixture
async def client(fake: FakeAnthropic) -> AsyncIterator[TestClient[Any, Any]]:
    s = make_settings(fake.base_url)
    app = make_app(s, routes=[Claude2Codex(s)])
    async with TestClient(TestServer(app)) as c:
        yield c


COUNTS: dict[str, int] = {"cases": 0}


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(body=bodies, stream=st.booleans())
async def test_mutated_requests_never_5xx(
    client: TestClient[Any, Any], fake: FakeAnthropic, body: Any, stream: bool
) -> None:
    COUNTS["cases"] += 1
    if isinstance(body, dict) and stream:
        body = {**body, "stream": True}
    path = f"/claude2codex/{fake.base_url}/v1/responses"
    before = len(fake.rejections)
    resp = await client.post(path, json=body, headers={"Authorization": f"Bearer {TEST_KEY}"})
    raw = await resp.read()
    assert resp.status < 500, raw[:500]
    assert b"Traceback" not in raw
    if resp.status >= 400:
        err = json.loads(raw)["error"]
        assert isinstance(err["message"], str)
        assert err["message"]
    # The gateway never hands the upstream a request the upstream rejects.
    assert fake.rejections[before:] == [], fake.rejections[before:]
    COUNTS["upstream"] = len(fake.requests)
    COUNTS["status_" + str(resp.status)] = COUNTS.get("status_" + str(resp.status), 0) + 1


EVENT_NAMES = [
    "message_start",
    "content_block_start",
    "content_block_delta",
    "content_block_stop",
    "message_delta",
    "message_stop",
    "ping",
    "error",
    "bogus",
]
BLOCKS = [
    {"type": "text", "text": ""},
    {"type": "thinking", "thinking": "", "signature": ""},
    {"type": "redacted_thinking", "data": "abc"},
    {"type": "tool_use", "id": "toolu_1", "name": "apply_patch", "input": {}},
    {"type": "tool_use", "id": "toolu_2", "name": "get_weather", "input": {}},
    {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {}},
]
DELTAS = [
    {"type": "text_delta", "text": "hi"},
    {"type": "input_json_delta", "partial_json": '{"input": "x'},
    {"type": "input_json_delta", "partial_json": '"}'},
    {"type": "thinking_delta", "thinking": "hm"},
    {"type": "signature_delta", "signature": "sig"},
    {"type": "citations_delta", "citation": {}},
    {"type": "mystery_delta"},
]


@st.composite
def upstream_event(draw: st.DrawFn) -> bytes:
    name = draw(st.sampled_from(EVENT_NAMES))
    index = draw(st.integers(0, 3))
    data: Any
    if name == "message_start":
        data = {"type": name, "message": {"id": "msg_1", "usage": {"input_tokens": 5}}}
    elif name == "content_block_start":
        data = {"type": name, "index": index, "content_block": draw(st.sampled_from(BLOCKS))}
    elif name == "content_block_delta":
        data = {"type": name, "index": index, "delta": draw(st.sampled_from(DELTAS))}
    elif name == "content_block_stop":
        data = {"type": name, "index": index}
    elif name == "message_delta":
        reason = draw(st.sampled_from(["end_turn", "max_tokens", "tool_use", "refusal", None]))
        data = {"type": name, "delta": {"stop_reason": reason}, "usage": {"output_tokens": 3}}
    elif name == "error":
        data = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    else:
        data = {"type": name}
    raw = json.dumps(data).encode()
    if draw(st.integers(0, 9)) == 0:
        raw = raw[: draw(st.integers(0, len(raw)))]  # a torn payload
    if draw(st.integers(0, 9)) == 0:
        raw = draw(json_values).__repr__().encode()  # not even JSON
    return b"event: " + name.encode() + b"\ndata: " + raw + b"\n\n"


def new_translator() -> ResponsesStream:
    tools = ToolMap()
    tools.add({"type": "custom", "name": "apply_patch"}, "tools[0]")
    tools.add({"type": "function", "name": "get_weather", "parameters": None}, "tools[1]")
    echo = msgspec.json.decode(b"{}", type=Echo)
    return ResponsesStream(
        ResponseTemplate(model="m", created_at=0, echo=echo),
        tools,
        Envelope("k"),
        "m",
        summaries=True,
    )


@settings(max_examples=400, deadline=None)
@given(events=st.lists(upstream_event(), max_size=30), cut=st.integers(0, 10_000))
def test_malformed_upstream_streams_end_with_one_terminal_event(
    events: list[bytes], cut: int
) -> None:
    COUNTS["cases"] += 1
    stream = b"".join(events)
    cut = cut % (len(stream) + 1)
    decoder = SSEDecoder()
    t = new_translator()
    out = []
    for chunk in (stream[:cut], stream[cut:]):
        for ev in decoder.feed(chunk):
            if t.done:
                break
            out.extend(t.feed(ev))
    if not t.done:
        for ev in decoder.close():
            if not t.done:
                out.extend(t.feed(ev))
        out.extend(t.close())
    types = [json.loads(e.data)["type"] for e in out]
    terminal = [
        x for x in types if x in ("response.completed", "response.incomplete", "response.failed")
    ]
    assert len(terminal) == 1
    assert types[-1] == terminal[0]
    assert types[0] == "response.created"
    seqs = [json.loads(e.data)["sequence_number"] for e in out]
    assert seqs == list(range(len(seqs)))


def test_zz_report_fuzz_counts() -> None:
    """Not a check: prints how many cases ran and how they ended (for the closing notes)."""
    print("fuzz counts:", dict(sorted(COUNTS.items())))
