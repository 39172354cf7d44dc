"""reasoning -> thinking in the request translation: effort tables, the thinking gates, and the
round trip of thinking blocks through encrypted_content envelopes (reference 4.5, 6.4)."""

from __future__ import annotations

from typing import Any

import pytest

from routes.claude2codex.reasoning import (
    ADAPTIVE_EFFORT,
    BUDGET_BY_EFFORT,
    Envelope,
    profile_for,
)
from tests.routes.claude2codex.translate_helpers import (
    FN_TOOL,
    GLM,
    JSON,
    KEY,
    OPUS_47,
    SONNET,
    SONNET_46,
    USER_HI,
    accepted,
    assistant,
    block_types,
    blocks,
    call,
    messages,
    output,
    reasoning,
    refused,
    request,
    user,
)
from tests.support.fake_anthropic import Signer, validate

BUDGET_MODELS = (SONNET, GLM, "claude-opus-4-1", "claude-3-7-sonnet")
ADAPTIVE_MODELS = (OPUS_47, SONNET_46, "claude-sonnet-5")


def signed(signer: Signer, text: str) -> JSON:
    return {"type": "thinking", "thinking": text, "signature": signer.sign(text)}


def sealed(model: str, *blocks_: JSON, key: str = KEY) -> str:
    return Envelope(key).seal(model, list(blocks_))


def tool_loop(encrypted_content: Any, **fields: Any) -> JSON:
    """user -> reasoning + call -> output: the request Codex sends mid tool loop."""
    return request(
        user("weather in Oslo?"),
        reasoning(encrypted_content),
        call("toolu_01"),
        output("toolu_01"),
        tools=[FN_TOOL],
        reasoning={"effort": "medium", "summary": "auto"},
        **fields,
    )


def no_thinking_blocks(body: JSON) -> bool:
    return not any(
        b["type"] in ("thinking", "redacted_thinking")
        for m in body["messages"]
        for b in m["content"]
    )


# ---------------------------------------------------------------------------------------------
# Effort tables


@pytest.mark.parametrize("model", BUDGET_MODELS)
@pytest.mark.parametrize("effort", list(BUDGET_BY_EFFORT))
def test_budget_models_get_a_budget(model: str, effort: str) -> None:
    t = accepted(request("hi", reasoning={"effort": effort}), model)
    thinking = t.body["thinking"]
    assert thinking["type"] == "enabled"
    budget = thinking["budget_tokens"]
    assert 1024 <= budget < t.body["max_tokens"] <= profile_for(model).max_tokens_limit
    assert budget == min(BUDGET_BY_EFFORT[effort], t.body["max_tokens"] - 1)
    assert "output_config" not in t.body
    assert t.thinking


def test_budget_table_values_on_sonnet() -> None:
    got = {
        effort: accepted(request("hi", reasoning={"effort": effort}), SONNET).body
        for effort in ("minimal", "low", "medium", "high", "xhigh", "max")
    }
    assert {e: b["thinking"]["budget_tokens"] for e, b in got.items()} == {
        "minimal": 1024,
        "low": 4096,
        "medium": 8192,
        "high": 16384,
        "xhigh": 32768,
        "max": 63999,
    }
    # "max" needs more room than the default 32000: the gateway raises max_tokens itself.
    assert got["max"]["max_tokens"] == 64000
    assert got["medium"]["max_tokens"] == 32000


@pytest.mark.parametrize("model", ADAPTIVE_MODELS)
@pytest.mark.parametrize("effort", list(ADAPTIVE_EFFORT))
def test_adaptive_models_get_adaptive_thinking_and_effort(model: str, effort: str) -> None:
    t = accepted(request("hi", reasoning={"effort": effort}), model)
    assert t.body["thinking"] == {"type": "adaptive"}
    assert t.body["output_config"] == {"effort": ADAPTIVE_EFFORT[effort]}
    assert t.thinking


def test_opus_47_effort_values() -> None:
    got = {
        effort: accepted(request("hi", reasoning={"effort": effort}), OPUS_47).body
        for effort in ("minimal", "low", "medium", "high", "xhigh", "max")
    }
    assert {e: b["output_config"]["effort"] for e, b in got.items()} == {
        "minimal": "low",
        "low": "low",
        "medium": "medium",
        "high": "high",
        "xhigh": "xhigh",
        "max": "max",
    }
    assert all(b["max_tokens"] == 32000 for b in got.values())


@pytest.mark.parametrize("model", [*BUDGET_MODELS, *ADAPTIVE_MODELS])
@pytest.mark.parametrize(
    "reasoning_field", [None, {"effort": "none"}, {"effort": "none", "summary": "auto"}]
)
def test_no_reasoning_or_effort_none_means_no_thinking(model: str, reasoning_field: Any) -> None:
    body = request("hi")
    if reasoning_field is not None:
        body["reasoning"] = reasoning_field
    t = accepted(body, model)
    assert "thinking" not in t.body
    assert "output_config" not in t.body
    assert not t.thinking
    assert t.thinking_off_reason is None


@pytest.mark.parametrize("reasoning_field", [{"summary": "auto"}, {}, {"effort": None}])
def test_reasoning_without_effort_means_medium(reasoning_field: JSON) -> None:
    t = accepted(request("hi", reasoning=reasoning_field), SONNET)
    assert t.body["thinking"] == {"type": "enabled", "budget_tokens": 8192}
    t = accepted(request("hi", reasoning=reasoning_field), OPUS_47)
    assert t.body["output_config"] == {"effort": "medium"}


@pytest.mark.parametrize(
    ("summary", "expected"),
    [("auto", True), ("concise", True), ("detailed", True), (None, False)],
)
def test_summaries_flag(summary: str | None, expected: bool) -> None:
    t = accepted(request("hi", reasoning={"effort": "low", "summary": summary}))
    assert t.summaries is expected


def test_unknown_effort_is_refused() -> None:
    assert refused(request("hi", reasoning={"effort": "extreme"})).param == "reasoning.effort"


def test_claude_3_has_no_thinking() -> None:
    t = accepted(request("hi", reasoning={"effort": "high"}), "claude-3-5-haiku")
    assert "thinking" not in t.body
    assert t.body["max_tokens"] == 8192


def test_client_max_output_tokens_caps_the_budget() -> None:
    t = accepted(request("hi", max_output_tokens=5000, reasoning={"effort": "high"}), SONNET)
    assert t.body["max_tokens"] == 5000
    assert t.body["thinking"] == {"type": "enabled", "budget_tokens": 4999}


@pytest.mark.parametrize("max_output_tokens", [1, 500, 1024])
def test_no_room_for_a_budget_turns_thinking_off(max_output_tokens: int) -> None:
    t = accepted(
        request("hi", max_output_tokens=max_output_tokens, reasoning={"effort": "low"}), SONNET
    )
    assert "thinking" not in t.body
    assert t.body["max_tokens"] == max_output_tokens
    assert t.thinking_off_reason == "the output token limit leaves no room for thinking"


def test_small_max_output_tokens_keeps_adaptive_thinking() -> None:
    t = accepted(request("hi", max_output_tokens=500, reasoning={"effort": "low"}), OPUS_47)
    assert t.body["thinking"] == {"type": "adaptive"}
    assert t.body["max_tokens"] == 500


# ---------------------------------------------------------------------------------------------
# Gates that turn thinking off


@pytest.mark.parametrize(
    "choice",
    [
        "required",
        {"type": "function", "name": "get_weather"},
        {
            "type": "allowed_tools",
            "mode": "required",
            "tools": [{"type": "function", "name": "get_weather"}],
        },
    ],
)
@pytest.mark.parametrize("model", [SONNET, OPUS_47])
def test_forced_tool_choice_turns_thinking_off(choice: Any, model: str) -> None:
    t = accepted(
        request("hi", tools=[FN_TOOL], tool_choice=choice, reasoning={"effort": "high"}), model
    )
    assert "thinking" not in t.body
    assert "effort" not in t.body.get("output_config", {})
    assert t.thinking_off_reason == "tool_choice forces a tool"


@pytest.mark.parametrize("choice", ["auto", "none"])
def test_unforced_tool_choice_keeps_thinking(choice: str) -> None:
    t = accepted(request("hi", tools=[FN_TOOL], tool_choice=choice, reasoning={"effort": "low"}))
    assert t.thinking


def test_prefill_turns_thinking_off() -> None:
    t = accepted(request(user("Count:"), assistant("1, 2,"), reasoning={"effort": "low"}))
    assert not t.thinking
    assert t.thinking_off_reason == "the input ends with an assistant prefill"
    assert messages(t)[-1]["role"] == "assistant"


def test_tool_loop_without_thinking_block_turns_thinking_off() -> None:
    t = accepted(
        request(
            user("weather?"),
            call("c1"),
            output("c1"),
            tools=[FN_TOOL],
            reasoning={"effort": "medium"},
        )
    )
    assert not t.thinking
    assert t.thinking_off_reason == "the current tool loop has no thinking block"


def test_tool_loop_whose_turn_starts_with_text_turns_thinking_off() -> None:
    signer = Signer()
    t = accepted(
        request(
            user("weather?"),
            assistant("Let me check."),
            reasoning(sealed(SONNET, signed(signer, "I should call the tool."))),
            call("c1"),
            output("c1"),
            tools=[FN_TOOL],
            reasoning={"effort": "medium"},
        ),
        signer=signer,
    )
    assert not t.thinking
    assert no_thinking_blocks(t.body)
    assert block_types(t)[1] == ["text", "tool_use"]


def test_finished_tool_loop_then_user_text_keeps_thinking() -> None:
    # The tool loop is over (the conversation ends with a user message): no thinking needed.
    t = accepted(
        request(
            user("weather?"),
            call("c1"),
            output("c1"),
            assistant("It rains."),
            user("thanks"),
            tools=[FN_TOOL],
            reasoning={"effort": "medium"},
        )
    )
    assert t.thinking


FOREIGN = {
    "openai": "gAAAAABo" + "x" * 60,
    "capture_server": "b3BhcXVlLWVuY3J5cHRlZC1yZWFzb25pbmctcnNfZjcyNmMwNjE4YTc4NDBiNGIzMmI1NWI4",
    "empty": "",
    "null": None,
    "our_prefix_garbage": "llmp1.not-base64!!",
    "our_prefix_short": "llmp1.AAAA",
}


@pytest.mark.parametrize("token", FOREIGN.values(), ids=FOREIGN.keys())
@pytest.mark.parametrize("model", [SONNET, OPUS_47, GLM])
def test_foreign_reasoning_turns_thinking_off(token: Any, model: str) -> None:
    t = accepted(tool_loop(token), model)
    assert not t.thinking
    assert "thinking" not in t.body
    assert t.thinking_off_reason == "reasoning items from elsewhere could not be restored"
    assert block_types(t) == [["text"], ["tool_use"], ["tool_result"]]


def _tampered(token: str) -> str:
    i = len(token) // 2
    return token[:i] + ("A" if token[i] != "A" else "B") + token[i + 1 :]


@pytest.mark.parametrize("how", ["tampered", "other_model", "other_key", "truncated"])
def test_bad_envelope_turns_thinking_off_and_strips_all_thinking(how: str) -> None:
    signer = Signer()
    good = sealed(SONNET, signed(signer, "first thoughts"))
    bad = {
        "tampered": _tampered(sealed(SONNET, signed(signer, "second thoughts"))),
        "other_model": sealed("claude-opus-4-5", signed(signer, "second thoughts")),
        "other_key": sealed(SONNET, signed(signer, "second thoughts"), key="another key"),
        "truncated": sealed(SONNET, signed(signer, "second thoughts"))[:-6],
    }[how]
    body = request(
        user("weather in Oslo?"),
        reasoning(good),
        call("c1"),
        output("c1"),
        user("and in Rome?"),
        reasoning(bad),
        call("c2"),
        output("c2"),
        tools=[FN_TOOL],
        reasoning={"effort": "medium"},
    )
    t = accepted(body, SONNET, signer=signer)
    assert not t.thinking
    assert "thinking" not in t.body
    # The one good envelope's thinking block is stripped too: thinking is off for the request.
    assert no_thinking_blocks(t.body)
    assert block_types(t) == [
        ["text"],
        ["tool_use"],
        ["tool_result", "text"],
        ["tool_use"],
        ["tool_result"],
    ]


# ---------------------------------------------------------------------------------------------
# Envelope round trip


@pytest.mark.parametrize("model", [SONNET, OPUS_47, GLM])
def test_valid_envelope_restores_the_exact_thinking_block(model: str) -> None:
    signer = Signer()
    block = signed(signer, "The user wants the weather; call get_weather.")
    # A fresh Envelope with the same key (another replica) opens it.
    t = accepted(tool_loop(sealed(model, block)), model, signer=signer, envelope=Envelope(KEY))
    assert t.thinking
    assert t.thinking_off_reason is None
    assert messages(t)[1] == {
        "role": "assistant",
        "content": [
            block,
            {
                "type": "tool_use",
                "id": "toolu_01",
                "name": "get_weather",
                "input": {"city": "Oslo"},
            },
        ],
    }
    assert messages(t)[2]["content"][0]["tool_use_id"] == "toolu_01"


def test_the_fake_refuses_a_modified_thinking_block() -> None:
    # The harness really checks signatures: the same request with the text changed is refused.
    signer = Signer()
    block = signed(signer, "original")
    t = accepted(tool_loop(sealed(SONNET, block)), SONNET, signer=signer)
    t.body["messages"][1]["content"][0]["thinking"] = "changed"
    assert "Invalid `signature`" in (validate(t.body, signer=signer) or "")


def test_redacted_and_several_thinking_blocks_round_trip() -> None:
    signer = Signer()
    signer.redacted.add("opaque-redacted-payload")
    inner = [
        signed(signer, "step one"),
        {"type": "redacted_thinking", "data": "opaque-redacted-payload"},
        signed(signer, ""),  # display "omitted": empty text, still signed
    ]
    t = accepted(tool_loop(sealed(SONNET, *inner)), SONNET, signer=signer)
    assert t.thinking
    assert messages(t)[1]["content"][:3] == inner


def test_interleaved_thinking_blocks_keep_their_place() -> None:
    signer = Signer()
    first, second = signed(signer, "call one"), signed(signer, "now call two")
    t = accepted(
        request(
            user("two cities"),
            reasoning(sealed(SONNET, first)),
            call("c1"),
            output("c1"),
            reasoning(sealed(SONNET, second)),
            call("c2"),
            output("c2"),
            tools=[FN_TOOL],
            reasoning={"effort": "high"},
        ),
        SONNET,
        signer=signer,
    )
    assert t.thinking
    assert block_types(t) == [
        ["text"],
        ["thinking", "tool_use"],
        ["tool_result"],
        ["thinking", "tool_use"],
        ["tool_result"],
    ]
    assert [b for b in blocks(t) if b["type"] == "thinking"] == [first, second]


def test_valid_envelope_with_reasoning_off_is_stripped() -> None:
    signer = Signer()
    body = tool_loop(sealed(SONNET, signed(signer, "thoughts")))
    del body["reasoning"]
    t = accepted(body, SONNET, signer=signer)
    assert not t.thinking
    assert t.thinking_off_reason is None
    assert no_thinking_blocks(t.body)


def test_envelope_from_another_model_is_refused_by_open() -> None:
    env = Envelope(KEY)
    blocks_ = [{"type": "thinking", "thinking": "x", "signature": "s"}]
    token = env.seal(SONNET, blocks_)
    assert env.open(token, SONNET) == blocks_
    assert env.open(token, OPUS_47) is None
    assert Envelope("other").open(token, SONNET) is None
    assert env.open(env.seal(SONNET, [{"type": "text", "text": "x"}]), SONNET) is None


def test_thinking_only_history_turn_without_tool_loop() -> None:
    # A reasoning item followed by a plain answer, then a new user question.
    signer = Signer()
    block = signed(signer, "simple")
    t = accepted(
        request(
            USER_HI,
            reasoning(sealed(SONNET, block)),
            assistant("Hello!"),
            user("and now?"),
            reasoning={"effort": "low"},
        ),
        SONNET,
        signer=signer,
    )
    assert t.thinking
    assert messages(t)[1]["content"] == [block, {"type": "text", "text": "Hello!"}]
