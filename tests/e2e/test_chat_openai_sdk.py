"""openai-python (AsyncOpenAI) driving claude2chat end to end against the strict fake upstream:
``chat.completions.create`` (JSON and stream), the ``stream()`` helper, a tool loop with the
thinking round trip, ``parse`` with a pydantic model, and errors before and inside the stream."""

from __future__ import annotations

import base64
from typing import Any

import openai
import pytest
from openai import AsyncOpenAI
from pydantic import BaseModel

from llmproxy.envelope import Envelope
from tests.conftest import REASONING_KEY, TEST_KEY, Gateway
from tests.support.fake_anthropic import (
    ErrorReply,
    FakeAnthropic,
    Reply,
    StreamFault,
    redacted_thinking,
    text,
    thinking,
    tool_use,
)

pytestmark = pytest.mark.e2e

MODEL = "claude-sonnet-4-5"
WEATHER: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
            "additionalProperties": False,
        },
        "strict": True,
    },
}
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 16).decode()


def client(gateway: Gateway) -> AsyncOpenAI:
    return AsyncOpenAI(base_url=gateway.base("claude2chat"), api_key=TEST_KEY, max_retries=0)


async def test_json_text_turn(chat_gateway: Gateway, fake: FakeAnthropic) -> None:
    fake.script.append(
        Reply(
            [text("Hello from "), text("the fake.")],
            usage={
                "input_tokens": 12,
                "output_tokens": 7,
                "cache_read_input_tokens": 100,
                "cache_creation_input_tokens": 20,
            },
        )
    )
    async with client(chat_gateway) as c:
        resp = await c.chat.completions.create(
            model=MODEL,
            messages=[
                {"role": "system", "content": "Be brief."},
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "Say hi about this"},
                        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
                    ],
                },
            ],
            temperature=0.5,
            stop=["END"],
            user="user-7",
        )
    assert resp.object == "chat.completion"
    assert resp.model == MODEL
    (choice,) = resp.choices
    assert choice.finish_reason == "stop"
    assert choice.message.role == "assistant"
    assert choice.message.content == "Hello from the fake."
    assert choice.message.tool_calls is None
    assert resp.usage is not None
    assert resp.usage.prompt_tokens == 132
    assert resp.usage.completion_tokens == 7
    assert resp.usage.total_tokens == 139
    assert resp.usage.prompt_tokens_details is not None
    assert resp.usage.prompt_tokens_details.cached_tokens == 100
    sent = fake.requests[0]
    assert sent.headers["x-api-key"] == TEST_KEY
    # the stable prefix is marked for Anthropic's prompt cache (the system prompt, the turn)
    mark = {"type": "ephemeral"}
    assert sent.json["system"] == [{"type": "text", "text": "Be brief.", "cache_control": mark}]
    assert sent.json["messages"][0]["content"][-1]["cache_control"] == mark
    assert sent.json["messages"][0]["content"][1]["type"] == "image"
    assert sent.json["temperature"] == 0.5
    assert sent.json["stop_sequences"] == ["END"]
    assert sent.json["metadata"] == {"user_id": "user-7"}
    assert sent.json["max_tokens"] == 32000
    assert fake.rejections == []


async def test_stream_with_reasoning_and_usage(chat_gateway: Gateway, fake: FakeAnthropic) -> None:
    fake.script.append(Reply([thinking("Thinking about greetings."), text("Hi there, friend!")]))
    roles: list[str | None] = []
    content: list[str] = []
    reasoning: list[str] = []
    finishes: list[str] = []
    usage_chunks = 0
    async with client(chat_gateway) as c:
        stream = await c.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": "Say hi"}],
            reasoning_effort="low",
            stream=True,
            stream_options={"include_usage": True},
        )
        async for chunk in stream:
            if not chunk.choices:
                usage_chunks += 1
                assert chunk.usage is not None
                assert chunk.usage.total_tokens == 19
                assert chunk.usage.completion_tokens_details is not None
                continue
            delta = chunk.choices[0].delta
            roles.append(delta.role)
            if delta.content:
                content.append(delta.content)
            extra = delta.model_extra or {}
            if extra.get("reasoning_content"):
                reasoning.append(extra["reasoning_content"])
            if chunk.choices[0].finish_reason:
                finishes.append(chunk.choices[0].finish_reason)
    assert roles[0] == "assistant"
    assert set(roles[1:]) == {None}
    assert "".join(content) == "Hi there, friend!"
    assert "".join(reasoning) == "Thinking about greetings."
    assert finishes == ["stop"]
    assert usage_chunks == 1
    assert fake.requests[0].json["thinking"] == {"type": "enabled", "budget_tokens": 4096}
    assert fake.requests[0].json["stream"] is True


async def test_tool_loop_with_thinking_round_trip(
    chat_gateway: Gateway, fake: FakeAnthropic
) -> None:
    """The assistant message is sent back as the SDK returned it (``model_dump``): its
    ``thinking_blocks`` restore the exact signed block, so thinking stays on in the loop."""
    plan = "I should call the weather tool."
    fake.script.append(Reply([thinking(plan), tool_use("get_weather", {"city": "Paris"})]))
    fake.script.append(Reply([text("It is sunny in Paris.")]))
    history: list[Any] = [{"role": "user", "content": "Weather in Paris?"}]
    async with client(chat_gateway) as c:
        first = await c.chat.completions.create(
            model=MODEL, messages=history, tools=[WEATHER], reasoning_effort="medium"
        )
        (choice,) = first.choices
        assert choice.finish_reason == "tool_calls"
        (call,) = choice.message.tool_calls or []
        assert call.type == "function"
        assert call.function.name == "get_weather"
        assert call.function.arguments == '{"city": "Paris"}'
        extra = choice.message.model_extra or {}
        assert extra["reasoning_content"] == plan
        assert extra["thinking_blocks"][0]["thinking"] == plan
        history.append(choice.message.model_dump(exclude_none=True))
        history.append({"role": "tool", "tool_call_id": call.id, "content": "sunny"})
        second = await c.chat.completions.create(
            model=MODEL, messages=history, tools=[WEATHER], reasoning_effort="medium"
        )
    assert second.choices[0].message.content == "It is sunny in Paris."
    assert fake.rejections == []
    sent = fake.requests[1].json
    assert sent["thinking"]["type"] == "enabled"
    assistant = sent["messages"][1]
    assert assistant["content"][0] == {
        "type": "thinking",
        "thinking": plan,
        "signature": fake.sign(plan),
    }
    assert assistant["content"][1]["type"] == "tool_use"
    assert sent["messages"][2]["content"][0]["tool_use_id"] == call.id


async def test_streamed_tool_loop_with_the_stream_helper(
    chat_gateway: Gateway, fake: FakeAnthropic
) -> None:
    """``chat.completions.stream()`` accumulates tool calls and the indexed thinking_blocks
    fragments; the accumulated message goes back and restores thinking, redacted included."""
    fake.script.append(
        Reply(
            [
                thinking("Two cities."),
                redacted_thinking("opaque-0"),
                tool_use("get_weather", {"city": "Oslo"}),
                tool_use("get_weather", {"city": "Rome"}),
            ]
        )
    )
    fake.script.append(Reply([text("Oslo rain, Rome sun.")]))
    history: list[Any] = [{"role": "user", "content": "Weather in Oslo and Rome?"}]
    async with client(chat_gateway) as c:
        async with c.chat.completions.stream(
            model=MODEL, messages=history, tools=[WEATHER], reasoning_effort="low"
        ) as stream:
            async for _ in stream:
                pass
            final = await stream.get_final_completion()
        message = final.choices[0].message
        assert final.choices[0].finish_reason == "tool_calls"
        calls = message.tool_calls or []
        assert [c.function.parsed_arguments for c in calls] == [
            {"city": "Oslo"},
            {"city": "Rome"},
        ]
        blocks = (message.model_extra or {})["thinking_blocks"]
        assert [b["type"] for b in blocks] == ["thinking", "redacted_thinking"]
        history.append(message.model_dump(exclude_none=True, exclude={"parsed"}))
        for call, result in zip(calls, ["rain", "sun"], strict=True):
            history.append({"role": "tool", "tool_call_id": call.id, "content": result})
        second = await c.chat.completions.create(
            model=MODEL, messages=history, tools=[WEATHER], reasoning_effort="low"
        )
    assert second.choices[0].message.content == "Oslo rain, Rome sun."
    assert fake.rejections == []
    sent = fake.requests[1].json
    assert sent["thinking"]["type"] == "enabled"
    assert [b["type"] for b in sent["messages"][1]["content"]] == [
        "thinking",
        "redacted_thinking",
        "tool_use",
        "tool_use",
    ]
    assert sent["messages"][1]["content"][1] == {"type": "redacted_thinking", "data": "opaque-0"}


class Weather(BaseModel):
    city: str
    celsius: int


async def test_parse_with_a_pydantic_model(chat_gateway: Gateway, fake: FakeAnthropic) -> None:
    fake.script.append(Reply([text('{"city": "Oslo", "celsius": 7}')]))
    async with client(chat_gateway) as c:
        parsed = await c.chat.completions.parse(
            model=MODEL,
            messages=[{"role": "user", "content": "Weather in Oslo as JSON"}],
            response_format=Weather,
        )
    assert parsed.choices[0].message.parsed == Weather(city="Oslo", celsius=7)
    fmt = fake.requests[0].json["output_config"]["format"]
    assert fmt["type"] == "json_schema"
    assert fmt["schema"]["properties"]["celsius"]["type"] == "integer"
    assert fake.rejections == []


async def test_upstream_429_keeps_status_message_and_retry_after(
    chat_gateway: Gateway, fake: FakeAnthropic
) -> None:
    fake.script.append(
        ErrorReply(
            429,
            "rate_limit_error",
            "Number of requests has exceeded your rate limit",
            headers={"retry-after": "60"},
        )
    )
    async with client(chat_gateway) as c:
        with pytest.raises(openai.RateLimitError) as info:
            await c.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": "hi"}], stream=True
            )
    err = info.value
    assert err.status_code == 429
    assert err.response.headers["retry-after"] == "60"
    assert "exceeded your rate limit" in err.message
    assert err.code == "rate_limit_exceeded"


async def test_refused_field_is_a_400_naming_it(chat_gateway: Gateway, fake: FakeAnthropic) -> None:
    async with client(chat_gateway) as c:
        with pytest.raises(openai.BadRequestError) as info:
            await c.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": "hi"}], n=2
            )
    assert info.value.param == "n"
    assert info.value.code == "unsupported_parameter"
    assert fake.requests == []


async def test_mid_stream_error_raises_never_finishes(
    chat_gateway: Gateway, fake: FakeAnthropic
) -> None:
    fake.script.append(
        StreamFault(Reply([text("partial answer that will break")]), 5, "error_event")
    )
    content: list[str] = []
    finishes: list[str | None] = []
    async with client(chat_gateway) as c:
        stream = await c.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "hi"}], stream=True
        )

        async def consume() -> None:
            async for chunk in stream:
                content.append(chunk.choices[0].delta.content or "")
                finishes.append(chunk.choices[0].finish_reason)

        with pytest.raises(openai.APIError) as info:
            await consume()
    assert "".join(content).startswith("partial")
    assert finishes == [None] * len(finishes)
    assert "Overloaded" in info.value.message
    assert info.value.code == "server_is_overloaded"


async def test_error_before_the_first_chunk_is_an_http_error(
    chat_gateway: Gateway, fake: FakeAnthropic
) -> None:
    """An upstream that fails before anything was translated: a proper status, not a stream."""
    fake.script.append(StreamFault(Reply([text("never")]), 0, "error_event"))
    async with client(chat_gateway) as c:
        with pytest.raises(openai.InternalServerError) as info:
            await c.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": "hi"}], stream=True
            )
    assert info.value.status_code == 503
    assert info.value.code == "server_is_overloaded"


async def test_non_streaming_mid_stream_failure_is_an_http_error(
    chat_gateway: Gateway, fake: FakeAnthropic
) -> None:
    fake.script.append(StreamFault(Reply([text("partial")]), 4, "eof"))
    async with client(chat_gateway) as c:
        with pytest.raises(openai.APIStatusError) as info:
            await c.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": "hi"}]
            )
    assert info.value.status_code == 502


async def test_max_tokens_and_refusal_finish_reasons(
    chat_gateway: Gateway, fake: FakeAnthropic
) -> None:
    fake.script.append(Reply([text("cut sh")], stop_reason="max_tokens"))
    fake.script.append(
        Reply(
            [text("I started to")],
            stop_reason="refusal",
            stop_details={"type": "refusal", "category": "cyber", "explanation": "I can't help."},
        )
    )
    async with client(chat_gateway) as c:
        cut = await c.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "essay"}], max_completion_tokens=5
        )
        refusal = await c.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "hack it"}]
        )
    assert cut.choices[0].finish_reason == "length"
    assert cut.choices[0].message.content == "cut sh"
    assert fake.requests[0].json["max_tokens"] == 5
    assert refusal.choices[0].finish_reason == "content_filter"
    assert refusal.choices[0].message.refusal == "I can't help."


async def test_models_list(chat_gateway: Gateway) -> None:
    async with client(chat_gateway) as c:
        models = await c.models.list()
    ids = [m.id for m in models.data]
    assert "claude-sonnet-4-5" in ids
    assert all(m.object == "model" for m in models.data)


async def test_refused_thinking_signature_is_retried_without_thinking(
    chat_gateway: Gateway, fake: FakeAnthropic
) -> None:
    """A sealed block whose signature the upstream no longer accepts (the conversation moved to
    another provider under the same model name): one retry without replayed thinking."""
    foreign = {"type": "thinking", "thinking": "plan", "signature": "signed-elsewhere"}
    token = Envelope(REASONING_KEY).seal(MODEL, [foreign])
    fake.script.append(Reply([text("Rain in Oslo.")]))
    call = {"name": "get_weather", "arguments": '{"city":"Oslo"}'}
    history: list[Any] = [
        {"role": "user", "content": "Weather in Oslo?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "call_1", "type": "function", "function": call}],
            "thinking_blocks": [{"type": "thinking", "thinking": "plan", "signature": token}],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "rain"},
    ]
    async with client(chat_gateway) as c:
        resp = await c.chat.completions.create(
            model=MODEL,
            messages=history,
            tools=[WEATHER],
            reasoning_effort="low",
        )
    assert resp.choices[0].message.content == "Rain in Oslo."
    assert len(fake.rejections) == 1
    assert "signature" in fake.rejections[0]
    first, second = fake.requests[0].json, fake.requests[1].json
    assert first["messages"][1]["content"][0] == foreign
    assert "thinking" not in second
    assert [b["type"] for b in second["messages"][1]["content"]] == ["tool_use"]
