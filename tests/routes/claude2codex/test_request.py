"""Responses request -> Anthropic Messages request (routes/claude2codex/request.py).

Every real client capture must translate into a body the strict fake upstream accepts, and each
mapping rule of the reference (sections 4.5, 6.1, 6.2) has a small test on the exact body made.
Tools are in test_tools.py, reasoning/thinking in test_reasoning.py, the property test in
test_request_property.py."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from llmproxy.errors import BadRequest
from routes.claude2codex.reasoning import profile_for
from routes.claude2codex.request import decode_request
from routes.claude2codex.tools import ROOT_NAMESPACE
from tests.routes.claude2codex.translate_helpers import (
    CAPTURES,
    FN_TOOL,
    GLM,
    JSON,
    MODELS,
    OPUS_47,
    SONNET,
    SONNET_46,
    USER_HI,
    accepted,
    assistant,
    block_types,
    blocks,
    call,
    developer,
    messages,
    output,
    refused,
    request,
    roles,
    texts_of,
    translate,
    user,
)
from tests.support.fake_anthropic import Signer, validate

PNG_BYTES = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
PNG_B64 = base64.b64encode(PNG_BYTES).decode()
PDF_B64 = base64.b64encode(b"%PDF-1.4\n%\xe2\xe3\n1 0 obj\n").decode()

# ---------------------------------------------------------------------------------------------
# Real client captures


def _post_captures() -> list[Path]:
    out = []
    for path in sorted(CAPTURES.glob("*.json")):
        if path.name == "codex_tools_full.json":
            continue
        capture = json.loads(path.read_text())
        if capture.get("method") == "POST" and isinstance(capture.get("body"), dict):
            out.append(path)
    return out


POST_CAPTURES = _post_captures()


def _capture_body(path: Path) -> JSON:
    body: JSON = json.loads(path.read_text())["body"]
    return body


def _client_tools(body: JSON) -> list[tuple[str | None, str]]:
    """(namespace, name) of every function/custom tool the client declared, anywhere."""
    found: list[tuple[str | None, str]] = []

    def walk(tools: list[JSON], ns: str | None) -> None:
        for t in tools:
            if t.get("type") == "namespace":
                inner = t["name"]
                walk(t["tools"], None if inner == ROOT_NAMESPACE else inner)
            elif t.get("type") in ("function", "custom"):
                found.append((ns, t["name"]))

    walk(body.get("tools") or [], None)
    for item in body["input"] if isinstance(body["input"], list) else []:
        if item.get("type") == "additional_tools":
            walk(item["tools"], None)
    return found


def _input_texts(body: JSON) -> list[str]:
    """The non-blank texts of every message item and of the instructions."""
    out = [body["instructions"]] if body.get("instructions") else []
    inp = body["input"]
    if isinstance(inp, str):
        return [*out, inp]
    for item in inp:
        if item.get("type", "message") != "message":
            continue
        content = item["content"]
        parts = [content] if isinstance(content, str) else [p.get("text", "") for p in content]
        out.extend(p for p in parts if p.strip())
    return out


def test_the_captures_are_found() -> None:
    # A moved shared dir must fail loudly, not turn the parametrized tests into zero tests.
    assert len(POST_CAPTURES) >= 15, CAPTURES


@pytest.mark.parametrize("model", [*MODELS, SONNET_46, "claude-opus-4-1", "claude-3-5-haiku"])
@pytest.mark.parametrize("path", POST_CAPTURES, ids=lambda p: p.stem)
def test_capture_translates_to_an_accepted_body(path: Path, model: str) -> None:
    body = _capture_body(path)
    t = accepted(body, model, signer=Signer(), auto_cache=True)
    out = t.body
    items = body["input"] if isinstance(body["input"], list) else []
    itypes = {i.get("type") for i in items}

    assert out["model"] == model
    assert out["stream"] is True
    assert messages(t)[0]["role"] == "user"
    assert ("thinking" in out) is t.thinking
    assert out["max_tokens"] <= profile_for(model).max_tokens_limit
    assert out["max_tokens"] != 4096

    # Nothing the client said is lost: every message text ends up in system or messages.
    sent = set(texts_of(out.get("system"))) | set(texts_of(out["messages"]))
    for text in _input_texts(body):
        assert any(text.strip() in s for s in sent), text[:80]

    # Every declared function/custom tool is offered under its mapped name, and maps back.
    offered = {tool["name"] for tool in out.get("tools", [])}
    for ns, name in _client_tools(body):
        mapped = t.tools.anthropic_name(name, ns)
        assert mapped in offered, (ns, name)
        spec = t.tools.lookup(mapped)
        assert (spec.namespace, spec.name) == (ns, name)
    for tool in body.get("tools") or []:
        # Codex's client-run tool search is a client tool; its web search maps to Anthropic's
        # server tool unless Codex turned live web access off (README, the hosted-tool rule).
        if tool["type"] == "tool_search":
            assert "tool_search" in offered
        if tool["type"] == "web_search":
            live = tool.get("external_web_access") is not False
            assert ("web_search" in offered) is live
            assert ("web_search" in t.dropped_tools) is not live

    # Calls in the history use the same mapped names as the tools.
    uses = [b for b in blocks(t) if b["type"] == "tool_use"]
    calls = [i for i in items if i.get("type") in ("function_call", "custom_tool_call")]
    assert [u["name"] for u in uses] == [
        t.tools.anthropic_name(c["name"], c.get("namespace")) for c in calls
    ]

    effort = (body.get("reasoning") or {}).get("effort", "medium")
    wants_thinking = body.get("reasoning") is not None and effort != "none"
    if "reasoning" in itypes:
        # Their encrypted_content is OpenAI's (or made up by the capture server): foreign.
        assert not t.thinking
        assert not any(b["type"] in ("thinking", "redacted_thinking") for b in blocks(t))
        if wants_thinking and profile_for(model).thinking != "none":
            assert t.thinking_off_reason is not None
    elif wants_thinking and profile_for(model).thinking != "none" and not calls:
        assert t.thinking
        if profile_for(model).thinking == "adaptive":
            assert out["thinking"] == {"type": "adaptive"}
        else:
            budget = out["thinking"]["budget_tokens"]
            assert 1024 <= budget < out["max_tokens"]


def test_codex_tool_loop_capture_exact_history() -> None:
    body = _capture_body(CAPTURES / "codex-tool-gpt55-2.json")
    t = accepted(body, SONNET)
    assert roles(t) == ["user", "assistant", "user"]
    assert block_types(t) == [["text", "text"], ["tool_use"], ["tool_result"]]
    use, result = messages(t)[1]["content"][0], messages(t)[2]["content"][0]
    assert use == {
        "type": "tool_use",
        "id": "call_631500a897a643839e6a",
        "name": "exec_command",
        "input": {"cmd": "echo hello"},
    }
    assert result["tool_use_id"] == use["id"]
    assert result["content"].endswith("Output:\nhello\n")
    # Codex sends its system prompt as developer messages: their parts become the system.
    dev_parts = [
        p["text"] for i in body["input"] if i.get("role") == "developer" for p in i["content"]
    ]
    assert [b["text"] for b in t.body["system"]] == dev_parts
    assert len(dev_parts) > 2
    assert not t.thinking
    assert t.thinking_off_reason == "reasoning items from elsewhere could not be restored"


# ---------------------------------------------------------------------------------------------
# System, developer and message items


def test_instructions_and_leading_developer_messages_become_system_blocks() -> None:
    t = accepted(
        request(
            developer("dev one"),
            {"role": "system", "content": "sys two"},
            developer("  "),  # blank: nothing to send
            user("hello"),
            instructions="be brief",
        )
    )
    assert t.body["system"] == [
        {"type": "text", "text": "be brief"},
        {"type": "text", "text": "dev one"},
        {"type": "text", "text": "sys two"},
    ]
    assert messages(t) == [{"role": "user", "content": [{"type": "text", "text": "hello"}]}]


def test_later_developer_message_becomes_a_system_reminder_in_the_user_turn() -> None:
    t = accepted(
        request(
            user("hello"),
            assistant("hi there"),
            developer("now be terse"),
            user("what next?"),
            instructions="sys",
        )
    )
    assert t.body["system"] == [{"type": "text", "text": "sys"}]
    assert messages(t) == [
        {"role": "user", "content": [{"type": "text", "text": "hello"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "hi there"}]},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "<system-reminder>\nnow be terse\n</system-reminder>"},
                {"type": "text", "text": "what next?"},
            ],
        },
    ]


def test_empty_instructions_make_no_system() -> None:
    t = accepted(request("hi", instructions=""))
    assert "system" not in t.body


def test_string_input_is_one_user_message() -> None:
    t = accepted(request("Say hi"))
    assert messages(t) == [{"role": "user", "content": [{"type": "text", "text": "Say hi"}]}]


def test_blank_string_input_is_refused() -> None:
    assert refused(request("   ")).param == "input"


def test_items_without_type_are_messages() -> None:
    t = accepted(
        request(
            {"role": "user", "content": "q1"},
            {"role": "assistant", "content": [{"type": "output_text", "text": "a1"}]},
            {"role": "user", "content": [{"type": "input_text", "text": "q2"}]},
        )
    )
    assert messages(t) == [
        {"role": "user", "content": [{"type": "text", "text": "q1"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "a1"}]},
        {"role": "user", "content": [{"type": "text", "text": "q2"}]},
    ]


def test_consecutive_same_role_items_merge_into_alternating_turns() -> None:
    t = accepted(
        request(
            user("a"),
            {"role": "user", "content": "b"},
            assistant("c"),
            {
                "type": "message",
                "role": "assistant",
                "content": [
                    {"type": "refusal", "refusal": "d"},
                    {"type": "input_text", "text": "e"},
                ],
            },
            user("f"),
        )
    )
    assert messages(t) == [
        {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "c"},
                {"type": "text", "text": "d"},
                {"type": "text", "text": "e"},
            ],
        },
        {"role": "user", "content": [{"type": "text", "text": "f"}]},
    ]


def test_empty_and_blank_texts_are_skipped() -> None:
    t = accepted(
        request(
            user(""),
            user("  \n"),
            {"role": "user", "content": ""},
            user("real"),
            assistant(" "),
            user("again"),
        )
    )
    # The blank assistant message vanishes, so the user texts merge into one turn.
    assert messages(t) == [
        {
            "role": "user",
            "content": [{"type": "text", "text": "real"}, {"type": "text", "text": "again"}],
        }
    ]


def test_assistant_first_conversation_gets_a_user_turn_first() -> None:
    t = accepted(request(assistant("I am ready."), user("go")))
    assert roles(t) == ["user", "assistant", "user"]
    assert messages(t)[0]["content"] == [{"type": "text", "text": "(continue)"}]


def test_trailing_assistant_message_is_a_prefill_without_trailing_whitespace() -> None:
    t = accepted(request(user("Count:"), assistant("1, 2,  \n")))
    assert messages(t)[-1] == {"role": "assistant", "content": [{"type": "text", "text": "1, 2,"}]}


def test_unknown_role_is_refused() -> None:
    err = refused(request({"role": "tool", "content": "x"}))
    assert err.param == "input[0].role"


def test_unsupported_item_type_is_refused() -> None:
    err = refused(request(USER_HI, {"type": "bogus_item"}))
    assert err.param == "input[1].type"


def test_hosted_tool_history_items_are_dropped() -> None:
    t = accepted(
        request(
            USER_HI,
            {"type": "web_search_call", "id": "ws_1", "status": "completed", "action": {}},
            assistant("found it"),
            user("thanks"),
        )
    )
    assert roles(t) == ["user", "assistant", "user"]
    assert "web_search_call" in t.dropped_items


# ---------------------------------------------------------------------------------------------
# Tool calls and their outputs


def test_function_call_and_output_pair_up() -> None:
    t = accepted(request(user("weather?"), call("call_1"), output("call_1"), tools=[FN_TOOL]))
    assert messages(t)[1:] == [
        {
            "role": "assistant",
            "content": [
                {
                    "type": "tool_use",
                    "id": "call_1",
                    "name": "get_weather",
                    "input": {"city": "Oslo"},
                }
            ],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "call_1", "content": "rain"}],
        },
    ]


def test_parallel_calls_share_one_assistant_turn_and_one_user_turn() -> None:
    t = accepted(
        request(
            user("two cities"),
            assistant("Checking both."),
            call("c1"),
            call("c2", arguments='{"city":"Rome"}'),
            output("c2", "sun"),
            output("c1", "rain"),
            tools=[FN_TOOL],
        )
    )
    assert block_types(t) == [["text"], ["text", "tool_use", "tool_use"], ["tool_result"] * 2]
    assert [b["tool_use_id"] for b in messages(t)[2]["content"]] == ["c2", "c1"]


def test_missing_output_gets_an_error_result() -> None:
    t = accepted(
        request(
            user("two cities"),
            call("c1"),
            call("c2"),
            output("c1"),
            user("and?"),
            tools=[FN_TOOL],
        )
    )
    results = messages(t)[2]["content"]
    assert results[0] == {"type": "tool_result", "tool_use_id": "c1", "content": "rain"}
    assert results[1]["tool_use_id"] == "c2"
    assert results[1]["is_error"] is True
    assert "not executed" in results[1]["content"]
    assert results[2] == {"type": "text", "text": "and?"}


def test_history_ending_with_a_call_gets_an_error_result() -> None:
    t = accepted(request(user("weather?"), call("c1"), tools=[FN_TOOL]))
    assert roles(t) == ["user", "assistant", "user"]
    (result,) = messages(t)[2]["content"]
    assert result["tool_use_id"] == "c1"
    assert result["is_error"] is True


def test_orphan_output_is_kept_as_text() -> None:
    t = accepted(request(user("hi"), output("ghost", "42 degrees"), tools=[FN_TOOL]))
    assert messages(t) == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "hi"},
                {"type": "text", "text": "[result of tool call ghost]\n42 degrees"},
            ],
        }
    ]


def test_output_before_its_call_is_an_orphan_and_the_call_gets_an_error_result() -> None:
    t = accepted(request(user("hi"), output("c1", "early"), call("c1"), tools=[FN_TOOL]))
    assert block_types(t) == [["text", "text"], ["tool_use"], ["tool_result"]]
    assert "early" in messages(t)[0]["content"][1]["text"]
    assert messages(t)[2]["content"][0]["is_error"] is True


def test_duplicate_output_for_one_call_is_kept_as_text() -> None:
    t = accepted(request(USER_HI, call("c1"), output("c1", "one"), output("c1", "two")))
    assert messages(t)[2]["content"] == [
        {"type": "tool_result", "tool_use_id": "c1", "content": "one"},
        {"type": "text", "text": "[result of tool call c1]\ntwo"},
    ]


def test_tool_results_move_to_the_front_of_the_user_turn() -> None:
    t = accepted(
        request(
            USER_HI,
            call("c1"),
            user("(while the tool ran, the user said this)"),
            output("c1"),
            tools=[FN_TOOL],
        )
    )
    assert block_types(t)[2] == ["tool_result", "text"]


def test_call_ids_with_illegal_chars_are_sanitized_the_same_way_on_both_sides() -> None:
    cid = "call.1:ä/x y"
    t = accepted(request(USER_HI, call(cid), output(cid), tools=[FN_TOOL]))
    use = messages(t)[1]["content"][0]
    result = messages(t)[2]["content"][0]
    assert use["id"] == result["tool_use_id"] == "call_1___x_y"
    assert "is_error" not in result


def test_call_ids_that_sanitize_to_the_same_id_stay_distinct() -> None:
    # "c.1" and "c_1" both sanitize to "c_1"; Anthropic refuses duplicate tool_use ids.
    t = accepted(
        request(USER_HI, call("c.1"), call("c_1"), output("c.1", "a"), output("c_1", "b")),
    )
    ids = [b["id"] for b in messages(t)[1]["content"]]
    assert len(set(ids)) == 2
    results = messages(t)[2]["content"]
    assert [r["type"] for r in results] == ["tool_result", "tool_result"]
    assert {r["tool_use_id"]: r["content"] for r in results} == {ids[0]: "a", ids[1]: "b"}


def test_a_call_id_reused_in_a_later_turn_stays_unique() -> None:
    # Some models number their calls per turn ("call_0" every time).
    t = accepted(
        request(
            user("a"),
            call("call_0"),
            output("call_0", "first"),
            call("call_0", arguments='{"city":"Rome"}'),
            output("call_0", "second"),
            tools=[FN_TOOL],
        )
    )
    assert block_types(t) == [
        ["text"],
        ["tool_use"],
        ["tool_result"],
        ["tool_use"],
        ["tool_result"],
    ]
    first, second = messages(t)[1]["content"][0], messages(t)[3]["content"][0]
    assert first["id"] != second["id"]
    assert messages(t)[2]["content"][0] == {
        "type": "tool_result",
        "tool_use_id": first["id"],
        "content": "first",
    }
    assert messages(t)[4]["content"][0] == {
        "type": "tool_result",
        "tool_use_id": second["id"],
        "content": "second",
    }


def test_function_call_arguments_that_are_not_an_object() -> None:
    t = accepted(
        request(
            USER_HI,
            call("c1", arguments=""),
            call("c2", arguments="not json"),
            call("c3", arguments="[1, 2]"),
            output("c1"),
            output("c2"),
            output("c3"),
            tools=[FN_TOOL],
        )
    )
    assert [b["input"] for b in messages(t)[1]["content"]] == [
        {},
        {"_raw_arguments": "not json"},
        {"value": [1, 2]},
    ]


def test_output_as_an_array_of_text_and_image_parts() -> None:
    out = [
        {"type": "input_text", "text": "screenshot:"},
        {"type": "input_image", "image_url": f"data:image/png;base64,{PNG_B64}"},
        {"type": "input_text", "text": " "},
    ]
    t = accepted(request(USER_HI, call("c1"), output("c1", out), tools=[FN_TOOL]))
    assert messages(t)[2]["content"] == [
        {
            "type": "tool_result",
            "tool_use_id": "c1",
            "content": [
                {"type": "text", "text": "screenshot:"},
                {
                    "type": "image",
                    "source": {"type": "base64", "media_type": "image/png", "data": PNG_B64},
                },
            ],
        }
    ]


@pytest.mark.parametrize("out", ["", "  \n", [], [{"type": "input_text", "text": ""}], None])
def test_empty_output_gets_a_placeholder(out: Any) -> None:
    t = accepted(request(USER_HI, call("c1"), output("c1", out), tools=[FN_TOOL]))
    assert messages(t)[2]["content"] == [
        {"type": "tool_result", "tool_use_id": "c1", "content": "(no output)"}
    ]


def test_legacy_output_object_with_success_false_is_an_error() -> None:
    t = accepted(
        request(
            USER_HI,
            call("c1"),
            output("c1", {"content": "boom", "success": False}),
            tools=[FN_TOOL],
        )
    )
    assert messages(t)[2]["content"] == [
        {"type": "tool_result", "tool_use_id": "c1", "content": "boom", "is_error": True}
    ]


def test_tool_history_without_tools_declares_them_unusable() -> None:
    t = accepted(request(USER_HI, call("c1"), output("c1")))
    assert t.body["tools"] == [
        {"name": "get_weather", "input_schema": {"type": "object", "properties": {}}}
    ]
    assert t.body["tool_choice"] == {"type": "none"}


def test_call_without_call_id_is_refused() -> None:
    err = refused(request(USER_HI, {"type": "function_call", "name": "f", "arguments": "{}"}))
    assert err.param == "input[1]"
    err = refused(request(USER_HI, {"type": "function_call_output", "output": "x"}))
    assert err.param == "input[1].call_id"


# ---------------------------------------------------------------------------------------------
# max_tokens, sampling, metadata


def test_max_output_tokens_becomes_max_tokens() -> None:
    t = accepted(request("hi", max_output_tokens=1234))
    assert t.body["max_tokens"] == 1234


@pytest.mark.parametrize("model", [*MODELS, SONNET_46, "claude-opus-4-1", "claude-3-5-haiku"])
def test_absent_max_output_tokens_uses_the_profile_default(model: str) -> None:
    t = accepted(request("hi"), model)
    profile = profile_for(model)
    assert t.body["max_tokens"] == min(profile.default_max_tokens, profile.max_tokens_limit)
    assert t.body["max_tokens"] != 4096


def test_max_output_tokens_is_clamped_to_the_model_limit() -> None:
    t = accepted(request("hi", max_output_tokens=10**9), SONNET)
    assert t.body["max_tokens"] == profile_for(SONNET).max_tokens_limit == 64000


@pytest.mark.parametrize("value", [0, -5])
def test_max_output_tokens_below_one_is_refused(value: int) -> None:
    assert refused(request("hi", max_output_tokens=value)).param == "max_output_tokens"


def test_temperature_above_one_is_clamped() -> None:
    t = accepted(request("hi", temperature=1.7), GLM)
    assert t.body["temperature"] == 1.0
    t = accepted(request("hi", temperature=0.3, top_p=0.5), GLM)
    assert (t.body["temperature"], t.body["top_p"]) == (0.3, 0.5)


def test_temperature_and_low_top_p_are_dropped_with_thinking() -> None:
    t = accepted(request("hi", temperature=0.2, top_p=0.5, reasoning={"effort": "low"}), GLM)
    assert t.thinking
    assert "temperature" not in t.body
    assert "top_p" not in t.body


def test_top_p_from_095_is_kept_with_thinking() -> None:
    t = accepted(request("hi", top_p=0.97, reasoning={"effort": "low"}), GLM)
    assert t.body["top_p"] == 0.97


def test_one_sampling_param_models_keep_temperature_only() -> None:
    t = accepted(request("hi", temperature=0.4, top_p=0.9), SONNET)
    assert t.body["temperature"] == 0.4
    assert "top_p" not in t.body
    t = accepted(request("hi", top_p=0.9), SONNET)
    assert t.body["top_p"] == 0.9


def test_models_without_sampling_params_drop_both() -> None:
    t = accepted(request("hi", temperature=0.4, top_p=0.9), OPUS_47)
    assert "temperature" not in t.body
    assert "top_p" not in t.body


@pytest.mark.parametrize(
    ("fields", "user_id"),
    [
        ({"safety_identifier": "user-123"}, "user-123"),
        ({"user": "legacy-user"}, "legacy-user"),
        ({"safety_identifier": "new", "user": "old"}, "new"),
    ],
)
def test_safety_identifier_or_user_becomes_metadata_user_id(fields: JSON, user_id: str) -> None:
    t = accepted(request("hi", metadata={"trace": "abc"}, **fields))
    assert t.body["metadata"] == {"user_id": user_id}


def test_metadata_alone_is_not_forwarded() -> None:
    t = accepted(request("hi", metadata={"trace": "abc"}))
    assert "metadata" not in t.body


@pytest.mark.parametrize(
    ("tier", "expected"), [("priority", "auto"), ("flex", "standard_only"), ("auto", None)]
)
def test_service_tier(tier: str, expected: str | None) -> None:
    t = accepted(request("hi", service_tier=tier))
    assert t.body.get("service_tier") == expected


# ---------------------------------------------------------------------------------------------
# Refused and ignored fields, decoding errors


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"previous_response_id": "resp_123"}, "previous_response_id"),
        ({"conversation": "conv_123"}, "conversation"),
        ({"conversation": {"id": "conv_123"}}, "conversation"),
        ({"prompt": {"id": "pmpt_1", "version": "2"}}, "prompt"),
        ({"background": True}, "background"),
        ({"top_logprobs": 3}, "top_logprobs"),
    ],
)
def test_stateful_and_unsupported_fields_are_refused(fields: JSON, param: str) -> None:
    err = refused(request("hi", **fields))
    assert err.param == param
    assert err.code == "unsupported_parameter"


def test_item_reference_is_refused() -> None:
    err = refused(request(USER_HI, {"type": "item_reference", "id": "msg_1"}))
    assert err.param == "input[1]"
    assert err.code == "unsupported_parameter"


def test_harmless_values_of_refusable_fields_are_accepted() -> None:
    accepted(request("hi", background=False, top_logprobs=0, previous_response_id=None))


def test_unknown_and_ignored_top_level_fields() -> None:
    plain = accepted(request("hi"))
    t = accepted(
        request(
            "hi",
            store=False,
            truncation="auto",
            include=["reasoning.encrypted_content"],
            prompt_cache_key="pk",
            client_metadata={"x": "y"},
            stream_options={"include_obfuscation": False},
            max_tool_calls=3,
            text={"verbosity": "low"},
            some_field_from_the_future={"a": [1]},
        )
    )
    assert t.body == plain.body


@pytest.mark.parametrize(
    ("raw", "param"),
    [
        (b'{"model": 5, "input": "hi"}', "model"),
        (b'{"input": "hi"}', "model"),
        (b'{"model": null, "input": "hi"}', "model"),
        (b'{"model": "m", "input": 7}', "input"),
        (b'{"model": "m", "input": "hi", "tools": {}}', "tools"),
        (b'{"model": "m", "input": "hi", "max_output_tokens": "10"}', "max_output_tokens"),
        (b'{"model": "m", "input": "hi", "temperature": "hot"}', "temperature"),
        (b'{"model": "m", "input": "hi", "stream": "yes"}', "stream"),
        (b"[]", None),
    ],
)
def test_wrong_types_are_refused_with_the_field(raw: bytes, param: str | None) -> None:
    with pytest.raises(BadRequest) as info:
        decode_request(raw)
    assert info.value.param == param


def test_model_field_is_named() -> None:
    with pytest.raises(BadRequest) as info:
        decode_request(b'{"model": 5, "input": "hi"}')
    assert info.value.param == "model"


@pytest.mark.parametrize("raw", [b"{", b"not json", b'{"model": "m",}', b"", b"  \n"])
def test_invalid_json_is_refused(raw: bytes) -> None:
    with pytest.raises(BadRequest) as info:
        decode_request(raw)
    assert info.value.param == "body"


# ---------------------------------------------------------------------------------------------
# Images and files


def _image_request(image: JSON) -> JSON:
    return request(
        {"role": "user", "content": [{"type": "input_text", "text": "what is this?"}, image]}
    )


def test_data_url_png_becomes_a_base64_image() -> None:
    t = accepted(
        _image_request(
            {
                "type": "input_image",
                "detail": "original",
                "image_url": f"data:image/png;base64,{PNG_B64}",
            }
        )
    )
    assert messages(t)[0]["content"][1] == {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": PNG_B64},
    }


def test_data_url_jpg_is_normalised_to_jpeg() -> None:
    t = accepted(
        _image_request({"type": "input_image", "image_url": f"data:image/jpg;base64,{PNG_B64}"})
    )
    assert messages(t)[0]["content"][1]["source"]["media_type"] == "image/jpeg"


def test_https_image_url_becomes_a_url_source() -> None:
    url = "https://example.com/cat.png"
    t = accepted(_image_request({"type": "input_image", "detail": "auto", "image_url": url}))
    assert messages(t)[0]["content"][1] == {"type": "image", "source": {"type": "url", "url": url}}


@pytest.mark.parametrize(
    "image",
    [
        {"type": "input_image", "image_url": f"data:image/bmp;base64,{PNG_B64}"},
        {"type": "input_image", "image_url": "data:image/png,rawbytes"},
        {"type": "input_image", "image_url": "data:image/png;base64,@@@not-base64@@@"},
        {"type": "input_image", "image_url": "ftp://example.com/x.png"},
        {"type": "input_image"},
    ],
)
def test_bad_images_are_refused(image: JSON) -> None:
    assert refused(_image_request(image)).param == "input[0].content[1].image_url"


def test_file_id_image_is_refused() -> None:
    err = refused(_image_request({"type": "input_image", "file_id": "file-abc"}))
    assert err.param == "input[0].content[1].file_id"


def test_image_in_an_assistant_message_is_refused() -> None:
    msg = {
        "role": "assistant",
        "content": [{"type": "input_image", "image_url": "https://example.com/a.png"}],
    }
    assert refused(request(USER_HI, msg)).param == "input[1].content[0]"


def test_input_file_pdf_becomes_a_document() -> None:
    t = accepted(
        _image_request(
            {
                "type": "input_file",
                "filename": "paper.pdf",
                "file_data": f"data:application/pdf;base64,{PDF_B64}",
            }
        )
    )
    assert messages(t)[0]["content"][1] == {
        "type": "document",
        "source": {"type": "base64", "media_type": "application/pdf", "data": PDF_B64},
        "title": "paper.pdf",
    }


def test_input_file_url_and_text_file() -> None:
    text_b64 = base64.b64encode(b"hello, world").decode()
    t = accepted(
        request(
            {
                "role": "user",
                "content": [
                    {"type": "input_file", "file_url": "https://example.com/a.pdf"},
                    {"type": "input_file", "file_data": f"data:text/plain;base64,{text_b64}"},
                ],
            }
        )
    )
    assert messages(t)[0]["content"] == [
        {"type": "document", "source": {"type": "url", "url": "https://example.com/a.pdf"}},
        {
            "type": "document",
            "source": {"type": "text", "media_type": "text/plain", "data": "hello, world"},
        },
    ]


@pytest.mark.parametrize(
    ("part", "param"),
    [
        ({"type": "input_file", "file_id": "file-abc"}, "input[0].content[0].file_id"),
        (
            {"type": "input_file", "file_data": "data:application/zip;base64,UEsDBA=="},
            "input[0].content[0].file_data",
        ),
    ],
)
def test_bad_files_are_refused(part: JSON, param: str) -> None:
    assert refused(request({"role": "user", "content": [part]})).param == param


# ---------------------------------------------------------------------------------------------
# text.format


def test_json_schema_format_becomes_output_config_format() -> None:
    schema = {
        "type": "object",
        "properties": {"answer": {"type": "string"}},
        "required": ["answer"],
        "additionalProperties": False,
    }
    fmt = {"type": "json_schema", "name": "codex_output_schema", "strict": True, "schema": schema}
    t = accepted(request("hi", text={"format": fmt, "verbosity": "low"}))
    assert t.body["output_config"] == {"format": {"type": "json_schema", "schema": schema}}


def test_json_schema_format_with_adaptive_thinking_keeps_the_effort() -> None:
    fmt = {"type": "json_schema", "name": "x", "strict": True, "schema": {"type": "object"}}
    t = accepted(request("hi", text={"format": fmt}, reasoning={"effort": "high"}), OPUS_47)
    assert t.body["output_config"] == {
        "effort": "high",
        "format": {
            "type": "json_schema",
            "schema": {"type": "object", "additionalProperties": False},
        },
    }


def test_json_object_format_is_a_system_instruction() -> None:
    t = accepted(request("hi", instructions="sys", text={"format": {"type": "json_object"}}))
    assert t.body["system"][0] == {"type": "text", "text": "sys"}
    assert "JSON" in t.body["system"][-1]["text"]
    assert "output_config" not in t.body


def test_text_format_text_changes_nothing() -> None:
    assert accepted(request("hi", text={"format": {"type": "text"}})).body == (
        accepted(request("hi")).body
    )


@pytest.mark.parametrize(
    ("fmt", "param"),
    [
        ({"type": "json_schema", "name": "x"}, "text.format.schema"),
        ({"type": "yaml"}, "text.format.type"),
    ],
)
def test_bad_text_format_is_refused(fmt: JSON, param: str) -> None:
    assert refused(request("hi", text={"format": fmt})).param == param


def test_validate_is_the_real_gate() -> None:
    # Sanity check of the harness: the fake refuses what the translator must never send.
    bad = translate(request("hi")).body | {"messages": [{"role": "assistant", "content": "x"}]}
    assert validate(bad) is not None
