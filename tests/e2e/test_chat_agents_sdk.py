"""The OpenAI Agents SDK's ``OpenAIChatCompletionsModel`` driving claude2chat end to end:
``Runner.run`` and ``run_streamed`` with a function tool and reasoning on, against the strict
fake upstream."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from agents import (
    Agent,
    ModelSettings,
    OpenAIChatCompletionsModel,
    Runner,
    function_tool,
    set_tracing_disabled,
)
from openai import AsyncOpenAI
from openai.types.shared import Reasoning

from tests.conftest import TEST_KEY, Gateway
from tests.support.fake_anthropic import FakeAnthropic, Reply, text, thinking, tool_use

pytestmark = pytest.mark.e2e

set_tracing_disabled(True)


@function_tool
def get_weather(city: str) -> str:
    """Weather for a city."""
    return f"sunny and 21C in {city}"


def weather_responder(body: dict[str, Any]) -> Reply:
    """Call the tool first; once its result is in the conversation, answer with it."""
    last = body["messages"][-1]
    results = [b for b in last["content"] if isinstance(b, dict) and b["type"] == "tool_result"]
    if results:
        content = results[0]["content"]
        said = content if isinstance(content, str) else content[0]["text"]
        return Reply([text(f"Report: {said}")])
    return Reply([thinking("I need the weather tool."), tool_use("get_weather", {"city": "Paris"})])


@pytest.fixture
async def client(chat_gateway: Gateway) -> AsyncIterator[AsyncOpenAI]:
    base = chat_gateway.base("claude2chat")
    async with AsyncOpenAI(base_url=base, api_key=TEST_KEY, max_retries=0) as c:
        yield c


def make_agent(client: AsyncOpenAI) -> Agent[Any]:
    return Agent(
        name="weather",
        instructions="Answer weather questions with the tool.",
        tools=[get_weather],
        model=OpenAIChatCompletionsModel(model="claude-sonnet-4-5", openai_client=client),
        model_settings=ModelSettings(reasoning=Reasoning(effort="low")),
    )


def check_upstream(fake: FakeAnthropic) -> None:
    assert len(fake.requests) == 2
    assert fake.rejections == []
    first, second = fake.requests[0].json, fake.requests[1].json
    instructions = "Answer weather questions with the tool."
    mark = {"type": "ephemeral"}
    assert first["system"] == [{"type": "text", "text": instructions, "cache_control": mark}]
    assert first["thinking"] == {"type": "enabled", "budget_tokens": 4096}
    assert first["tools"][0]["name"] == "get_weather"
    # The chat model keeps the thinking_blocks it received but does not send them back (only
    # its LiteLLM model does), so the tool loop lacks its thinking block: thinking is turned
    # off for that request instead of failing it.
    assert "thinking" not in second
    assert [m["role"] for m in second["messages"]] == ["user", "assistant", "user"]
    assert second["messages"][1]["content"][0]["type"] == "tool_use"
    assert second["messages"][2]["content"][0] == {
        "type": "tool_result",
        "tool_use_id": second["messages"][1]["content"][0]["id"],
        "content": "sunny and 21C in Paris",
        "cache_control": mark,
    }


async def test_runner_run_with_function_tool(client: AsyncOpenAI, fake: FakeAnthropic) -> None:
    fake.responder = weather_responder
    result = await Runner.run(make_agent(client), "What is the weather in Paris?")
    assert result.final_output == "Report: sunny and 21C in Paris"
    check_upstream(fake)
    # The thinking came back as a reasoning item with the sealed block in its provider data.
    reasoning = [item for item in result.new_items if item.type == "reasoning_item"]
    assert len(reasoning) == 1
    raw: Any = reasoning[0].raw_item
    assert raw.summary[0].text == "I need the weather tool."
    assert raw.model_dump()["provider_data"]["thinking_blocks"][0]["signature"].startswith("llmp1.")
    usage = result.context_wrapper.usage
    assert usage.requests == 2
    assert usage.input_tokens == 24
    assert usage.output_tokens == 14


async def test_run_streamed_with_function_tool(client: AsyncOpenAI, fake: FakeAnthropic) -> None:
    fake.responder = weather_responder
    result = Runner.run_streamed(make_agent(client), "What is the weather in Paris?")
    kinds: list[str] = []
    async for event in result.stream_events():
        if event.type == "run_item_stream_event":
            kinds.append(event.item.type)
    assert result.final_output == "Report: sunny and 21C in Paris"
    # The SDK's stream handler folded the indexed thinking_blocks fragments into one block:
    # the whole text, closed by the sealed signature.
    (reasoning,) = [item for item in result.new_items if item.type == "reasoning_item"]
    raw: Any = reasoning.raw_item
    (block,) = raw.model_dump()["provider_data"]["thinking_blocks"]
    assert block["thinking"] == "I need the weather tool."
    assert block["signature"].startswith("llmp1.")
    assert "tool_call_item" in kinds
    assert "tool_call_output_item" in kinds
    assert "message_output_item" in kinds
    check_upstream(fake)
