"""The Codex CLI harness (``tests.support.codex``) driving the real Codex CLI against the scripted
Responses server (``tests.support.fake_responses``): a plain text turn, a shell tool loop, an
``apply_patch`` custom tool call, the tool declarations per model, and a stream without
``response.completed``.  No gateway is involved; these tests pin down what Codex 0.171.0 sends
and accepts, so the gateway tests can rely on the harness.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.codex import CODEX_VERSION, INSTALL_HINT, CodexResult, find_codex, run_codex
from tests.support.fake_responses import (
    FakeResponsesServer,
    JSONDict,
    RecordedRequest,
    custom_tool_call,
    flatten_tools,
    function_call,
    reasoning,
    reply,
    text_message,
)

if find_codex() is None:
    pytest.fail(
        f"Codex CLI {CODEX_VERSION} is required for the e2e harness tests but was not found.\n"
        f"Install it with: {INSTALL_HINT}",
        pytrace=False,
    )

pytestmark = pytest.mark.e2e

API_KEY = "sk-test-codex-0000"
GPT55 = "gpt-5.5"
UNKNOWN_MODEL = "claude-sonnet-4-5"
# What Codex 0.171.0 sends when no model is configured (``model=None`` leaves ``-m`` out).
DEFAULT_MODEL_WIRE_NAME = "gpt-6.2-sol"
SHELL_COMMAND = "echo llmproxy-$((6*7))"
SHELL_STDOUT = "llmproxy-42"
PATCH = "*** Begin Patch\n*** Add File: hello.txt\n+hello\n*** End Patch\n"
RUN_TIMEOUT = 90.0


@pytest.fixture
async def server() -> AsyncIterator[FakeResponsesServer]:
    async with FakeResponsesServer() as fake:
        yield fake


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    path = tmp_path / "work"
    path.mkdir()
    return path


async def codex(
    prompt: str, server: FakeResponsesServer, workdir: Path, model: str | None
) -> CodexResult:
    return await run_codex(
        prompt,
        base_url=server.base_url,
        workdir=workdir,
        model=model,
        api_key=API_KEY,
        timeout=RUN_TIMEOUT,
    )


def tool_output(request: RecordedRequest, call_id: str) -> str:
    """Text of the ``function_call_output`` / ``custom_tool_call_output`` for ``call_id``
    (``output`` is a string, or a list of ``input_text`` parts for code-mode ``exec``)."""
    for item in request.input_items:
        if item.get("type") in ("function_call_output", "custom_tool_call_output") and (
            item.get("call_id") == call_id
        ):
            output: Any = item.get("output")
            if isinstance(output, str):
                return output
            if isinstance(output, list):
                return "".join(
                    str(part.get("text", "")) for part in output if isinstance(part, dict)
                )
            raise AssertionError(f"unexpected output shape: {item!r}")
    raise AssertionError(f"no tool output for {call_id} in {request.input_items!r}")


def input_types(request: RecordedRequest) -> list[str]:
    return [str(item.get("type")) for item in request.input_items]


# --------------------------------------------------------------------------------------------------
# (a) plain text


async def test_plain_text_turn(server: FakeResponsesServer, workdir: Path) -> None:
    server.enqueue(reply(text_message("Hello from the scripted server.")))

    result = await codex("say hello", server, workdir, GPT55)

    assert result.ok, result.describe()
    assert result.last_message == "Hello from the scripted server.", result.describe()
    assert result.agent_messages == ["Hello from the scripted server."]
    # Exactly one model request and nothing else (no GET /models, no WebSocket attempt).
    assert [(r.method, r.path) for r in server.requests] == [("POST", "/v1/responses")]
    request = server.responses_requests[0]
    assert request.header("Authorization") == f"Bearer {API_KEY}"
    assert request.header("Accept") == "text/event-stream"
    assert (request.header("User-Agent") or "").startswith(f"codex_exec/{CODEX_VERSION} ")
    assert request.json["model"] == GPT55
    assert request.json["stream"] is True
    assert request.json["store"] is False
    last_input = request.input_items[-1]
    assert last_input["role"] == "user"
    assert last_input["content"] == [{"type": "input_text", "text": "say hello"}]


# --------------------------------------------------------------------------------------------------
# (b) shell tool loop


def shell_call(model: str | None) -> JSONDict:
    """The call that makes Codex run SHELL_COMMAND with the shell tool it declared for model."""
    if model is None:
        # The default model ("Responses-Lite", code mode): the custom tool `exec` in namespace
        # `functions` takes JavaScript that calls the nested tools.
        script = f"const r = await tools.exec_command({json.dumps({'cmd': SHELL_COMMAND})});"
        return custom_tool_call("exec", f"{script}\ntext(r.output);\n", namespace="functions")
    # gpt-5.5 and unknown models: the function tool `exec_command` with a `cmd` string.
    return function_call("exec_command", {"cmd": SHELL_COMMAND})


@pytest.mark.parametrize(
    "model", [GPT55, None, UNKNOWN_MODEL], ids=["gpt-5.5", "default", "unknown"]
)
async def test_shell_tool_loop(
    server: FakeResponsesServer, workdir: Path, model: str | None
) -> None:
    call = shell_call(model)
    thought = reasoning("**Running** the command.", encrypted_content="opaque-reasoning-blob-1")
    server.enqueue(reply(thought, call), reply(text_message("The command printed llmproxy-42.")))

    result = await codex("run the echo command", server, workdir, model)

    assert result.ok, result.describe()
    assert result.last_message == "The command printed llmproxy-42.", result.describe()
    assert len(server.responses_requests) == 2, result.describe()
    first, second = server.responses_requests
    declared = flatten_tools(first.tools)
    if model is None:
        assert "functions.exec" in declared, sorted(declared)
    else:
        shell = declared["exec_command"]
        assert shell["type"] == "function"
        assert shell["parameters"]["required"] == ["cmd"]

    # Codex ran the command for real and sent its stdout back.
    output = tool_output(second, call["call_id"])
    assert SHELL_STDOUT in output, output
    assert SHELL_STDOUT in "".join(
        str(item.get("aggregated_output", "")) for item in result.items("command_execution")
    )
    # Turn 2 replays turn 1: reasoning (with encrypted_content), the call, then its output.
    replayed = [item for item in second.input_items if item.get("type") != "message"]
    replayed = [item for item in replayed if item.get("type") != "additional_tools"]
    assert [item["type"] for item in replayed] == [
        "reasoning",
        call["type"],
        f"{call['type']}_output",
    ], input_types(second)
    assert replayed[0]["encrypted_content"] == "opaque-reasoning-blob-1"
    assert replayed[1]["call_id"] == call["call_id"]
    assert replayed[1]["name"] == call["name"]
    assert replayed[1].get("namespace") == call.get("namespace")


# --------------------------------------------------------------------------------------------------
# (c) apply_patch


def apply_patch_call(model: str | None) -> JSONDict:
    """The call that makes Codex apply PATCH with the tools it declared for model."""
    if model is None:
        # default model: apply_patch is only reachable through code-mode `functions.exec`.
        script = f"await tools.apply_patch({json.dumps(PATCH)});\ntext('patched');\n"
        return custom_tool_call("exec", script, namespace="functions")
    # gpt-5.5: `apply_patch` is a top-level custom (freeform, Lark grammar) tool.
    return custom_tool_call("apply_patch", PATCH)


@pytest.mark.parametrize("model", [GPT55, None], ids=["gpt-5.5", "default"])
async def test_apply_patch_custom_tool(
    server: FakeResponsesServer, workdir: Path, model: str | None
) -> None:
    call = apply_patch_call(model)
    server.enqueue(reply(call), reply(text_message("Created hello.txt.")))

    result = await codex("create hello.txt", server, workdir, model)

    assert result.ok, result.describe()
    assert result.last_message == "Created hello.txt.", result.describe()
    hello = workdir / "hello.txt"
    assert hello.exists(), result.describe()
    assert hello.read_text() == "hello\n"
    assert len(server.responses_requests) == 2
    second = server.responses_requests[1]
    assert "custom_tool_call_output" in input_types(second)
    output = tool_output(second, call["call_id"])
    if model == GPT55:
        assert "Success. Updated the following files:\nA hello.txt" in output, output
    changes = [change for item in result.items("file_change") for change in item["changes"]]
    assert changes == [{"path": str(hello), "kind": "add"}]


# --------------------------------------------------------------------------------------------------
# What Codex declares per model (the gateway has to translate all of these)


def _tool_shapes(request: RecordedRequest) -> dict[str, str]:
    return {name: str(tool.get("type")) for name, tool in flatten_tools(request.tools).items()}


async def test_declared_tools_gpt55(server: FakeResponsesServer, workdir: Path) -> None:
    server.enqueue(reply(text_message("ok")))
    result = await codex("hi", server, workdir, GPT55)
    assert result.ok, result.describe()
    request = server.responses_requests[0]
    body = request.json
    assert "tools" in body
    assert "additional_tools" not in input_types(request)
    shapes = _tool_shapes(request)
    assert shapes["exec_command"] == "function"
    assert shapes["write_stdin"] == "function"
    assert shapes["apply_patch"] == "custom"
    assert shapes["tool_search"] == "tool_search"
    assert shapes["web_search"] == "web_search"
    apply_patch = flatten_tools(request.tools)["apply_patch"]
    assert apply_patch["format"]["type"] == "grammar"
    assert apply_patch["format"]["syntax"] == "lark"
    assert body["reasoning"] == {"effort": "medium"}
    assert body["text"] == {"verbosity": "low"}
    assert body["include"] == ["reasoning.encrypted_content"]
    assert request.header("x-openai-internal-codex-responses-lite") is None


async def test_declared_tools_default_model(server: FakeResponsesServer, workdir: Path) -> None:
    server.enqueue(reply(text_message("ok")))
    result = await codex("hi", server, workdir, None)
    assert result.ok, result.describe()
    request = server.responses_requests[0]
    body = request.json
    assert body["model"] == DEFAULT_MODEL_WIRE_NAME
    assert "tools" not in body  # Responses-Lite: tools come as an `additional_tools` input item
    assert input_types(request)[0] == "additional_tools"
    assert request.header("x-openai-internal-codex-responses-lite") == "true"
    namespaces = {tool["name"] for tool in request.tools if tool.get("type") == "namespace"}
    assert {"functions", "clock", "collaboration"} <= namespaces
    shapes = _tool_shapes(request)
    assert shapes["functions.exec"] == "custom"
    assert shapes["clock.sleep"] == "function"
    assert "exec_command" not in shapes  # only reachable from JavaScript inside `exec`
    assert "apply_patch" not in shapes
    assert body["reasoning"]["effort"] == "low"
    assert body["parallel_tool_calls"] is False


async def test_declared_tools_unknown_model(server: FakeResponsesServer, workdir: Path) -> None:
    server.enqueue(reply(text_message("ok")))
    result = await codex("hi", server, workdir, UNKNOWN_MODEL)
    assert result.ok, result.describe()
    request = server.responses_requests[0]
    body = request.json
    assert body["model"] == UNKNOWN_MODEL
    shapes = _tool_shapes(request)
    assert shapes["exec_command"] == "function"
    assert "apply_patch" not in shapes  # Codex does not offer (or accept) apply_patch here
    assert "tool_search" not in shapes
    assert any(name.startswith("multi_agent_v1.") for name in shapes), sorted(shapes)
    assert body["reasoning"] == {"summary": "auto"}
    assert "text" not in body
    warnings = [str(item.get("message")) for item in result.items("error")]
    assert any("Model metadata for `claude-sonnet-4-5` not found" in w for w in warnings)


# --------------------------------------------------------------------------------------------------
# Stream without response.completed


async def test_stream_without_completed_fails(server: FakeResponsesServer, workdir: Path) -> None:
    server.enqueue(reply(text_message("partial"), terminal="none"))
    result = await codex("hi", server, workdir, GPT55)
    assert result.returncode == 1, result.describe()
    assert not result.timed_out
    assert len(server.responses_requests) == 1  # stream_max_retries = 0 in the harness config
    assert any("stream closed before response.completed" in m for m in result.error_messages)
    # The item from output_item.done is still shown, but it is not the turn's last message.
    assert result.agent_messages == ["partial"]
    assert not result.last_message
