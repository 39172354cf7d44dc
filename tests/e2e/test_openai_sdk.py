"""openai-python (AsyncOpenAI) driving the gateway end to end against the strict fake upstream:
JSON, ``responses.stream``, a tool loop with the reasoning round trip, and errors."""

from __future__ import annotations

from typing import Any

import openai
import pytest
from openai import AsyncOpenAI

from tests.conftest import TEST_KEY, Gateway
from tests.support.fake_anthropic import (
    ErrorReply,
    FakeAnthropic,
    Reply,
    StreamFault,
    text,
    thinking,
    tool_use,
)

pytestmark = pytest.mark.e2e

WEATHER_TOOL: Any = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather for a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
        "additionalProperties": False,
    },
    "strict": True,
}


PARIS: Any = [{"role": "user", "content": "Weather in Paris?"}]


def oslo_history(items: list[Any], call_id: str) -> Any:
    return [
        {"role": "user", "content": "Weather in Oslo?"},
        *items,
        {"type": "function_call_output", "call_id": call_id, "output": "rain"},
    ]


def client(gateway: Gateway) -> AsyncOpenAI:
    return AsyncOpenAI(base_url=gateway.base(), api_key=TEST_KEY, max_retries=0)


async def test_json_text_turn(gateway: Gateway, fake: FakeAnthropic) -> None:
    fake.script.append(Reply([text("Hello from "), text("the fake.")]))
    async with client(gateway) as c:
        resp = await c.responses.create(
            model="claude-sonnet-4-5", instructions="Be brief.", input="Say hi"
        )
    assert resp.status == "completed"
    assert resp.output_text == "Hello from the fake."
    assert resp.model == "claude-sonnet-4-5"
    assert resp.usage is not None
    assert resp.usage.input_tokens == 12
    assert resp.usage.output_tokens == 7
    assert resp.usage.total_tokens == 19
    sent = fake.requests[0]
    assert sent.headers["x-api-key"] == TEST_KEY
    assert sent.headers["anthropic-version"] == "2023-06-01"
    # Prompt caching is on by default: the system prompt and the conversation so far are
    # marked as cache breakpoints.
    mark = {"type": "ephemeral"}
    assert sent.json["system"] == [{"type": "text", "text": "Be brief.", "cache_control": mark}]
    assert sent.json["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "Say hi", "cache_control": mark}]}
    ]
    assert fake.rejections == []


async def test_stream_helper_gets_final_response(gateway: Gateway, fake: FakeAnthropic) -> None:
    fake.script.append(Reply([thinking("Thinking about greetings."), text("Hi there, friend!")]))
    types: list[str] = []
    async with (
        client(gateway) as c,
        c.responses.stream(
            model="claude-sonnet-4-5",
            input="Say hi",
            reasoning={"effort": "low", "summary": "auto"},
        ) as stream,
    ):
        async for event in stream:
            types.append(event.type)
        final = await stream.get_final_response()
    assert final.output_text == "Hi there, friend!"
    assert types[0] == "response.created"
    assert types[-1] == "response.completed"
    assert "response.reasoning_summary_text.delta" in types
    reasoning = [item for item in final.output if item.type == "reasoning"]
    assert len(reasoning) == 1
    assert reasoning[0].summary[0].text == "Thinking about greetings."
    assert reasoning[0].encrypted_content
    assert fake.requests[0].json["thinking"] == {"type": "enabled", "budget_tokens": 4096}


async def test_tool_loop_with_reasoning_round_trip(gateway: Gateway, fake: FakeAnthropic) -> None:
    fake.script.append(
        Reply(
            [
                thinking("I should call the weather tool."),
                tool_use("get_weather", {"city": "Paris"}),
            ]
        )
    )
    fake.script.append(Reply([text("It is sunny in Paris.")]))
    async with client(gateway) as c:
        first = await c.responses.create(
            model="claude-sonnet-4-5",
            input=PARIS,
            tools=[WEATHER_TOOL],
            reasoning={"effort": "medium"},
            include=["reasoning.encrypted_content"],
        )
        calls = [item for item in first.output if item.type == "function_call"]
        assert len(calls) == 1
        call = calls[0]
        assert call.name == "get_weather"
        assert call.arguments == '{"city": "Paris"}'
        history: Any = [{"role": "user", "content": "Weather in Paris?"}]
        history += [item.model_dump(exclude_none=True) for item in first.output]
        history.append({"type": "function_call_output", "call_id": call.call_id, "output": "sunny"})
        second = await c.responses.create(
            model="claude-sonnet-4-5",
            input=history,
            tools=[WEATHER_TOOL],
            reasoning={"effort": "medium"},
        )
    assert second.output_text == "It is sunny in Paris."
    assert fake.rejections == []
    sent = fake.requests[1].json
    # Thinking stayed on because the exact signed thinking block was restored from the envelope.
    assert sent["thinking"]["type"] == "enabled"
    assistant = sent["messages"][1]
    assert assistant["role"] == "assistant"
    assert assistant["content"][0] == {
        "type": "thinking",
        "thinking": "I should call the weather tool.",
        "signature": fake.sign("I should call the weather tool."),
    }
    assert assistant["content"][1]["type"] == "tool_use"
    assert sent["messages"][2]["content"][0]["tool_use_id"] == call.call_id


async def test_tampered_reasoning_turns_thinking_off(gateway: Gateway, fake: FakeAnthropic) -> None:
    fake.script.append(Reply([thinking("plan"), tool_use("get_weather", {"city": "Oslo"})]))
    async with client(gateway) as c:
        first = await c.responses.create(
            model="claude-sonnet-4-5",
            input="Weather in Oslo?",
            tools=[WEATHER_TOOL],
            reasoning={"effort": "low"},
        )
        items = [item.model_dump(exclude_none=True) for item in first.output]
        blob = items[0]["encrypted_content"]
        items[0]["encrypted_content"] = blob[:-4] + (
            "AAAA" if not blob.endswith("AAAA") else "BBBB"
        )
        call_id = items[1]["call_id"]
        second = await c.responses.create(
            model="claude-sonnet-4-5",
            input=oslo_history(items, call_id),
            tools=[WEATHER_TOOL],
            reasoning={"effort": "low"},
        )
    assert second.status == "completed"
    sent = fake.requests[1].json
    assert "thinking" not in sent
    assert all(block["type"] != "thinking" for m in sent["messages"] for block in m["content"])
    assert fake.rejections == []


async def test_upstream_429_keeps_status_message_and_retry_after(
    gateway: Gateway, fake: FakeAnthropic
) -> None:
    fake.script.append(
        ErrorReply(
            429,
            "rate_limit_error",
            "Number of requests has exceeded your rate limit",
            headers={"retry-after": "60"},
        )
    )
    async with client(gateway) as c:
        with pytest.raises(openai.RateLimitError) as info:
            await c.responses.create(model="claude-sonnet-4-5", input="hi")
    err = info.value
    assert err.status_code == 429
    assert err.response.headers["retry-after"] == "60"
    assert "exceeded your rate limit" in err.message
    assert err.code == "rate_limit_exceeded"


async def test_mid_stream_error_is_failed_never_completed(
    gateway: Gateway, fake: FakeAnthropic
) -> None:
    fake.script.append(
        StreamFault(Reply([text("partial answer that will break")]), 5, "error_event")
    )
    types: list[str] = []
    async with client(gateway) as c:
        stream = await c.responses.create(model="claude-sonnet-4-5", input="hi", stream=True)
        async for event in stream:
            types.append(event.type)
            if event.type == "response.failed":
                assert event.response.error is not None
                assert event.response.error.code == "server_error"
    assert types[-1] == "response.failed"
    assert "response.completed" not in types


async def test_non_streaming_mid_stream_failure_is_an_http_error(
    gateway: Gateway, fake: FakeAnthropic
) -> None:
    fake.script.append(StreamFault(Reply([text("partial")]), 4, "eof"))
    async with client(gateway) as c:
        with pytest.raises(openai.APIStatusError) as info:
            await c.responses.create(model="claude-sonnet-4-5", input="hi")
    assert info.value.status_code == 502


async def test_models_list(gateway: Gateway) -> None:
    async with client(gateway) as c:
        models = await c.models.list()
    ids = [m.id for m in models.data]
    assert "claude-sonnet-4-5" in ids


async def test_refusal_is_shown_as_text(gateway: Gateway, fake: FakeAnthropic) -> None:
    fake.script.append(
        Reply(
            [text("I started to")],
            stop_reason="refusal",
            stop_details={"type": "refusal", "category": "cyber", "explanation": "I can't help."},
        )
    )
    async with client(gateway) as c:
        resp = await c.responses.create(model="claude-sonnet-4-5", input="hack it")
    assert resp.status == "completed"
    assert resp.output_text.endswith("I can't help.")
    assert all(
        part.type == "output_text" for m in resp.output if m.type == "message" for part in m.content
    )


async def test_max_tokens_is_incomplete(gateway: Gateway, fake: FakeAnthropic) -> None:
    fake.script.append(Reply([text("cut sh")], stop_reason="max_tokens"))
    async with client(gateway) as c:
        resp = await c.responses.create(model="claude-sonnet-4-5", input="long essay")
    assert resp.status == "incomplete"
    assert resp.incomplete_details is not None
    assert resp.incomplete_details.reason == "max_output_tokens"
    assert resp.output[0].status == "incomplete"  # type: ignore[union-attr]
