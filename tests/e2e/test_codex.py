"""The real Codex CLI (0.171.0, ``codex exec``) driving the gateway end to end against the strict
fake Anthropic upstream: a text turn, a tool loop in which a command really runs, and an
``apply_patch`` that creates a file. Codex's requests (developer messages, reasoning, custom
and function tools, namespaces) go through the real translation; the fake rejects anything the
real Anthropic API would."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Gateway
from tests.support.codex import INSTALL_HINT, find_codex, run_codex
from tests.support.fake_anthropic import (
    FakeAnthropic,
    Reply,
    server_tool_use,
    text,
    thinking,
    tool_use,
    web_citation,
    web_search_result,
)

pytestmark = pytest.mark.e2e

if find_codex() is None:  # CI installs it (make test); a missing CLI is a failure, not a skip
    raise RuntimeError(f"the Codex CLI is required for these tests: {INSTALL_HINT}")


def tool_results(body: dict[str, Any]) -> list[dict[str, Any]]:
    last = body["messages"][-1]
    if last["role"] != "user":
        return []
    return [b for b in last["content"] if isinstance(b, dict) and b.get("type") == "tool_result"]


def result_text(result: dict[str, Any]) -> str:
    content = result["content"]
    if isinstance(content, str):
        return content
    return "".join(c.get("text", "") for c in content)


async def test_codex_text_turn(gateway: Gateway, fake: FakeAnthropic, tmp_path: Path) -> None:
    fake.script.append(Reply([thinking("A greeting is enough."), text("Hello from LLMProxy!")]))
    result = await run_codex(
        "Say hello.", base_url=gateway.base(), workdir=tmp_path, reasoning_effort="medium"
    )
    assert result.ok, result.describe()
    assert (result.last_message or "").strip() == "Hello from LLMProxy!"
    assert fake.rejections == []
    sent = fake.requests[0].json
    assert sent["thinking"]["type"] == "enabled"
    assert sent["system"], "Codex's instructions/developer messages became system blocks"
    names = {t["name"] for t in sent["tools"]}
    assert {"exec_command", "apply_patch"} <= names


async def test_codex_tool_loop_runs_a_command(
    gateway: Gateway, fake: FakeAnthropic, tmp_path: Path
) -> None:
    def responder(body: dict[str, Any]) -> Reply:
        results = tool_results(body)
        if results:
            return Reply([thinking("The command ran."), text("The command printed llmproxy-42.")])
        return Reply(
            [
                thinking("I will run the command."),
                tool_use("exec_command", {"cmd": "echo llmproxy-$((6*7))"}),
            ]
        )

    fake.responder = responder
    result = await run_codex(
        "Run the command.", base_url=gateway.base(), workdir=tmp_path, reasoning_effort="medium"
    )
    assert result.ok, result.describe()
    assert "llmproxy-42" in (result.last_message or "")
    assert fake.rejections == []
    assert len(fake.requests) == 2
    second = fake.requests[1].json
    outputs = [result_text(r) for r in tool_results(second)]
    assert any("llmproxy-42" in o for o in outputs), outputs
    # The reasoning item Codex sent back restored the signed thinking block: thinking stays on.
    assert second["thinking"]["type"] == "enabled"
    assistant = second["messages"][-2]
    assert assistant["content"][0]["type"] == "thinking"
    assert assistant["content"][0]["signature"] == fake.sign("I will run the command.")


async def test_codex_apply_patch_creates_a_file(
    gateway: Gateway, fake: FakeAnthropic, tmp_path: Path
) -> None:
    patch = "*** Begin Patch\n*** Add File: hello.txt\n+hello\n*** End Patch\n"

    def responder(body: dict[str, Any]) -> Reply:
        if tool_results(body):
            return Reply([text("Created hello.txt.")])
        return Reply([tool_use("apply_patch", {"input": patch})])

    fake.responder = responder
    result = await run_codex(
        "Create hello.txt containing hello.", base_url=gateway.base(), workdir=tmp_path
    )
    assert result.ok, result.describe()
    assert (tmp_path / "hello.txt").read_text() == "hello\n"
    assert fake.rejections == []
    second = fake.requests[1].json
    call = second["messages"][-2]["content"][-1]
    assert call["type"] == "tool_use"
    assert call["name"] == "apply_patch"
    assert call["input"] == {"input": patch}


async def test_codex_default_model_namespaced_tool_round_trip(
    gateway: Gateway, fake: FakeAnthropic, tmp_path: Path
) -> None:
    """Codex's default model gets "Responses-Lite": tools arrive as namespaces inside an
    additional_tools input item. A call to ``clock.sleep`` must come back to Codex with its
    namespace, or Codex cannot dispatch it."""

    def responder(body: dict[str, Any]) -> Reply:
        if tool_results(body):
            return Reply([text("Slept.")])
        return Reply([tool_use("clock__sleep", {"duration_ms": 10})])

    fake.responder = responder
    result = await run_codex("Sleep 10 ms.", base_url=gateway.base(), workdir=tmp_path, model=None)
    assert result.ok, result.describe()
    assert fake.rejections == []
    first = fake.requests[0].json
    names = {t["name"] for t in first["tools"]}
    assert "clock__sleep" in names
    assert "exec" in names  # the "functions" namespace is Codex's top level
    outputs = [result_text(r) for r in tool_results(fake.requests[1].json)]
    assert outputs
    assert any("sleep" in o.lower() for o in outputs), outputs
    assert (result.last_message or "").strip() == "Slept."


async def test_codex_third_party_model_shows_reasoning_summary(
    gateway: Gateway, fake: FakeAnthropic, tmp_path: Path
) -> None:
    """A model Codex does not know (``claude-sonnet-4-5``) gets ``reasoning: {summary:
    "auto"}``: thinking is on and streamed as a summary, which Codex displays."""
    fake.script.append(Reply([thinking("**Planning** a short answer."), text("Done.")]))
    result = await run_codex(
        "Say done.", base_url=gateway.base(), workdir=tmp_path, model="claude-sonnet-4-5"
    )
    assert result.ok, result.describe()
    assert fake.rejections == []
    assert fake.requests[0].json["thinking"] == {"type": "enabled", "budget_tokens": 8192}
    assert [i["text"] for i in result.items("reasoning")] == ["**Planning** a short answer."]
    assert result.agent_messages == ["Done."]
    turn = [e for e in result.events if e.get("type") == "turn.completed"]
    assert turn[0]["usage"]["input_tokens"] == 12
    assert turn[0]["usage"]["output_tokens"] == 7


async def test_codex_accepts_a_web_search_call_and_cited_text(
    gateway: Gateway, fake: FakeAnthropic, tmp_path: Path
) -> None:
    """Anthropic's server-side web search comes to Codex as a ``web_search_call`` item (which
    it shows) and cited text as an ``output_text`` with ``url_citation`` annotations."""
    url = "https://docs.python.org/3/whatsnew/3.13.html"
    fake.script.append(
        Reply(
            [
                server_tool_use("python 3.13 what's new", id="srvtoolu_codex"),
                web_search_result("srvtoolu_codex", [(url, "What's New In Python 3.13")]),
                text(
                    "Python 3.13 has a new REPL.",
                    citations=[web_citation(url, "What's New In Python 3.13", "new REPL")],
                ),
            ]
        )
    )
    result = await run_codex(
        "What is new in Python 3.13?", base_url=gateway.base(), workdir=tmp_path
    )
    assert result.ok, result.describe()
    assert fake.rejections == []
    assert result.agent_messages == ["Python 3.13 has a new REPL."]
    searches = result.items("web_search")
    assert [s.get("query") for s in searches] == ["python 3.13 what's new"], result.events
