"""claude2chat under bad input: never a 5xx, a traceback or a mistranslation.

* Request bodies: realistic Chat Completions requests (text, images, a tool loop with thinking
  blocks, structured output) mutated by hypothesis, and arbitrary JSON, sent through the whole
  application to the strict fake upstream: 2xx or 4xx in OpenAI's error shape, and never a
  request the upstream rejects.
* Upstream streams: arbitrary and mutated Anthropic event sequences (the generator of
  ``test_fuzz``) through the SSE decoder and ``ChatStream``: every chunk is one openai-python
  parses, and the stream ends exactly once: ``finish_reason`` chunk then ``[DONE]``, or the
  error object, or (nothing sent yet) nothing at all with the error kept for an HTTP reply.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openai.types.chat import ChatCompletionChunk

from llmproxy.app import make_app
from llmproxy.envelope import Envelope
from llmproxy.sse import SSEDecoder
from routes.claude2chat import Claude2Chat
from routes.claude2chat.stream import ChatStream
from routes.claude2chat.tools import ChatTools
from tests.conftest import REASONING_KEY, TEST_KEY, make_settings
from tests.fuzz.test_fuzz import _paths, json_values, upstream_event
from tests.support.fake_anthropic import FakeAnthropic

MODEL = "claude-sonnet-4-5"
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        "strict": True,
    },
}
PNG = "iVBORw0KGgoAAAAAAAAAAAAAAAAAAAAAAAA"
#: Replaced, per request, by a thinking block the fake signed, sealed by the gateway's key.
SEALED = "__SEALED__"
SEEDS: list[Any] = [
    {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "stream": True},
    {
        "model": MODEL,
        "messages": [
            {"role": "system", "content": "Be brief."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "what is this"},
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
                ],
            },
        ],
        "max_completion_tokens": 100,
        "temperature": 0.3,
        "stop": ["END"],
    },
    {
        "model": MODEL,
        "messages": [
            {"role": "user", "content": "Weather in Oslo?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'},
                    }
                ],
                "thinking_blocks": [
                    {
                        "type": "thinking",
                        "thinking": "x",
                        "signature": SEALED,
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "rain"},
        ],
        "tools": [WEATHER],
        "tool_choice": "auto",
        "parallel_tool_calls": False,
        "reasoning_effort": "low",
        "stream_options": {"include_usage": True},
    },
    {
        "model": MODEL,
        "messages": [{"role": "user", "content": "json please"}],
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "x", "schema": {"type": "object"}, "strict": True},
        },
        "user": "u",
    },
]


@st.composite
def mutated_seed(draw: st.DrawFn) -> Any:
    body = json.loads(json.dumps(draw(st.sampled_from(SEEDS))))
    for _ in range(draw(st.integers(1, 4))):
        path = draw(st.sampled_from(_paths(body)))
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
            del parent[last]
        elif isinstance(parent, list):
            parent.insert(last, json.loads(json.dumps(parent[last])))
    return body


bodies = st.one_of(mutated_seed(), json_values, st.dictionaries(st.text(max_size=10), json_values))


@pytest.fixture
async def client(fake: FakeAnthropic) -> AsyncIterator[TestClient[Any, Any]]:
    s = make_settings(fake.base_url)
    app = make_app(s, routes=[Claude2Chat(s)])
    async with TestClient(TestServer(app)) as c:
        yield c


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(body=bodies)
async def test_mutated_chat_requests_never_5xx(
    client: TestClient[Any, Any], fake: FakeAnthropic, body: Any
) -> None:
    path = f"/claude2chat/{fake.base_url}/v1/chat/completions"
    before = len(fake.rejections)
    block = {"type": "thinking", "thinking": "x", "signature": fake.sign("x")}
    sealed = Envelope(REASONING_KEY).seal(MODEL, [block])
    data = json.dumps(body).replace(json.dumps(SEALED), json.dumps(sealed))
    headers = {"Authorization": f"Bearer {TEST_KEY}", "Content-Type": "application/json"}
    resp = await client.post(path, data=data, headers=headers)
    raw = await resp.read()
    assert resp.status < 500, raw[:500]
    assert b"Traceback" not in raw
    if resp.status >= 400:
        err = json.loads(raw)["error"]
        assert isinstance(err["message"], str)
        assert err["message"]
    # The gateway never hands the upstream a request the upstream rejects.
    assert fake.rejections[before:] == [], fake.rejections[before:]


def new_translator() -> ChatStream:
    tools = ChatTools()
    tools.add(WEATHER, "tools[0]")
    return ChatStream(
        model="m",
        created=0,
        tools=tools,
        envelope=Envelope("k"),
        upstream_model="m",
        include_usage=True,
    )


@settings(max_examples=400, deadline=None)
@given(events=st.lists(upstream_event(), max_size=30), cut=st.integers(0, 10_000))
def test_malformed_upstream_streams_end_exactly_once(events: list[bytes], cut: int) -> None:
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
    assert t.done
    if not out:
        assert t.error is not None  # nothing was sent: the core answers an HTTP error
        return
    datas = [e.data for e in out]
    objects = [json.loads(d) for d in datas if d != b"[DONE]"]
    chunks = [ChatCompletionChunk.model_validate(o) for o in objects if "error" not in o]
    assert chunks[0].choices[0].delta.role == "assistant"
    finishes = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    if datas[-1] == b"[DONE]":
        assert t.error is None
        assert datas.count(b"[DONE]") == 1
        assert len(finishes) == 1
        assert not any("error" in o for o in objects)
        assert not chunks[-1].choices  # the usage chunk, asked for, comes last
    else:
        assert t.error is not None
        assert set(objects[-1]) == {"error"}
        assert objects[-1]["error"]["message"]
        assert b"[DONE]" not in datas
        assert finishes == []
        assert sum("error" in o for o in objects) == 1
