"""The OpenAI Agents SDK driving the gateway end to end: ``Runner.run`` and ``run_streamed``
with a function tool, reasoning on, against the strict fake upstream."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from agents import (
    Agent,
    ModelSettings,
    OpenAIResponsesModel,
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
        return Reply([thinking("The tool answered."), text(f"Report: {said}")])
    return Reply([thinking("I need the weather tool."), tool_use("get_weather", {"city": "Paris"})])


@pytest.fixture
async def client(gateway: Gateway) -> AsyncIterator[AsyncOpenAI]:
    async with AsyncOpenAI(base_url=gateway.base(), api_key=TEST_KEY, max_retries=0) as c:
        yield c


def make_agent(client: AsyncOpenAI) -> Agent[Any]:
    return Agent(
        name="weather",
        instructions="Answer weather questions with the tool.",
        tools=[get_weather],
        model=OpenAIResponsesModel(model="claude-sonnet-4-5", openai_client=client),
        model_settings=ModelSettings(reasoning=Reasoning(effort="low")),
    )


async def test_runner_run_with_function_tool(client: AsyncOpenAI, fake: FakeAnthropic) -> None:
    fake.responder = weather_responder
    result = await Runner.run(make_agent(client), "What is the weather in Paris?")
    assert result.final_output == "Report: sunny and 21C in Paris"
    assert len(fake.requests) == 2
    assert fake.rejections == []
    second = fake.requests[1].json
    # The reasoning item the SDK sent back was restored: thinking stays on in the tool loop.
    assert second["thinking"]["type"] == "enabled"
    assert second["messages"][1]["content"][0]["type"] == "thinking"
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
    assert "tool_call_item" in kinds
    assert "tool_call_output_item" in kinds
    assert "message_output_item" in kinds
    assert fake.rejections == []
