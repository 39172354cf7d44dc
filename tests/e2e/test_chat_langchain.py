"""LangChain's ``ChatOpenAI`` (langchain-openai) driving claude2chat end to end against the strict
fake upstream: a ``bind_tools`` tool-call round trip, and ``astream`` of text and of a tool
call."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, ToolMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from openai import AsyncOpenAI

from tests.conftest import TEST_KEY, Gateway
from tests.support.fake_anthropic import FakeAnthropic, Reply, text, thinking, tool_use

pytestmark = pytest.mark.e2e

MODEL = "claude-sonnet-4-5"


@tool
def get_weather(city: str) -> str:
    """Weather for a city."""
    return f"sunny in {city}"


@pytest.fixture
async def client(chat_gateway: Gateway) -> AsyncIterator[AsyncOpenAI]:
    base = chat_gateway.base("claude2chat")
    async with AsyncOpenAI(base_url=base, api_key=TEST_KEY, max_retries=0) as c:
        yield c


def chat_model(client: AsyncOpenAI, **kw: Any) -> ChatOpenAI:
    """ChatOpenAI on the test's own client (closed by the fixture), not a cached global one."""
    return ChatOpenAI(
        model=MODEL,
        api_key=TEST_KEY,  # type: ignore[arg-type]
        base_url=str(client.base_url),
        async_client=client.chat.completions,
        root_async_client=client,
        max_retries=0,
        **kw,
    )


async def test_bind_tools_round_trip(client: AsyncOpenAI, fake: FakeAnthropic) -> None:
    fake.script.append(
        Reply([thinking("Use the tool."), tool_use("get_weather", {"city": "Paris"})])
    )
    fake.script.append(Reply([text("It is sunny in Paris.")]))
    llm = chat_model(client, reasoning_effort="low").bind_tools([get_weather])
    question = HumanMessage("Weather in Paris?")
    ai = await llm.ainvoke([question])
    assert isinstance(ai, AIMessage)
    (call,) = ai.tool_calls
    assert call["name"] == "get_weather"
    assert call["args"] == {"city": "Paris"}
    assert call["id"]
    assert ai.response_metadata["finish_reason"] == "tool_calls"
    result = await get_weather.ainvoke(call)
    assert isinstance(result, ToolMessage)
    answer = await llm.ainvoke([question, ai, result])
    assert answer.content == "It is sunny in Paris."
    assert fake.rejections == []

    first, second = fake.requests[0].json, fake.requests[1].json
    assert first["thinking"] == {"type": "enabled", "budget_tokens": 4096}
    assert first["tools"][0]["name"] == "get_weather"
    assert first["tools"][0]["input_schema"]["properties"]["city"]["type"] == "string"
    assert [m["role"] for m in second["messages"]] == ["user", "assistant", "user"]
    (use,) = second["messages"][1]["content"]
    assert use == {
        "type": "tool_use",
        "id": call["id"],
        "name": "get_weather",
        "input": {"city": "Paris"},
    }
    assert second["messages"][2]["content"] == [
        {
            "type": "tool_result",
            "tool_use_id": call["id"],
            "content": "sunny in Paris",
            "cache_control": {"type": "ephemeral"},
        }
    ]
    # ChatOpenAI keeps no thinking_blocks (it reads only OpenAI's own fields), so the tool loop
    # has no thinking block to replay: thinking is off for it, and the request is still valid.
    assert "thinking" not in second


async def test_astream_text_with_usage(client: AsyncOpenAI, fake: FakeAnthropic) -> None:
    fake.script.append(Reply([text("Streaming hello, "), text("in two blocks.")]))
    llm = chat_model(client, stream_usage=True)
    chunks = [c async for c in llm.astream("Say hello")]
    assert all(isinstance(c, AIMessageChunk) for c in chunks)
    assert len(chunks) > 2  # it really streamed
    total = chunks[0]
    for c in chunks[1:]:
        total += c
    assert total.content == "Streaming hello, in two blocks."
    assert total.usage_metadata is not None
    assert total.usage_metadata["input_tokens"] == 12
    assert total.usage_metadata["output_tokens"] == 7
    assert total.response_metadata["finish_reason"] == "stop"
    assert fake.requests[0].json["stream"] is True


async def test_astream_tool_call(client: AsyncOpenAI, fake: FakeAnthropic) -> None:
    fake.script.append(Reply([tool_use("get_weather", {"city": "Oslo"})]))
    llm = chat_model(client).bind_tools([get_weather], tool_choice="get_weather")
    total: AIMessageChunk | None = None
    async for chunk in llm.astream("Weather in Oslo?"):
        assert isinstance(chunk, AIMessageChunk)
        total = chunk if total is None else total + chunk
    assert total is not None
    (call,) = total.tool_calls
    assert call["name"] == "get_weather"
    assert call["args"] == {"city": "Oslo"}
    sent = fake.requests[0].json
    assert sent["tool_choice"] == {"type": "tool", "name": "get_weather"}
    assert fake.rejections == []
