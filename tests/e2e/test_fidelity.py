"""Full fidelity end to end: real clients (openai-python, the Agents SDK, raw HTTP) through the
gateway to the strict fake upstream. Each test pins the exact upstream request(s) the fake
recorded and what the client got: web search with citations, a paused turn continued into one
response, keep-alives during long thinking, the retry without a refused thinking signature,
dropped-tool metrics, ``/responses/compact`` and the Agents SDK's structured ``output_type``."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from agents import Agent, OpenAIResponsesModel, Runner, set_tracing_disabled
from openai import AsyncOpenAI
from pydantic import BaseModel

from llmproxy.envelope import Envelope
from routes.claude2codex.route import COMPACT_PROMPT, SUMMARY_PREFIX
from tests.conftest import REASONING_KEY, TEST_KEY, Gateway, make_settings, start_gateway
from tests.support.fake_anthropic import (
    ErrorReply,
    FakeAnthropic,
    Reply,
    server_tool_use,
    text,
    thinking,
    tool_use,
    web_citation,
    web_search_result,
)
from tests.support.lifecycle import check_responses_sse

pytestmark = pytest.mark.e2e
set_tracing_disabled(True)

HEADERS = {"Authorization": f"Bearer {TEST_KEY}"}
MODEL = "claude-sonnet-4-5"
URL = "https://docs.python.org/3/whatsnew/3.13.html"
TITLE = "What's New In Python 3.13"
FN_TOOL: Any = {
    "type": "function",
    "name": "get_weather",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
        "additionalProperties": False,
    },
}


async def post_raw(url: str, body: Any) -> tuple[int, bytes]:
    async with aiohttp.ClientSession() as s, s.post(url, json=body, headers=HEADERS) as r:
        return r.status, await r.read()


@pytest.fixture
async def client(gateway: Gateway) -> AsyncIterator[AsyncOpenAI]:
    async with AsyncOpenAI(base_url=gateway.base(), api_key=TEST_KEY, max_retries=0) as c:
        yield c


def search_turn() -> Reply:
    return Reply(
        [
            server_tool_use("python 3.13 new features", id="srvtoolu_e2e"),
            web_search_result("srvtoolu_e2e", [(URL, TITLE)]),
            text("It adds a new REPL.", citations=[web_citation(URL, TITLE, "A new REPL")]),
        ]
    )


WEB_SEARCH_TOOL: Any = {
    "type": "web_search",
    "filters": {"allowed_domains": ["docs.python.org"]},
    "user_location": {"type": "approximate", "country": "US", "timezone": "America/New_York"},
}


async def test_web_search_with_citations_streamed(client: AsyncOpenAI, fake: FakeAnthropic) -> None:
    fake.script.append(search_turn())
    types: list[str] = []
    async with client.responses.stream(
        model=MODEL, input="What is new in Python 3.13?", tools=[WEB_SEARCH_TOOL]
    ) as stream:
        async for event in stream:
            types.append(event.type)
        final = await stream.get_final_response()
    assert fake.rejections == []
    sent = fake.requests[0].json
    assert sent["tools"] == [
        {
            "type": "web_search_20250305",
            "name": "web_search",
            "allowed_domains": ["docs.python.org"],
            "user_location": {
                "type": "approximate",
                "country": "US",
                "timezone": "America/New_York",
            },
            "cache_control": {"type": "ephemeral"},  # the last tool is a cache breakpoint
        }
    ]
    search, message = final.output
    assert search.type == "web_search_call"
    assert search.status == "completed"
    assert search.action.type == "search"
    assert search.action.query == "python 3.13 new features"
    assert message.type == "message"
    part = message.content[0]
    assert part.type == "output_text"
    assert part.text == "It adds a new REPL."
    assert [a.model_dump() for a in part.annotations] == [
        {
            "type": "url_citation",
            "url": URL,
            "title": TITLE,
            "start_index": 0,
            "end_index": len("It adds a new REPL."),
        }
    ]
    for name in ("in_progress", "searching", "completed"):
        assert f"response.web_search_call.{name}" in types
    assert "response.output_text.annotation.added" in types


async def test_web_search_json(client: AsyncOpenAI, fake: FakeAnthropic) -> None:
    fake.script.append(search_turn())
    resp = await client.responses.create(
        model=MODEL,
        input="What is new in Python 3.13?",
        tools=[{"type": "web_search"}],
        include=["web_search_call.action.sources"],
    )
    assert resp.output[0].type == "web_search_call"
    assert resp.output[0].action.model_dump(exclude_none=True) == {
        "type": "search",
        "query": "python 3.13 new features",
        "sources": [{"type": "url", "url": URL}],
    }
    assert resp.output_text == "It adds a new REPL."
    assert fake.requests[0].json["tools"][0]["type"] == "web_search_20250305"


# -- pause_turn ----------------------------------------------------------------------------------


def paused_then_done() -> list[Reply]:
    return [
        Reply(
            [thinking("Searching first."), server_tool_use("q", id="srvtoolu_pause")],
            stop_reason="pause_turn",
            usage={"input_tokens": 40, "output_tokens": 5},
        ),
        Reply(
            [web_search_result("srvtoolu_pause", [(URL, TITLE)]), text("Found it.")],
            usage={"input_tokens": 60, "output_tokens": 7},
        ),
    ]


async def test_pause_turn_is_continued_into_one_stream(
    gateway: Gateway, fake: FakeAnthropic
) -> None:
    fake.script.extend(paused_then_done())
    body = {
        "model": MODEL,
        "input": "search",
        "tools": [{"type": "web_search"}],
        "reasoning": {"effort": "low"},
        "stream": True,
    }
    status, raw = await post_raw(gateway.base() + "/responses", body)
    assert status == 200
    events = check_responses_sse(raw)
    assert fake.rejections == []
    assert len(fake.requests) == 2
    first, second = fake.requests[0].json, fake.requests[1].json
    assert second["messages"][:-1] == first["messages"]
    appended = second["messages"][-1]
    assert appended["role"] == "assistant"
    assert appended["content"] == [
        {
            "type": "thinking",
            "thinking": "Searching first.",
            "signature": fake.sign("Searching first."),
        },
        {
            "type": "server_tool_use",
            "id": "srvtoolu_pause",
            "name": "web_search",
            "input": {"query": "q"},
        },
    ]
    assert [e["type"] for e in events].count("response.created") == 1
    final = events[-1]["response"]
    assert final["status"] == "completed"
    assert [o["type"] for o in final["output"]] == ["reasoning", "web_search_call", "message"]
    assert final["usage"]["input_tokens"] == 100
    assert final["usage"]["output_tokens"] == 12


async def test_pause_turn_json_client(client: AsyncOpenAI, fake: FakeAnthropic) -> None:
    fake.script.extend(paused_then_done())
    resp = await client.responses.create(
        model=MODEL, input="search", tools=[{"type": "web_search"}], reasoning={"effort": "low"}
    )
    assert resp.status == "completed"
    assert resp.output_text == "Found it."
    assert len(fake.requests) == 2


async def test_continuations_are_bounded(fake: FakeAnthropic) -> None:
    for i in range(4):
        fake.script.append(Reply([text(f"part {i}. ")], stop_reason="pause_turn"))
    gw, server = await start_gateway(
        make_settings(fake.base_url, max_continuations=2), fake.base_url
    )
    try:
        body = {"model": MODEL, "input": "go", "stream": True}
        status, raw = await post_raw(gw.base() + "/responses", body)
    finally:
        await server.close()
    assert status == 200
    events = check_responses_sse(raw)
    assert len(fake.requests) == 3  # the first turn and two continuations
    assert events[-1]["type"] == "response.completed"
    texts = [o["content"][0]["text"] for o in events[-1]["response"]["output"]]
    assert texts == ["part 0. ", "part 1. ", "part 2. "]  # the client sees them unchanged
    # Upstream, the assistant's content so far is replayed without the trailing whitespace
    # Anthropic refuses at the end of an assistant turn.
    assert fake.rejections == []
    assert fake.requests[2].json["messages"][-1] == {
        "role": "assistant",
        "content": [{"type": "text", "text": "part 0. "}, {"type": "text", "text": "part 1."}],
    }


async def test_a_refused_continuation_fails_the_stream(
    gateway: Gateway, fake: FakeAnthropic
) -> None:
    fake.script.append(Reply([text("half")], stop_reason="pause_turn"))
    fake.script.append(ErrorReply(500, "api_error", "Internal server error"))
    status, raw = await post_raw(
        gateway.base() + "/responses", {"model": MODEL, "input": "go", "stream": True}
    )
    assert status == 200
    events = check_responses_sse(raw)
    assert events[-1]["type"] == "response.failed"
    assert events[-1]["response"]["error"]["code"] == "server_error"


# -- long silences -------------------------------------------------------------------------------


async def test_keepalives_during_long_thinking(fake: FakeAnthropic) -> None:
    """While the upstream thinks in silence, real Responses events keep coming (Codex's idle
    timer resets only on parsed events); the stream stays valid around them."""
    # Events: message_start, ping, thinking start, thinking delta... : silence in the middle of
    # the reasoning item, and before anything at all.
    fake.script.append(Reply([thinking("Deep thought."), text("42")], delays={0: 0.3, 3: 0.5}))
    gw, server = await start_gateway(
        make_settings(fake.base_url, heartbeat_interval=0.05), fake.base_url
    )
    try:
        body = {"model": MODEL, "input": "?", "reasoning": {"effort": "low"}, "stream": True}
        status, raw = await post_raw(gw.base() + "/responses", body)
    finally:
        await server.close()
    assert status == 200
    events = check_responses_sse(raw)
    types = [e["type"] for e in events]
    assert types[:2] == ["response.created", "response.in_progress"]
    keepalives = types.count("response.in_progress") - 1
    assert keepalives >= 8, types
    # Some came while the reasoning item was open.
    opened = types.index("response.output_item.added")
    closed = types.index("response.output_item.done")
    assert "response.in_progress" in types[opened:closed]
    assert types[-1] == "response.completed"


# -- a refused thinking signature ----------------------------------------------------------------


def foreign_reasoning() -> Any:
    """A reasoning item the gateway sealed, whose signature the upstream does not accept (the
    conversation came from another deployment of the same model name)."""
    blob = Envelope(REASONING_KEY).seal(
        MODEL,
        [{"type": "thinking", "thinking": "old plan", "signature": "c2lnLWZyb20tZWxzZXdoZXJl"}],
    )
    return {"type": "reasoning", "summary": [], "encrypted_content": blob}


async def test_a_refused_signature_is_retried_once_without_thinking(
    client: AsyncOpenAI, fake: FakeAnthropic
) -> None:
    fake.script.append(Reply([text("Carrying on.")]))
    resp = await client.responses.create(
        model=MODEL,
        input=[
            {"role": "user", "content": "weather?"},
            foreign_reasoning(),
            {"type": "function_call", "call_id": "c1", "name": "get_weather", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": "rain"},
        ],
        tools=[FN_TOOL],
        reasoning={"effort": "low"},
    )
    assert resp.output_text == "Carrying on."
    assert len(fake.requests) == 2
    assert "Invalid `signature`" in fake.rejections[0]
    refused, retried = fake.requests[0].json, fake.requests[1].json
    assert refused["messages"][1]["content"][0]["type"] == "thinking"
    assert "thinking" in refused
    assert [b["type"] for b in retried["messages"][1]["content"]] == ["tool_use"]
    assert "thinking" not in retried  # the tool loop has no thinking block any more
    assert len(fake.rejections) == 1


async def test_a_signature_retry_happens_only_once(gateway: Gateway, fake: FakeAnthropic) -> None:
    msg = "messages.1.content.0: Invalid `signature` in `thinking` block"
    fake.script.append(ErrorReply(400, "invalid_request_error", msg))  # not consumed: validation
    body = {
        "model": MODEL,
        "input": [
            {"role": "user", "content": "hi"},
            foreign_reasoning(),
            {"role": "user", "content": "again"},
        ],
        "reasoning": {"effort": "low"},
    }
    status, raw = await post_raw(gateway.base() + "/responses", body)
    # The first request is refused by validation (bad signature); the retry carries no
    # thinking, so the scripted 400 answers it and reaches the client: no third request.
    assert status == 400
    assert len(fake.requests) == 2
    assert "signature" in json.loads(raw)["error"]["message"]


# -- dropped tools are counted -------------------------------------------------------------------


async def test_dropped_tools_are_counted(gateway: Gateway, fake: FakeAnthropic) -> None:
    body = {
        "model": MODEL,
        "input": "hi",
        "tools": [
            FN_TOOL,
            {"type": "image_generation"},
            {"type": "file_search", "vector_store_ids": ["vs_1"]},
            {"type": "web_search", "external_web_access": False},
        ],
    }
    for _ in range(2):
        status, _ = await post_raw(gateway.base() + "/responses", body)
        assert status == 200
    async with aiohttp.ClientSession() as s, s.get(gateway.url + "/metrics") as r:
        metrics = await r.text()
    for tool in ("image_generation", "file_search", "web_search"):
        line = f'llmproxy_dropped_tools_total{{route="claude2codex",tool="{tool}"}} 2.0'
        assert line in metrics
    assert [t["name"] for t in fake.requests[0].json["tools"]] == ["get_weather"]


# -- /responses/compact --------------------------------------------------------------------------


async def test_responses_compact(gateway: Gateway, fake: FakeAnthropic) -> None:
    fake.script.append(Reply([text("Goal: fix the bug. Done: found it in a.py. Next: patch.")]))
    body = {
        "model": "gpt-5.5",
        "instructions": "You are Codex.",
        "input": [
            {
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "fix the bug"}],
            },
            {"type": "function_call", "call_id": "c1", "name": "get_weather", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": "a.py:3"},
            {
                "type": "message",
                "role": "assistant",
                "content": [{"type": "output_text", "text": "Found it."}],
            },
            {
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "go on"}],
            },
        ],
        "tools": [FN_TOOL],
        "parallel_tool_calls": False,
    }
    status, raw = await post_raw(gateway.base() + "/responses/compact", body)
    assert status == 200, raw
    reply = json.loads(raw)
    assert reply["object"] == "response.compaction"
    assert reply["id"].startswith("resp_")
    assert reply["output"] == [
        {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": "fix the bug"}],
        },
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "go on"}]},
        {
            "type": "message",
            "role": "user",
            "content": [
                {
                    "type": "input_text",
                    "text": f"{SUMMARY_PREFIX}\n\nGoal: fix the bug. Done: found it in a.py. "
                    "Next: patch.",
                }
            ],
        },
    ]
    assert reply["usage"]["input_tokens"] == 12
    sent = fake.requests[0].json
    assert fake.rejections == []
    assert sent["messages"][-1]["content"][-1]["text"] == COMPACT_PROMPT
    assert sent["tool_choice"] == {"type": "none"}
    assert sent["stream"] is True


async def test_responses_compact_without_summary_is_an_error(
    gateway: Gateway, fake: FakeAnthropic
) -> None:
    fake.script.append(Reply([tool_use("get_weather", {"city": "x"})]))
    body = {"model": "m", "input": "hi", "tools": [FN_TOOL]}
    status, raw = await post_raw(gateway.base() + "/responses/compact", body)
    assert status == 502
    assert "summary" in json.loads(raw)["error"]["message"]


# -- the Agents SDK's structured output ----------------------------------------------------------


class Forecast(BaseModel):
    city: str
    temperature_c: float
    conditions: list[str]


async def test_agents_sdk_output_type(client: AsyncOpenAI, fake: FakeAnthropic) -> None:
    fake.script.append(
        Reply([text('{"city": "Paris", "temperature_c": 21.5, "conditions": ["sunny", "dry"]}')])
    )
    agent: Agent[Any] = Agent(
        name="forecaster",
        instructions="Answer with the forecast.",
        output_type=Forecast,
        model=OpenAIResponsesModel(model=MODEL, openai_client=client),
    )
    result = await Runner.run(agent, "Forecast for Paris?")
    assert result.final_output == Forecast(
        city="Paris", temperature_c=21.5, conditions=["sunny", "dry"]
    )
    assert fake.rejections == []
    fmt = fake.requests[0].json["output_config"]["format"]
    assert fmt["type"] == "json_schema"
    schema = fmt["schema"]
    assert schema["type"] == "object"
    assert schema["additionalProperties"] is False
    assert schema["required"] == ["city", "temperature_c", "conditions"]
    assert schema["properties"]["conditions"]["items"] == {"type": "string"}
