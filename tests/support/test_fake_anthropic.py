"""Tests of the strict fake Anthropic upstream: one test per validation rule (pure, no server),
the reply encoders, and the server behaviour over real HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.fake_anthropic import (
    ErrorReply,
    FakeAnthropic,
    Reply,
    Signer,
    StreamFault,
    message_json,
    redacted_thinking,
    server_tool_use,
    stream_events,
    text,
    thinking,
    tool_use,
    validate,
    web_citation,
    web_search_result,
)

JSON = dict[str, Any]
HEADERS = {"x-api-key": "sk-test", "anthropic-version": "2023-06-01"}
TOOLS = [{"name": "shell", "input_schema": {"type": "object"}}]
PNG = base64.b64encode(b"\x89PNG fake").decode()


def body(**overrides: Any) -> JSON:
    base: JSON = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 4096,
        "messages": [{"role": "user", "content": "hi"}],
    }
    base.update(overrides)
    return base


def _content(content: tuple[JSON | str, ...]) -> str | list[JSON | str]:
    """A single str stays a string content; blocks become a list."""
    return content[0] if len(content) == 1 and isinstance(content[0], str) else list(content)


def user(*content: JSON | str) -> JSON:
    return {"role": "user", "content": _content(content)}


def assistant(*content: JSON | str) -> JSON:
    return {"role": "assistant", "content": _content(content)}


def t(s: str) -> JSON:
    return {"type": "text", "text": s}


def use(id: str = "toolu_1", name: str = "shell") -> JSON:
    return {"type": "tool_use", "id": id, "name": name, "input": {"cmd": "ls"}}


def result(id: str = "toolu_1", content: Any = "ok") -> JSON:
    return {"type": "tool_result", "tool_use_id": id, "content": content}


def loop(*assistant_blocks: JSON) -> list[JSON]:
    """user → assistant(blocks) → user(tool_result): the current tool loop."""
    return [
        user("run ls"),
        {"role": "assistant", "content": list(assistant_blocks)},
        {"role": "user", "content": [result()]},
    ]


def signed(signer: Signer, s: str = "let me think") -> JSON:
    return {"type": "thinking", "thinking": s, "signature": signer.sign(s)}


ENABLED = {"type": "enabled", "budget_tokens": 2048}


# --- Rule 1: top-level fields ---------------------------------------------------------------------


def test_rule1_unknown_top_level_field_rejected() -> None:
    assert validate(body(reasoning={})) == "reasoning: Extra inputs are not permitted"


def test_rule1_every_allowed_field_accepted() -> None:
    full = body(
        system="be brief",
        temperature=0.5,
        top_p=0.9,
        top_k=5,
        stop_sequences=["END"],
        stream=True,
        tools=TOOLS,
        tool_choice={"type": "auto", "disable_parallel_tool_use": True},
        thinking={"type": "disabled"},
        output_config={"effort": "high", "format": {"type": "json_schema", "schema": {}}},
        metadata={"user_id": "u1"},
        cache_control={"type": "ephemeral", "ttl": "1h"},
        service_tier="auto",
        container=None,
        context_management={},
        inference_geo="us",
    )
    assert validate(full) is None


def test_rule1_metadata_only_user_id() -> None:
    assert validate(body(metadata={"user": "x"})) == "metadata.user: Extra inputs are not permitted"


# --- Rule 2: model, max_tokens, messages ----------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"model": None}, "model: Input should be a valid string"),
        ({"max_tokens": 0}, "max_tokens: Input should be greater than or equal to 1"),
        ({"max_tokens": "100"}, "max_tokens: Input should be a valid integer"),
        ({"max_tokens": True}, "max_tokens: Input should be a valid integer"),
        ({"messages": []}, "messages: List should have at least 1 item after validation, not 0"),
        (
            {"messages": [{"role": "system", "content": "x"}]},
            "messages.0.role: Input should be 'user' or 'assistant'",
        ),
        (
            {"messages": [assistant("hi"), user("yo")]},
            'messages: first message must use the "user" role',
        ),
        (
            {"messages": [{"role": "user", "content": "x", "name": "bob"}]},
            "messages.0.name: Extra inputs are not permitted",
        ),
    ],
)
def test_rule2_required_fields_and_roles(overrides: JSON, message: str) -> None:
    assert validate(body(**overrides)) == message


def test_rule2_model_and_max_tokens_required() -> None:
    assert validate({"max_tokens": 5, "messages": [user("x")]}) == "model: Field required"
    assert validate({"model": "m", "messages": [user("x")]}) == "max_tokens: Field required"
    assert validate([1]) == "Input should be a valid dictionary"


# --- Rule 3: content and blocks -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("messages", "message"),
    [
        ([user("   ")], "messages: text content blocks must contain non-whitespace text"),
        ([user(t("  \n"))], "messages: text content blocks must contain non-whitespace text"),
        ([user(t(""))], "messages: text content blocks must be non-empty"),
        (
            [user("")],
            "messages.0: all messages must have non-empty content except for the optional final "
            "assistant message",
        ),
        ([user({"type": "text"})], "messages.0.content.0.text.text: Field required"),
        (
            [user({"type": "text", "text": "x", "foo": 1})],
            "messages.0.content.0.text.foo: Extra inputs are not permitted",
        ),
        (
            [user({"type": "input_text", "text": "x"})],
            "messages.0.content.0: Input tag 'input_text' found using 'type' does not match any of "
            "the expected tags: 'text', 'image', 'document', 'tool_use', 'tool_result', "
            "'thinking', 'redacted_thinking', 'search_result', 'server_tool_use', "
            "'web_search_tool_result'",
        ),
        (
            [user(t("a"), use())],
            "messages.0.content.1.type: `tool_use` blocks can only be used in `assistant` messages",
        ),
        (
            [user("a"), assistant(t("b"), result())],
            "messages.1.content.1.type: `tool_result` blocks can only be used in `user` messages",
        ),
        (
            [
                user("a"),
                assistant({"type": "image", "source": {"type": "url", "url": "https://x"}}),
            ],
            "messages.1.content.0.type: `image` blocks can only be used in `user` messages",
        ),
        (
            [user("a"), assistant({"type": "redacted_thinking", "data": "x"}), user(t("b"))],
            None,  # role checks pass; the signature rule (7) catches it, see below
        ),
        (
            [user("a"), assistant("b ")],
            "messages: final assistant content cannot end with trailing whitespace",
        ),
    ],
)
def test_rule3_content_blocks(messages: list[JSON], message: str | None) -> None:
    got = validate(body(messages=messages))
    if message is None:
        assert got is not None
        assert "redacted_thinking" in got
    else:
        assert got == message


def test_rule3_final_assistant_prefill_may_be_empty() -> None:
    assert validate(body(messages=[user("a"), assistant("")])) is None
    assert validate(body(messages=[user("a"), {"role": "assistant", "content": []}])) is None


def test_rule3_consecutive_same_role_messages_are_merged_before_validation() -> None:
    # Split over two user messages, the tool_result still answers the tool_use right before it,
    # and the second assistant message merges into the first one.
    messages = [
        user("a"),
        user("b"),
        assistant("thinking about it"),
        {"role": "assistant", "content": [use()]},
        {"role": "user", "content": [result()]},
        user("and then?"),
    ]
    assert validate(body(messages=messages, tools=TOOLS)) is None
    # Merging also means "first message must be user" is about the merged first turn.
    assert validate(body(messages=[user("a"), user("b")])) is None


# --- Rule 4: tool_use / tool_result pairing -------------------------------------------------------


def test_rule4_tool_use_id_pattern_and_input_object() -> None:
    bad_id = loop({**use(), "id": "call.1"})
    assert validate(body(messages=bad_id, tools=TOOLS)) == (
        "messages.1.content.0.tool_use.id: String should match pattern '^[a-zA-Z0-9_-]+$'"
    )
    bad_input = loop({**use(), "input": "ls"})
    assert validate(body(messages=bad_input, tools=TOOLS)) == (
        "messages.1.content.0.tool_use.input: Input should be a valid dictionary"
    )


def test_rule4_tool_use_needs_result_in_next_user_turn() -> None:
    messages = [user("a"), assistant(use("toolu_1"), use("toolu_2")), user(result("toolu_1"))]
    assert validate(body(messages=messages, tools=TOOLS)) == (
        "messages.1: `tool_use` ids were found without `tool_result` blocks immediately after: "
        "toolu_2. Each `tool_use` block must have a corresponding `tool_result` block in the next "
        "message."
    )


def test_rule4_trailing_tool_use_is_allowed() -> None:
    assert validate(body(messages=[user("a"), assistant(use())], tools=TOOLS)) is None


def test_rule4_tool_result_must_answer_previous_assistant_turn() -> None:
    messages = [user("a"), assistant(use("toolu_1")), user(result("toolu_1"), result("toolu_9"))]
    assert validate(body(messages=messages, tools=TOOLS)) == (
        "messages.2.content.1: unexpected `tool_use_id` found in `tool_result` blocks: toolu_9. "
        "Each `tool_result` block must have a corresponding `tool_use` block in the previous "
        "message."
    )
    first = [user(result("toolu_1"))]
    assert "unexpected `tool_use_id`" in str(validate(body(messages=first, tools=TOOLS)))


def test_rule4_tool_results_come_first_in_user_turn() -> None:
    messages = [user("a"), assistant(use()), user(t("here:"), result())]
    assert validate(body(messages=messages, tools=TOOLS)) == (
        "messages.2: Did not find 1 `tool_result` block(s) at the beginning of this message. "
        "Messages following `tool_use` blocks must begin with a matching number of "
        "`tool_result` blocks."
    )


def test_rule4_tool_result_content_shapes() -> None:
    def check(content: Any) -> str | None:
        messages = [user("a"), assistant(use()), user(result(content=content))]
        return validate(body(messages=messages, tools=TOOLS))

    assert check("") is None
    assert check([t("x"), {"type": "image", "source": {"type": "url", "url": "https://i"}}]) is None
    assert check([t("")]) == "messages: text content blocks must be non-empty"
    assert check([use()]) is not None
    assert check({"text": "x"}) == (
        "messages.2.content.0.tool_result.content: Input should be a valid string or a valid list"
    )


def test_rule4_tool_use_ids_unique_and_results_single() -> None:
    messages = [user("a"), assistant(use(), use()), user(result())]
    assert validate(body(messages=messages, tools=TOOLS)) == (
        "messages.1.content.1: `tool_use` ids must be unique"
    )
    messages = [user("a"), assistant(use()), user(result(), result())]
    assert "Found multiple `tool_result` blocks with id: toolu_1" in str(
        validate(body(messages=messages, tools=TOOLS))
    )


# --- Rule 5: tools and tool_choice ----------------------------------------------------------------


def test_rule5_tool_blocks_require_tools() -> None:
    assert validate(body(messages=loop(use()))) == (
        "Requests which include `tool_use` or `tool_result` blocks must define tools."
    )


@pytest.mark.parametrize(
    ("tools", "message"),
    [
        (
            [{"name": "web.search", "input_schema": {"type": "object"}}],
            "tools.0.custom.name: String should match pattern '^[a-zA-Z0-9_-]{1,128}$'",
        ),
        (
            [{"name": "a" * 129, "input_schema": {"type": "object"}}],
            "tools.0.custom.name: String should match pattern '^[a-zA-Z0-9_-]{1,128}$'",
        ),
        ([*TOOLS, *TOOLS], "tools: Tool names must be unique."),
        ([{"name": "x"}], "tools.0.custom.input_schema: Field required"),
        (
            [{"name": "x", "input_schema": {"type": "string"}}],
            "tools.0.custom.input_schema.type: Input should be 'object'",
        ),
        (
            [{"name": "x", "input_schema": {"type": "object"}, "parameters": {}}],
            "tools.0.custom.parameters: Extra inputs are not permitted",
        ),
        (
            [{"type": "function", "name": "x", "input_schema": {"type": "object"}}],
            "tools.0: Input tag 'function' found using 'type' does not match any of the expected "
            "tags: 'custom', 'web_search_20250305'",
        ),
        (
            [{"type": "web_search_20250305", "name": "web_search", "max_uses": 5, "x": 1}],
            "tools.0.web_search_20250305.x: Extra inputs are not permitted",
        ),
    ],
)
def test_rule5_tool_definitions(tools: list[JSON], message: str) -> None:
    assert validate(body(tools=tools)) == message


def test_rule5_valid_tools() -> None:
    tools = [
        {
            "type": "custom",
            "name": "apply_patch",
            "description": "d",
            "input_schema": {"type": "object", "properties": {}},
            "strict": True,
            "cache_control": {"type": "ephemeral"},
        },
        {"type": "web_search_20250305", "name": "web_search", "allowed_domains": ["a.com"]},
    ]
    assert validate(body(tools=tools)) is None


@pytest.mark.parametrize(
    ("choice", "message"),
    [
        ({"type": "auto"}, None),
        ({"type": "any", "disable_parallel_tool_use": True}, None),
        ({"type": "tool", "name": "shell"}, None),
        ({"type": "none"}, None),
        (
            {"type": "tool", "name": "nope"},
            "tool_choice.tool.name: Tool 'nope' not found in provided tools",
        ),
        (
            {"type": "none", "disable_parallel_tool_use": True},
            "tool_choice.none.disable_parallel_tool_use: Extra inputs are not permitted",
        ),
        (
            {"type": "required"},
            "tool_choice: Input tag 'required' found using 'type' does not match any of the "
            "expected tags: 'auto', 'any', 'tool', 'none'",
        ),
    ],
)
def test_rule5_tool_choice(choice: JSON, message: str | None) -> None:
    assert validate(body(tools=TOOLS, tool_choice=choice)) == message


def test_rule5_tool_choice_needs_tools() -> None:
    message = "tool_choice may only be specified while providing tools."
    assert validate(body(tool_choice={"type": "auto"})) == message


# --- Rule 6: thinking -----------------------------------------------------------------------------


def test_rule6_thinking_config_shapes() -> None:
    assert validate(body(thinking=ENABLED)) is None
    assert validate(body(thinking={"type": "adaptive", "display": "summarized"})) is None
    assert validate(body(thinking={"type": "disabled"})) is None
    assert validate(body(thinking={"type": "enabled", "budget_tokens": 1000})) == (
        "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024"
    )
    assert validate(body(thinking={"type": "enabled"})) == (
        "thinking.enabled.budget_tokens: Field required"
    )
    assert validate(body(thinking={"type": "adaptive", "budget_tokens": 2048})) == (
        "thinking.adaptive.budget_tokens: Extra inputs are not permitted"
    )


def test_rule6_budget_below_max_tokens_unless_interleaved() -> None:
    b = body(max_tokens=2048, thinking=ENABLED)
    assert str(validate(b)).startswith("`max_tokens` must be greater than `thinking.budget_tokens`")
    assert validate(b, betas=["interleaved-thinking-2025-05-14"]) is None


@pytest.mark.parametrize("model", ["claude-opus-4-7", "claude-opus-4-7-20260416", "claude-5-x"])
def test_rule6_adaptive_only_models_reject_enabled(model: str) -> None:
    assert validate(body(model=model, thinking=ENABLED)) == (
        '"thinking.type.enabled" is not supported for this model. Use "thinking.type.adaptive" '
        'and "output_config.effort" to control thinking behavior.'
    )
    assert validate(body(model=model, thinking={"type": "adaptive"})) is None
    assert validate(body(model=model, thinking=ENABLED), adaptive_only_models=()) is None


@pytest.mark.parametrize("mode", [ENABLED, {"type": "adaptive"}])
def test_rule6_sampling_and_tool_choice_with_thinking(mode: JSON) -> None:
    def check(**kw: Any) -> str | None:
        return validate(body(thinking=mode, **kw))

    assert str(check(temperature=0.7)).startswith(
        "`temperature` may only be set to 1 when thinking is enabled or in adaptive mode"
    )
    assert check(temperature=1) is None
    assert str(check(top_k=5)).startswith("`top_k` must be unset when thinking is enabled")
    assert str(check(top_p=0.9)).startswith("`top_p` must be greater than or equal to 0.95")
    assert check(top_p=0.95) is None
    for forced in ({"type": "any"}, {"type": "tool", "name": "shell"}):
        assert check(tools=TOOLS, tool_choice=forced) == (
            "Thinking may not be enabled when tool_choice forces tool use."
        )
    assert check(tools=TOOLS, tool_choice={"type": "auto"}) is None


def test_rule6_tool_loop_assistant_must_start_with_thinking() -> None:
    signer = Signer()
    b = body(messages=loop(t("Running it."), use()), tools=TOOLS, thinking=ENABLED)
    assert validate(b, signer=signer) == (
        "messages.1.content.0.type: Expected `thinking` or `redacted_thinking`, but found `text`. "
        "When `thinking` is enabled, a final `assistant` message must start with a thinking "
        "block (preceeding the lastmost set of `tool_use` and `tool_result` blocks). We "
        "recommend you include thinking blocks from previous turns. To avoid this requirement, "
        "disable `thinking`. Please consult our documentation at "
        "https://docs.claude.com/en/docs/build-with-claude/extended-thinking"
    )
    b["messages"] = loop(signed(signer), use())
    assert validate(b, signer=signer) is None
    # Thinking off: no requirement. Conversation moved on (user text last): no requirement.
    assert validate(body(messages=loop(use()), tools=TOOLS), signer=signer) is None
    moved_on = [*loop(use()), assistant("done"), user("thanks")]
    assert validate(body(messages=moved_on, tools=TOOLS, thinking=ENABLED)) is None


# --- Rule 7: signatures ---------------------------------------------------------------------------


def test_rule7_thinking_signature_must_be_the_fakes() -> None:
    signer = Signer()
    good = signed(signer, "step one")
    b = body(messages=[user("a"), assistant(good, t("answer")), user("more")])
    assert validate(b, signer=signer) is None
    assert validate(b, signer=Signer()) == (
        "messages.1.content.0: Invalid `signature` in `thinking` block"
    )
    b["messages"][1]["content"][0] = {**good, "thinking": "step one."}  # text edited
    assert validate(b, signer=signer) == (
        "messages.1.content.0: Invalid `signature` in `thinking` block"
    )


def test_rule7_redacted_thinking_must_be_produced_by_the_fake() -> None:
    signer = Signer()
    block = {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va"}
    b = body(messages=[user("a"), assistant(block, t("answer")), user("more")])
    assert validate(b, signer=signer) == (
        "messages.1.content.0: Invalid `data` in `redacted_thinking` block"
    )
    message_json(Reply([redacted_thinking("EmwKAhgBEgy3va")]), "m", signer, "msg_1")
    assert validate(b, signer=signer) is None


# --- Rule 8: sampling ranges, output_config, cache_control ----------------------------------------


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"temperature": 1.5},
            "temperature: Input should be less than or equal to 1 and greater than or equal to 0",
        ),
        (
            {"top_p": -0.1},
            "top_p: Input should be less than or equal to 1 and greater than or equal to 0",
        ),
        (
            {"output_config": {"effort": "minimal"}},
            "output_config.effort: Input should be 'low', 'medium', 'high', 'xhigh' or 'max'",
        ),
        (
            {"output_config": {"format": {"type": "json_object"}}},
            "output_config.format: Input tag 'json_object' found using 'type' does not match any "
            "of the expected tags: 'json_schema'",
        ),
        (
            {"output_config": {"effort": "low"}, "thinking": ENABLED},
            "output_config.effort: effort requires adaptive thinking or no thinking; it cannot "
            "be combined with `thinking.type.enabled`",
        ),
        ({"output_config": {"effort": "max"}, "thinking": {"type": "adaptive"}}, None),
        (
            {"cache_control": {"type": "ephemeral", "ttl": "24h"}},
            "cache_control.ttl: Input should be '5m' or '1h'",
        ),
        (
            {"cache_control": {"type": "persistent"}},
            "cache_control: Input tag 'persistent' found using 'type' does not match any of the "
            "expected tags: 'ephemeral'",
        ),
    ],
)
def test_rule8_ranges_and_output_config(overrides: JSON, message: str | None) -> None:
    assert validate(body(**overrides)) == message


def test_rule8_at_most_four_cache_breakpoints() -> None:
    cc = {"type": "ephemeral"}
    system = [{"type": "text", "text": "s", "cache_control": cc}]
    tools = [{**TOOLS[0], "cache_control": cc}]
    content = [{"type": "text", "text": str(i), "cache_control": cc} for i in range(2)]
    b = body(system=system, tools=tools, messages=[user(*content)])
    assert validate(b) is None  # 1 + 1 + 2
    assert validate({**b, "cache_control": cc}) == (
        "A maximum of 4 blocks with cache_control may be provided. Found 5."
    )
    # Blocks nested in a tool_result count too.
    nested = [{**t(str(i)), "cache_control": cc} for i in range(3)]
    b["messages"] = [user("a"), assistant(use()), user(result(content=nested))]
    assert validate(b) == "A maximum of 4 blocks with cache_control may be provided. Found 5."


# --- Rule 9: system -------------------------------------------------------------------------------


def test_rule9_system() -> None:
    assert validate(body(system="be brief")) is None
    assert validate(body(system=[t("a"), t("b")])) is None
    assert validate(body(system=[t("")])) == "system: text content blocks must be non-empty"
    assert validate(body(system=[t(" ")])) == (
        "system: text content blocks must contain non-whitespace text"
    )
    assert validate(body(system=[{"type": "image"}])) == (
        "system.0: Input tag 'image' found using 'type' does not match any of the expected "
        "tags: 'text'"
    )
    assert validate(body(system={"text": "x"})) == (
        "system: Input should be a valid string or a valid list"
    )


# --- Rule 10: image and document sources ----------------------------------------------------------


@pytest.mark.parametrize(
    ("block", "message"),
    [
        (
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
            None,
        ),
        ({"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}}, None),
        (
            {"type": "image", "source": {"type": "base64", "media_type": "image/bmp", "data": PNG}},
            "messages.0.content.0.image.source.base64.media_type: Input should be 'image/jpeg', "
            "'image/png', 'image/gif' or 'image/webp'",
        ),
        (
            {
                "type": "image",
                "source": {
                    "type": "base64",
                    "media_type": "image/png",
                    "data": "data:image/png;base64," + PNG,
                },
            },
            "messages.0.content.0.image.source.base64.data: Invalid base64 data",
        ),
        (
            {"type": "image", "source": {"type": "file", "file_id": "f"}},
            "messages.0.content.0.image.source: Input tag 'file' found using 'type' does not "
            "match any of the expected tags: 'base64', 'url'",
        ),
        (
            {"type": "image", "source": {"type": "url", "url": "https://x", "detail": "low"}},
            "messages.0.content.0.image.source.url.detail: Extra inputs are not permitted",
        ),
        (
            {
                "type": "document",
                "title": "a.pdf",
                "source": {"type": "base64", "media_type": "application/pdf", "data": PNG},
            },
            None,
        ),
        (
            {
                "type": "document",
                "source": {"type": "text", "media_type": "text/plain", "data": "x"},
            },
            None,
        ),
        ({"type": "document", "source": {"type": "url", "url": "https://x/a.pdf"}}, None),
        (
            {
                "type": "document",
                "source": {"type": "base64", "media_type": "text/csv", "data": PNG},
            },
            "messages.0.content.0.document.source.base64.media_type: Input should be "
            "'application/pdf'",
        ),
        ({"type": "image"}, "messages.0.content.0.image.source: Field required"),
        (  # non-ASCII data must be a rejection, not a crash
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "é"}},
            "messages.0.content.0.image.source.base64.data: Invalid base64 data",
        ),
    ],
)
def test_rule10_image_and_document_sources(block: JSON, message: str | None) -> None:
    assert validate(body(messages=[user(block, t("what is this?"))])) == message


# --- validate() never crashes ---------------------------------------------------------------------

_KEYS = [
    "type",
    "text",
    "role",
    "content",
    "id",
    "input",
    "source",
    "name",
    "tool_use_id",
    "thinking",
    "signature",
    "data",
    "cache_control",
    "media_type",
    "url",
    "budget_tokens",
]
_TYPES = [
    "text",
    "image",
    "document",
    "tool_use",
    "tool_result",
    "thinking",
    "redacted_thinking",
    "search_result",
    "base64",
    "url",
    "ephemeral",
    "enabled",
    "adaptive",
    "object",
]
_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from(_TYPES)
    | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(_KEYS), inner, max_size=5)
    ),
    max_leaves=16,
)


@settings(max_examples=500, deadline=None)
@given(
    messages=st.lists(
        st.fixed_dictionaries({"role": st.sampled_from(["user", "assistant"]), "content": _json}),
        max_size=4,
    ),
    tools=_json,
    thinking=_json,
)
def test_validate_returns_a_message_for_any_input(messages: Any, tools: Any, thinking: Any) -> None:
    got = validate(body(messages=messages, tools=tools, thinking=thinking))
    assert got is None or isinstance(got, str)


def test_validate_non_ascii_signature_is_a_rejection_not_a_crash() -> None:
    block = {"type": "thinking", "thinking": "x", "signature": "sïg"}
    b = body(messages=[user("a"), assistant(block, t("b")), user("c")])
    assert validate(b) == "messages.1.content.0: Invalid `signature` in `thinking` block"


# --- Reply encoders -------------------------------------------------------------------------------


def test_reply_stop_reason_defaults() -> None:
    assert Reply([text("x")]).stop_reason == "end_turn"
    assert Reply([text("x"), tool_use("shell", {})]).stop_reason == "tool_use"
    assert Reply([tool_use("shell", {})], stop_reason="max_tokens").stop_reason == "max_tokens"
    assert tool_use("s", {}).id.startswith("toolu_")
    assert tool_use("s", {}, id="call_1").id == "call_1"


def _reassemble(events: list[tuple[str, JSON]]) -> list[JSON]:
    """What an Anthropic SDK accumulator would build from the events."""
    content: list[JSON] = []
    partial: dict[int, str] = {}
    for name, data in events:
        if name == "content_block_start":
            content.append(dict(data["content_block"]))
        elif name == "content_block_delta":
            block, delta = content[data["index"]], data["delta"]
            kind = delta["type"]
            if kind == "input_json_delta":
                partial[data["index"]] = partial.get(data["index"], "") + delta["partial_json"]
            elif kind == "signature_delta":
                block["signature"] = delta["signature"]
            elif kind == "citations_delta":
                block.setdefault("citations", []).append(delta["citation"])
            else:
                field = "text" if kind == "text_delta" else "thinking"
                block[field] += delta[field]
        elif name == "content_block_stop" and data["index"] in partial:
            raw = partial[data["index"]]
            content[data["index"]]["input"] = json.loads(raw) if raw else {}
    return content


def test_stream_events_match_the_message() -> None:
    signer = Signer()
    reply = Reply(
        [
            thinking("Let me think about this carefully."),
            redacted_thinking("EmwKAhgB"),
            text("Héllo wörld, this is long enough to chunk."),
            tool_use("shell", {"cmd": ["ls", "-la"], "cwd": "/tmp"}, id="toolu_a"),
            tool_use("noargs", {}, id="toolu_b"),
        ],
        usage={
            "input_tokens": 5,
            "output_tokens": 9,
            "cache_read_input_tokens": 3,
            "cache_creation_input_tokens": 2,
        },
    )
    events = stream_events(reply, "claude-x", signer, chunk_size=7, msg_id="msg_1")
    message = message_json(reply, "claude-x", signer, "msg_1")
    names = [n for n, _ in events]
    assert names[:2] == ["message_start", "ping"]
    assert names[-2:] == ["message_delta", "message_stop"]
    assert all(d["type"] == n for n, d in events)
    start = events[0][1]["message"]
    assert start["content"] == []
    assert start["stop_reason"] is None
    assert start["model"] == "claude-x"
    assert start["usage"] == {
        "input_tokens": 5,
        "cache_read_input_tokens": 3,
        "cache_creation_input_tokens": 2,
        "output_tokens": 1,
    }
    assert events[-2][1]["delta"] == {"stop_reason": "tool_use", "stop_sequence": None}
    assert events[-2][1]["usage"]["output_tokens"] == 9
    assert _reassemble(events) == message["content"]
    starts = [d["content_block"] for n, d in events if n == "content_block_start"]
    assert starts[0] == {"type": "thinking", "thinking": "", "signature": ""}
    assert starts[1] == {"type": "redacted_thinking", "data": "EmwKAhgB"}
    assert starts[3]["input"] == {}
    deltas = [d["delta"] for n, d in events if n == "content_block_delta"]
    assert all(len(d.get("text", "")) <= 7 for d in deltas)
    json_deltas = [d for d in deltas if d["type"] == "input_json_delta"]
    assert json_deltas[0]["partial_json"] == ""
    assert json_deltas[-1] == {"type": "input_json_delta", "partial_json": ""}  # empty input
    assert message["content"][0]["signature"] == signer.sign("Let me think about this carefully.")


def test_stream_events_of_a_web_search_turn() -> None:
    """Server tool use streams like a tool use; its result is complete in its start; citations
    arrive as citations_delta before the cited text (docs: messages-streaming, web search)."""
    signer = Signer()
    cite = web_citation("https://a.example/", "A", "quoted")
    reply = Reply(
        [
            server_tool_use("q", id="srvtoolu_1"),
            web_search_result("srvtoolu_1", [("https://a.example/", "A")]),
            text("Answer.", citations=[cite]),
        ]
    )
    events = stream_events(reply, "claude-x", signer, chunk_size=4, msg_id="msg_1")
    message = message_json(reply, "claude-x", signer, "msg_1")
    assert _reassemble(events) == message["content"]
    assert message["content"][1]["content"][0]["url"] == "https://a.example/"
    assert message["content"][2] == {"type": "text", "text": "Answer.", "citations": [cite]}
    deltas = [d["delta"]["type"] for n, d in events if n == "content_block_delta"]
    assert deltas.index("citations_delta") < deltas.index("text_delta")
    assert message["stop_reason"] == "end_turn"


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        ({"type": "object", "properties": {}, "additionalProperties": False}, None),
        (
            {"type": "object", "properties": {}},
            "output_config.format.schema: For 'object' type, 'additionalProperties' must be "
            "explicitly set to false",
        ),
        (
            {
                "type": "object",
                "properties": {"a": {"type": "string", "minLength": 1}},
                "additionalProperties": False,
            },
            "output_config.format.schema.properties.a: JSON schema keyword 'minLength' is not "
            "supported for structured outputs",
        ),
        (
            {"type": "string", "format": "iri"},
            "output_config.format.schema.format: string format 'iri' is not supported",
        ),
        (
            {"type": "array", "items": {"type": "string"}, "minItems": 2},
            "output_config.format.schema.minItems: only 0 and 1 are supported",
        ),
    ],
)
def test_rule8_structured_output_schema_subset(schema: JSON, message: str | None) -> None:
    fmt = {"format": {"type": "json_schema", "schema": schema}}
    assert validate(body(output_config=fmt)) == message


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            {"allowed_domains": ["a.com"], "user_location": {"type": "approximate", "city": "X"}},
            None,
        ),
        (
            {"allowed_domains": [""]},
            "tools.0.web_search_20250305.allowed_domains.0: Input should be a valid string",
        ),
        (
            {"user_location": {"type": "exact"}},
            "tools.0.web_search_20250305.user_location: Input tag 'exact' found using 'type' "
            "does not match any of the expected tags: 'approximate'",
        ),
        (
            {"user_location": {"type": "approximate", "street": "x"}},
            "tools.0.web_search_20250305.user_location.street: Extra inputs are not permitted",
        ),
    ],
)
def test_rule5_web_search_options(extra: JSON, message: str | None) -> None:
    tool = {"type": "web_search_20250305", "name": "web_search", **extra}
    assert validate(body(tools=[tool])) == message


# --- Server ---------------------------------------------------------------------------------------


@pytest.fixture
async def fake() -> AsyncIterator[FakeAnthropic]:
    async with FakeAnthropic() as f:
        yield f


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def sse(raw: str) -> list[tuple[str, JSON]]:
    out = []
    for frame in raw.split("\n\n"):
        if frame:
            event, data = frame.split("\n")
            assert event.startswith("event: ")
            assert data.startswith("data: ")
            out.append((event[7:], json.loads(data[6:])))
    return out


async def test_server_non_streaming_default_reply(
    fake: FakeAnthropic, http: aiohttp.ClientSession
) -> None:
    assert fake.base_url.startswith("http://127.0.0.1:")
    async with http.post(fake.base_url + "/v1/messages", json=body(), headers=HEADERS) as r:
        assert r.status == 200
        assert r.headers["request-id"].startswith("req_")
        message = await r.json()
    assert message["id"].startswith("msg_")
    assert message["content"] == [{"type": "text", "text": "ok"}]
    assert message["model"] == "claude-sonnet-4-5"
    assert message["stop_reason"] == "end_turn"
    [record] = fake.requests
    assert record.path == "/v1/messages"
    assert record.status == 200
    assert record.json == body()
    assert record.headers["x-api-key"] == "sk-test"


async def test_server_auth_version_and_json(
    fake: FakeAnthropic, http: aiohttp.ClientSession
) -> None:
    url = fake.base_url + "/v1/messages"
    async with http.post(url, json=body(), headers={"anthropic-version": "2023-06-01"}) as r:
        assert r.status == 401
        error = await r.json()
    assert error["type"] == "error"
    assert error["error"]["type"] == "authentication_error"
    assert error["request_id"].startswith("req_")
    assert r.headers["request-id"]
    bearer = {"authorization": "Bearer tok", "anthropic-version": "2023-06-01"}
    async with http.post(url, json=body(), headers=bearer) as r:
        assert r.status == 200
    async with http.post(url, json=body(), headers={"x-api-key": "k"}) as r:
        assert r.status == 400
    async with http.post(url, data=b"{nope", headers=HEADERS) as r:
        assert r.status == 400
        assert (await r.json())["error"]["type"] == "invalid_request_error"
    assert fake.rejections == ["anthropic-version: header is required", "Invalid JSON body"]
    assert [rec.status for rec in fake.requests] == [401, 200, 400, 400]


async def test_server_rejects_invalid_body_without_consuming_script(
    fake: FakeAnthropic, http: aiohttp.ClientSession
) -> None:
    fake.script.append(Reply([text("scripted")]))
    url = fake.base_url + "/v1/messages"
    async with http.post(url, json=body(max_tokens=0), headers=HEADERS) as r:
        assert r.status == 400
        error = await r.json()
    assert error["error"] == {
        "type": "invalid_request_error",
        "message": "max_tokens: Input should be greater than or equal to 1",
    }
    assert fake.rejections == ["max_tokens: Input should be greater than or equal to 1"]
    assert len(fake.script) == 1


async def test_server_script_then_responder_and_path_prefix(
    fake: FakeAnthropic, http: aiohttp.ClientSession
) -> None:
    fake.script.extend(
        [
            Reply([text("one")]),
            ErrorReply(429, "rate_limit_error", "slow down", {"retry-after": "3"}),
        ]
    )
    seen: list[JSON] = []

    def responder(request: JSON) -> Reply:
        seen.append(request)
        return Reply([text("from responder")])

    fake.responder = responder
    url = fake.base_url + "/anthropic/v1/messages"
    replies = []
    for _ in range(3):
        async with http.post(url, json=body(), headers=HEADERS) as r:
            replies.append((r.status, await r.json(), r.headers.get("retry-after")))
    assert replies[0][1]["content"][0]["text"] == "one"
    assert replies[1][0] == 429
    assert replies[1][2] == "3"
    assert replies[1][1]["error"] == {"type": "rate_limit_error", "message": "slow down"}
    assert replies[2][1]["content"][0]["text"] == "from responder"
    assert seen == [body()]
    assert fake.requests[0].path == "/anthropic/v1/messages"


async def test_server_streams_sse_and_signatures_round_trip(
    fake: FakeAnthropic, http: aiohttp.ClientSession
) -> None:
    fake.script.append(Reply([thinking("I should list files."), tool_use("shell", {"cmd": "ls"})]))
    url = fake.base_url + "/v1/messages"
    request = body(stream=True, tools=TOOLS, thinking=ENABLED)
    async with http.post(url, json=request, headers=HEADERS) as r:
        assert r.status == 200
        assert r.headers["content-type"] == "text/event-stream; charset=utf-8"
        events = sse((await r.read()).decode())
    assert [n for n, _ in events][-1] == "message_stop"
    content = _reassemble(events)
    assert content[0]["signature"] == fake.sign("I should list files.")
    request["messages"] = [
        request["messages"][0],
        assistant(*content),
        user(result(content[1]["id"])),
    ]
    async with http.post(url, json=request, headers=HEADERS) as r:
        assert r.status == 200, await r.text()
        await r.read()
    request["messages"][1]["content"][0]["thinking"] += " (edited)"
    async with http.post(url, json=request, headers=HEADERS) as r:
        assert r.status == 400
    assert fake.rejections == ["messages.1.content.0: Invalid `signature` in `thinking` block"]


async def test_server_stream_fault_error_event(
    fake: FakeAnthropic, http: aiohttp.ClientSession
) -> None:
    fake.script.append(StreamFault(Reply([text("partial answer")]), 4, "error_event"))
    async with http.post(
        fake.base_url + "/v1/messages", json=body(stream=True), headers=HEADERS
    ) as r:
        events = sse((await r.read()).decode())
    assert [n for n, _ in events] == [
        "message_start",
        "ping",
        "content_block_start",
        "content_block_delta",
        "error",
    ]
    assert events[-1][1] == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "Overloaded"},
    }
    assert fake.requests[0].status == 200


async def test_server_stream_fault_eof_and_reset(
    fake: FakeAnthropic, http: aiohttp.ClientSession
) -> None:
    fake.script.append(StreamFault(Reply([text("partial answer")]), 3, "eof"))
    fake.script.append(StreamFault(Reply([text("partial answer")]), 3, "reset"))
    url = fake.base_url + "/v1/messages"
    async with http.post(url, json=body(stream=True), headers=HEADERS) as r:
        events = sse((await r.read()).decode())
    assert [n for n, _ in events] == ["message_start", "ping", "content_block_start"]
    async with http.post(url, json=body(stream=True), headers=HEADERS) as r:
        with pytest.raises(aiohttp.ClientPayloadError):
            await r.read()


async def test_server_stream_fault_hang_records_client_disconnect(
    fake: FakeAnthropic, http: aiohttp.ClientSession
) -> None:
    fake.script.append(StreamFault(Reply([text("partial")]), 2, "hang"))
    loop = asyncio.get_running_loop()
    async with http.post(
        fake.base_url + "/v1/messages", json=body(stream=True), headers=HEADERS
    ) as r:
        first = await r.content.readuntil(b"\n\n")
        assert first.startswith(b"event: message_start\n")
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(r.content.read(), 0.2)
        closed_at = loop.time()
        r.close()  # drop the connection mid-stream
    for _ in range(200):
        if fake.closed_connections:
            break
        await asyncio.sleep(0.01)
    [seen] = fake.closed_connections
    assert closed_at <= seen < closed_at + 2
    assert fake.requests[0].status == 200


async def test_server_non_streaming_hang_is_cancelled_by_client_timeout(
    fake: FakeAnthropic, http: aiohttp.ClientSession
) -> None:
    fake.script.append(StreamFault(Reply([text("x")]), 0, "hang"))
    timeout = aiohttp.ClientTimeout(total=0.2)
    with pytest.raises(asyncio.TimeoutError):
        async with http.post(
            fake.base_url + "/v1/messages", json=body(), headers=HEADERS, timeout=timeout
        ) as r:
            await r.read()
    for _ in range(200):
        if fake.closed_connections:
            break
        await asyncio.sleep(0.01)
    assert len(fake.closed_connections) == 1


async def test_server_models_and_unknown_paths(
    fake: FakeAnthropic, http: aiohttp.ClientSession
) -> None:
    async with http.get(fake.base_url + "/v1/models", headers=HEADERS) as r:
        listing = await r.json()
    ids = [m["id"] for m in listing["data"]]
    assert "claude-sonnet-4-5" in ids
    assert listing["has_more"] is False
    assert listing["first_id"] == ids[0]
    assert listing["last_id"] == ids[-1]
    sonnet = next(m for m in listing["data"] if m["id"] == "claude-sonnet-4-5")
    assert sonnet == {
        "type": "model",
        "id": "claude-sonnet-4-5",
        "display_name": "Claude Sonnet 4.5",
        "created_at": "2025-09-29T00:00:00Z",
    }
    async with http.get(fake.base_url + "/v1/models") as r:
        assert r.status == 401
    async with http.post(fake.base_url + "/v1/complete", json={}, headers=HEADERS) as r:
        assert r.status == 404
        assert (await r.json())["error"]["type"] == "not_found_error"
    assert fake.requests == []


async def test_server_stream_delays(fake: FakeAnthropic, http: aiohttp.ClientSession) -> None:
    fake.script.append(Reply([text("slow")], delays={2: 0.3}))
    loop = asyncio.get_running_loop()
    async with http.post(
        fake.base_url + "/v1/messages", json=body(stream=True), headers=HEADERS
    ) as r:
        first = await r.content.readuntil(b"\n\n")
        await r.content.readuntil(b"\n\n")  # ping
        t0 = loop.time()
        await r.content.readuntil(b"\n\n")  # the content_block_start, after the delay
        waited = loop.time() - t0
        await r.read()
    assert first.startswith(b"event: message_start")
    assert waited >= 0.25


async def test_server_cache_simulation_reports_cache_usage(
    http: aiohttp.ClientSession,
) -> None:
    marked = {"type": "text", "text": "doc " * 400, "cache_control": {"type": "ephemeral"}}
    async with FakeAnthropic(cache_simulation=True) as fake:
        usages = []
        for _ in range(2):
            req = body(messages=[{"role": "user", "content": [marked]}])
            async with http.post(fake.base_url + "/v1/messages", json=req, headers=HEADERS) as r:
                usages.append((await r.json())["usage"])
        assert fake.cache is not None
        assert fake.cache.log == [
            {
                k: u[k]
                for k in ("input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")
            }
            for u in usages
        ]
    assert usages[0]["cache_creation_input_tokens"] > 0
    assert usages[0]["cache_read_input_tokens"] == 0
    assert usages[1]["cache_read_input_tokens"] == usages[0]["cache_creation_input_tokens"]
    assert usages[1]["cache_creation_input_tokens"] == 0
