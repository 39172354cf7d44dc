"""The Anthropic Python SDK (AsyncAnthropic) driving codex2claude end to end against the strict
fake OpenAI Responses upstream: ``messages.create``, ``messages.stream`` through a tool loop whose
reasoning round-trips in thinking signatures, images, count_tokens, the model list, and errors
before and inside the stream."""

from __future__ import annotations

from typing import Any

import anthropic
import pytest
from anthropic import AsyncAnthropic

from tests.conftest import TEST_KEY, Gateway
from tests.support.fake_responses import (
    FakeResponsesServer,
    RecordedRequest,
    ScriptedReply,
    function_call,
    reasoning,
    reply,
    text_message,
)

pytestmark = pytest.mark.e2e

MODEL = "gpt-5.5"
WEATHER: Any = {
    "name": "get_weather",
    "description": "Weather for a city.",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


def client(gateway: Gateway) -> AsyncAnthropic:
    return AsyncAnthropic(base_url=gateway.base("codex2claude"), api_key=TEST_KEY, max_retries=0)


async def test_create_text_turn_with_thinking(
    codex2claude_gateway: Gateway, responses_fake: FakeResponsesServer
) -> None:
    responses_fake.enqueue(
        reply(reasoning("A greeting will do.", encrypted_content="enc-hi"), text_message("Hello!"))
    )
    async with client(codex2claude_gateway) as c:
        message = await c.messages.create(
            model=MODEL,
            max_tokens=2048,
            system="Be brief.",
            messages=[{"role": "user", "content": "Say hi"}],
            thinking={"type": "enabled", "budget_tokens": 1024},
        )
    assert message.model == MODEL
    assert message.stop_reason == "end_turn"
    assert [b.type for b in message.content] == ["thinking", "text"]
    thinking, text = message.content
    assert thinking.type == "thinking"
    assert thinking.thinking == "A greeting will do."
    assert thinking.signature.startswith("llmpr1.")
    assert text.type == "text"
    assert text.text == "Hello!"
    assert message.usage.input_tokens == 100
    assert message.usage.output_tokens == 20
    sent = responses_fake.responses_requests[0].json
    assert sent["instructions"] == "Be brief."
    assert sent["reasoning"] == {"effort": "low", "summary": "auto"}
    assert sent["max_output_tokens"] == 2048
    assert responses_fake.rejections == []


def weather_loop(request: RecordedRequest) -> ScriptedReply:
    outputs = request.items_of_type("function_call_output")
    if outputs:
        return reply(
            reasoning("The tool answered.", encrypted_content="enc-2"),
            text_message(f"It is {outputs[0]['output']} in Paris."),
        )
    return reply(
        reasoning("I need the weather tool.", encrypted_content="enc-1"),
        text_message("Let me check."),
        function_call("get_weather", {"city": "Paris"}, call_id="call_paris"),
    )


async def test_stream_tool_loop_round_trips_reasoning(
    codex2claude_gateway: Gateway, responses_fake: FakeResponsesServer
) -> None:
    responses_fake.default = weather_loop
    history: list[Any] = [{"role": "user", "content": "Weather in Paris?"}]
    kwargs: Any = {
        "model": MODEL,
        "max_tokens": 4096,
        "tools": [WEATHER],
        "thinking": {"type": "adaptive"},
        "output_config": {"effort": "medium"},
    }
    events: list[str] = []
    async with client(codex2claude_gateway) as c:
        async with c.messages.stream(messages=history, **kwargs) as stream:
            async for event in stream:
                events.append(event.type)
            first = await stream.get_final_message()
        assert first.stop_reason == "tool_use"
        assert [b.type for b in first.content] == ["thinking", "text", "tool_use"]
        call = first.content[2]
        assert call.type == "tool_use"
        assert (call.id, call.name, call.input) == ("call_paris", "get_weather", {"city": "Paris"})
        assert {"input_json", "thinking", "text"} <= set(events)
        history.append({"role": "assistant", "content": first.content})
        history.append(
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "sunny"}],
            }
        )
        async with c.messages.stream(messages=history, **kwargs) as stream:
            second = await stream.get_final_message()
    assert second.stop_reason == "end_turn"
    assert second.content[-1].type == "text"
    assert second.content[-1].text == "It is sunny in Paris."
    # The strict upstream accepted the replayed reasoning: its encrypted_content was the one it
    # issued, carried through the thinking block's signature.
    assert responses_fake.rejections == []
    replay = responses_fake.responses_requests[1]
    assert [i["type"] for i in replay.input_items] == [
        "message",
        "reasoning",
        "message",
        "function_call",
        "function_call_output",
    ]
    item = replay.items_of_type("reasoning")[0]
    assert item["encrypted_content"] == "enc-1"
    assert item["summary"] == [{"type": "summary_text", "text": "I need the weather tool."}]
    assert replay.items_of_type("function_call_output")[0]["output"] == "sunny"
    assert replay.json["reasoning"] == {"effort": "medium", "summary": "auto"}


async def test_image_input(
    codex2claude_gateway: Gateway, responses_fake: FakeResponsesServer
) -> None:
    responses_fake.enqueue(reply(text_message("A red pixel.")))
    pixel = (
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5E"
        "rkJggg=="
    )
    async with client(codex2claude_gateway) as c:
        message = await c.messages.create(
            model=MODEL,
            max_tokens=100,
            messages=[
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "image",
                            "source": {"type": "base64", "media_type": "image/png", "data": pixel},
                        },
                        {"type": "text", "text": "What is this?"},
                    ],
                }
            ],
        )
    assert message.content[0].type == "text"
    content = responses_fake.responses_requests[0].input_items[0]["content"]
    assert content[0] == {
        "type": "input_image",
        "image_url": f"data:image/png;base64,{pixel}",
        "detail": "auto",
    }
    assert responses_fake.rejections == []


async def test_count_tokens_and_models(
    codex2claude_gateway: Gateway, responses_fake: FakeResponsesServer
) -> None:
    async with client(codex2claude_gateway) as c:
        count = await c.messages.count_tokens(
            model=MODEL, messages=[{"role": "user", "content": "How long is this?"}]
        )
        models = [m async for m in c.models.list()]
    assert count.input_tokens > 0
    assert [m.id for m in models] == ["gpt-5.5", "gpt-5.5-mini", "o4-mini"]
    assert models[0].type == "model"
    assert responses_fake.rejections == []


async def test_rate_limit_error(
    codex2claude_gateway: Gateway, responses_fake: FakeResponsesServer
) -> None:
    limited = {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}
    # The gateway retries a 429 itself (max_retries): script enough of them to exhaust it.
    for _ in range(codex2claude_gateway.settings.max_retries + 1):
        responses_fake.enqueue(
            reply(status=429, error_body={"error": limited}, headers={"retry-after": "0"})
        )
    async with client(codex2claude_gateway) as c:
        with pytest.raises(anthropic.RateLimitError) as info:
            await c.messages.create(
                model=MODEL, max_tokens=10, messages=[{"role": "user", "content": "Hi"}]
            )
    assert info.value.status_code == 429
    body: Any = info.value.body
    assert body["type"] == "error"
    assert body["error"]["type"] == "rate_limit_error"
    assert info.value.response.headers["retry-after"] == "0"


async def test_authentication_error(
    codex2claude_gateway: Gateway, responses_fake: FakeResponsesServer
) -> None:
    wrong = {"message": "Incorrect API key provided: sk-wrong.", "code": "invalid_api_key"}
    responses_fake.enqueue(reply(status=401, error_body={"error": wrong}))
    async with AsyncAnthropic(
        base_url=codex2claude_gateway.base("codex2claude"), api_key="sk-wrong", max_retries=0
    ) as c:
        with pytest.raises(anthropic.AuthenticationError) as info:
            await c.messages.create(
                model=MODEL, max_tokens=10, messages=[{"role": "user", "content": "Hi"}]
            )
    assert info.value.status_code == 401
    assert "Incorrect API key provided" in info.value.message
    # The key travelled as a Bearer token, as OpenAI wants it.
    assert responses_fake.responses_requests[0].header("authorization") == "Bearer sk-wrong"


async def test_stream_failure_raises(
    codex2claude_gateway: Gateway, responses_fake: FakeResponsesServer
) -> None:
    overloaded = {"code": "server_is_overloaded", "message": "Overloaded, try later"}
    responses_fake.enqueue(reply(text_message("Half"), terminal="failed", error=overloaded))
    seen: list[str] = []

    async def consume(c: AsyncAnthropic) -> None:
        async with c.messages.stream(
            model=MODEL, max_tokens=100, messages=[{"role": "user", "content": "Hi"}]
        ) as stream:
            async for event in stream:
                seen.append(event.type)

    async with client(codex2claude_gateway) as c:
        with pytest.raises(anthropic.APIStatusError) as info:
            await consume(c)
    assert seen[0] == "message_start"
    assert "message_stop" not in seen
    assert "Overloaded, try later" in str(info.value)
    body: Any = info.value.body
    assert body["error"]["type"] == "overloaded_error"
