"""Property: whatever message history a Chat Completions client sends, translate_request either
refuses it with a BadRequest naming a field, or produces a body the strict fake upstream accepts.
The generator is deliberately nasty: tool messages before or without their calls, missing,
duplicate and colliding call ids, empty and whitespace-only texts, assistant-first histories,
histories ending on an assistant message or unanswered calls, thinking_blocks that are valid,
foreign or garbage, and thinking, sampling, tool_choice and output settings on top."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from llmproxy.dialects.anthropic_models import profile_for
from llmproxy.dialects.anthropic_providers import ANTHROPIC, GENERIC, ProviderProfile
from llmproxy.envelope import Envelope
from llmproxy.errors import BadRequest
from routes.claude2chat.request import Translated, decode_request, translate_request
from tests.routes.claude2chat.translate_helpers import JSON, KEY, MODELS, SONNET_46
from tests.support.fake_anthropic import Signer, validate

#: Shared by the generator (which signs thinking) and the check (which verifies it).
SIGNER = Signer()
ENVELOPE = Envelope(KEY)
REDACTED = "redacted-payload-0"
SIGNER.redacted.add(REDACTED)
ALL_MODELS = (*MODELS, SONNET_46, "claude-3-5-haiku")

TEXTS = st.one_of(
    st.sampled_from(["", " ", "\n\t ", "hi", "trailing  ", "  leading", "a\n", "ok"]),
    st.text(max_size=8),
)
CALL_IDS = st.sampled_from(
    ["call_1", "call_2", "call.1", "call 1", "toolu_01", "", "c:1", "call_1 ", "ü", "call-2"]
)
NAMES = st.sampled_from(["get_weather", "sleep", "mcp.fs.read", "not declared!", "x" * 140])
TOOLS: dict[str, JSON] = {
    name: {"type": "function", "function": {"name": name, "parameters": {"type": "object"}}}
    for name in ("get_weather", "sleep", "mcp.fs.read")
}


@st.composite
def text_content(draw: st.DrawFn) -> Any:
    return draw(
        st.one_of(
            TEXTS,
            st.lists(st.builds(lambda t: {"type": "text", "text": t}, TEXTS), max_size=3),
        )
    )


@st.composite
def thinking_entries(draw: st.DrawFn, model: str) -> Any:
    kind = draw(st.sampled_from(["valid", "valid", "redacted", "other_model", "garbage", "raw"]))
    text = draw(TEXTS)
    block = {"type": "thinking", "thinking": text, "signature": SIGNER.sign(text)}
    if kind == "valid":
        return {"type": "thinking", "thinking": text, "signature": ENVELOPE.seal(model, [block])}
    if kind == "redacted":
        token = ENVELOPE.seal(model, [{"type": "redacted_thinking", "data": REDACTED}])
        return {"type": "redacted_thinking", "data": token}
    if kind == "other_model":
        return {"type": "thinking", "thinking": text, "signature": ENVELOPE.seal("m", [block])}
    if kind == "raw":
        return block
    return draw(st.sampled_from([{"type": "thinking"}, "junk", {"type": "x", "data": 1}]))


@st.composite
def tool_calls(draw: st.DrawFn) -> JSON:
    arguments = draw(st.sampled_from(["{}", '{"a": 1}', "", "not json", "[1]", "null"]))
    return {
        "id": draw(CALL_IDS),
        "type": "function",
        "function": {"name": draw(NAMES), "arguments": arguments},
    }


@st.composite
def chat_messages(draw: st.DrawFn, model: str) -> JSON:
    role = draw(st.sampled_from(["user", "assistant", "assistant", "tool", "system", "developer"]))
    if role == "tool":
        return {"role": "tool", "tool_call_id": draw(CALL_IDS), "content": draw(text_content())}
    msg: JSON = {"role": role, "content": draw(text_content())}
    if role == "assistant":
        if draw(st.booleans()):
            msg["content"] = None
        if draw(st.booleans()):
            msg["tool_calls"] = draw(st.lists(tool_calls(), min_size=1, max_size=3))
        if draw(st.booleans()):
            msg["thinking_blocks"] = draw(st.lists(thinking_entries(model), max_size=2))
        if draw(st.integers(0, 9)) == 0:
            msg["reasoning_content"] = draw(TEXTS)
    return msg


@st.composite
def requests(draw: st.DrawFn) -> tuple[JSON, str, ProviderProfile, bool]:
    model = draw(st.sampled_from(ALL_MODELS))
    # The fake checks Anthropic's own rules: providers that relax them are not drawn.
    provider = draw(st.sampled_from([GENERIC, ANTHROPIC]))
    auto_cache = draw(st.booleans())
    body: JSON = {
        "model": "gpt-4o",
        "messages": draw(st.lists(chat_messages(model), min_size=1, max_size=10)),
    }
    tools = draw(st.lists(st.sampled_from(sorted(TOOLS)), unique=True, max_size=3))
    if tools:
        body["tools"] = [TOOLS[t] for t in tools]
        body["tool_choice"] = draw(
            st.sampled_from(
                [
                    None,
                    "auto",
                    "none",
                    "required",
                    {"type": "function", "function": {"name": tools[0]}},
                ]
            )
        )
        body["parallel_tool_calls"] = draw(st.sampled_from([None, True, False]))
    body["reasoning_effort"] = draw(
        st.sampled_from([None, "none", "minimal", "low", "medium", "high", "xhigh"])
    )
    body["temperature"] = draw(st.sampled_from([None, 0.0, 0.3, 1.0, 2.0]))
    body["top_p"] = draw(st.sampled_from([None, 0.5, 0.97, 1.0]))
    body["max_completion_tokens"] = draw(st.sampled_from([None, 1, 500, 2048, 100000]))
    body["stop"] = draw(st.sampled_from([None, "END", ["a", " "], []]))
    body["response_format"] = draw(
        st.sampled_from(
            [
                None,
                {"type": "text"},
                {"type": "json_object"},
                {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}},
            ]
        )
    )
    body["prompt_cache_retention"] = draw(st.sampled_from([None, "in-memory", "24h"]))
    return {k: v for k, v in body.items() if v is not None}, model, provider, auto_cache


def attempt(
    body: JSON, model: str, provider: ProviderProfile, auto_cache: bool
) -> Translated | BadRequest:
    try:
        req = decode_request(json.dumps(body).encode())
        return translate_request(
            req,
            upstream_model=model,
            profile=profile_for(model),
            envelope=ENVELOPE,
            provider=provider,
            auto_cache=auto_cache,
        )
    except BadRequest as e:
        return e


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=requests())
def test_every_translation_is_valid_or_refused_by_name(
    case: tuple[JSON, str, ProviderProfile, bool],
) -> None:
    t = attempt(*case)
    if isinstance(t, BadRequest):
        assert t.param, f"a refusal must name the field: {t.message}"
        event(f"refused: {t.message[:60]}")
        return
    error = validate(t.body, signer=SIGNER)
    assert error is None, f"upstream would refuse: {error}\n{json.dumps(t.body, indent=1)}"
    event("thinking on" if t.thinking else "thinking off")
