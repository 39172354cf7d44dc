"""The real Claude Code CLI (2.1.332, ``claude -p``) driving codex2claude end to end against the
strict fake OpenAI Responses upstream: a text turn, a tool loop in which Claude Code really runs
a Bash command, and an upstream error. Claude Code's requests (system blocks, mid-conversation
system messages, adaptive thinking, its tool set, deferred tools) go through the real
translation; the fake refuses anything the real API would."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import TEST_KEY, Gateway
from tests.support.claude_code import INSTALL_HINT, find_claude, run_claude
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

if find_claude() is None:  # make test installs it; a missing CLI is a failure, not a skip
    raise RuntimeError(f"Claude Code is required for these tests: {INSTALL_HINT}")


async def test_claude_code_text_turn(
    codex2claude_gateway: Gateway, responses_fake: FakeResponsesServer, tmp_path: Path
) -> None:
    responses_fake.default = lambda _: reply(text_message("Hello from LLMProxy!"))
    result = await run_claude(
        "Say hello.",
        base_url=codex2claude_gateway.base("codex2claude"),
        workdir=tmp_path,
        api_key=TEST_KEY,
    )
    assert result.ok, result.describe()
    assert result.text.strip() == "Hello from LLMProxy!"
    assert responses_fake.rejections == []
    sent = responses_fake.responses_requests[0]
    assert sent.header("authorization") == f"Bearer {TEST_KEY}"
    assert sent.json["model"] == "gpt-5.5"
    assert sent.json["instructions"], "Claude Code's system blocks became instructions"
    names = {t["name"] for t in sent.tools}
    assert {"Bash", "Read", "Edit", "Write"} <= names
    # Claude Code asks for adaptive thinking: the reasoning items come back in signatures.
    assert sent.json["include"] == ["reasoning.encrypted_content"]
    assert sent.json["store"] is False


def bash_loop(request: RecordedRequest) -> ScriptedReply:
    outputs = request.items_of_type("function_call_output")
    if outputs:
        return reply(
            reasoning("The command ran.", encrypted_content="enc-after"),
            text_message(f"The command printed {outputs[-1]['output'].strip()}."),
        )
    return reply(
        reasoning("I will run the command.", encrypted_content="enc-before"),
        function_call(
            "Bash",
            {"command": "echo llmproxy-$((6*7))", "description": "Print the magic word"},
            call_id="call_bash_1",
        ),
    )


async def test_claude_code_runs_bash_in_a_tool_loop(
    codex2claude_gateway: Gateway, responses_fake: FakeResponsesServer, tmp_path: Path
) -> None:
    responses_fake.default = bash_loop
    result = await run_claude(
        "Run the command.",
        base_url=codex2claude_gateway.base("codex2claude"),
        workdir=tmp_path,
        api_key=TEST_KEY,
    )
    assert result.ok, result.describe()
    assert "llmproxy-42" in result.text
    assert result.result is not None
    assert result.result["num_turns"] == 2
    assert responses_fake.rejections == []
    turns = responses_fake.responses_requests
    assert len(turns) == 2
    second = turns[1]
    outputs = second.items_of_type("function_call_output")
    assert [o["call_id"] for o in outputs] == ["call_bash_1"]
    assert "llmproxy-42" in outputs[0]["output"]  # the shell really ran $((6*7))
    call = second.items_of_type("function_call")[0]
    assert call["name"] == "Bash"
    assert call["arguments"].startswith('{"command":"echo llmproxy-$((6*7))"')
    # The reasoning item went to Claude Code inside a thinking signature and came back intact.
    replayed = second.items_of_type("reasoning")
    assert [r["encrypted_content"] for r in replayed] == ["enc-before"]


async def test_claude_code_reports_an_upstream_error(
    codex2claude_gateway: Gateway, responses_fake: FakeResponsesServer, tmp_path: Path
) -> None:
    wrong = {"message": "Incorrect API key provided: sk-ant-***.", "code": "invalid_api_key"}
    responses_fake.default = lambda _: reply(status=401, error_body={"error": wrong})
    result = await run_claude(
        "Say hello.",
        base_url=codex2claude_gateway.base("codex2claude"),
        workdir=tmp_path,
        api_key=TEST_KEY,
        limit=60,
    )
    assert not result.timed_out, result.describe()
    assert result.returncode != 0
    assert result.result is not None, result.describe()
    assert result.result["is_error"] is True
    assert result.result["api_error_status"] == 401
    # Claude Code read the Anthropic-shaped 401 as an authentication failure, with the message.
    assert result.text.startswith("Failed to authenticate.")
    assert "Incorrect API key provided" in result.text
