"""Property: whatever sequence of Responses input items a client sends, translate_request either
refuses it with a BadRequest for a stated reason, or produces a body the strict fake upstream
accepts. The generator is deliberately nasty: orphan outputs, outputs before their calls,
missing/duplicate/colliding call ids, empty and whitespace-only texts, assistant-first
conversations, histories ending on an assistant message or an unanswered call, reasoning items
with garbage or valid envelopes, and thinking, sampling and tool_choice settings on top."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from llmproxy.errors import BadRequest
from routes.claude2codex.reasoning import Envelope, profile_for
from routes.claude2codex.request import decode_request, translate_request
from tests.routes.claude2codex.translate_helpers import JSON, KEY, MODELS, SONNET_46
from tests.support.fake_anthropic import Signer, validate

#: Shared by the generator (which signs thinking) and the check (which verifies it).
SIGNER = Signer()
ENVELOPE = Envelope(KEY)
REDACTED = "redacted-payload-0"
SIGNER.redacted.add(REDACTED)

REASONING = [
    None,
    {"effort": "none"},
    {"effort": "low"},
    {"effort": "high", "summary": "detailed"},
    {"effort": "minimal"},
    {"effort": "medium"},
    {"effort": "max", "summary": "auto"},
    {"summary": "auto"},
]
ALL_MODELS = (*MODELS, SONNET_46, "claude-3-5-haiku")

TEXTS = st.one_of(
    st.sampled_from(["", " ", "\n\t ", "hi", "trailing  ", "  leading", "a\n", "ok"]),
    st.text(max_size=8),
)
CALL_IDS = st.sampled_from(
    ["call_1", "call_2", "call.1", "call 1", "toolu_01", "", "c:1", "call_1 ", "ü", "call-2"]
)
NAMES = st.sampled_from(["get_weather", "apply_patch", "sleep", "not declared!", "x" * 140])
NAMESPACES = st.sampled_from([None, None, "clock", "functions"])

TOOLS: dict[str, JSON] = {
    "get_weather": {"type": "function", "name": "get_weather", "parameters": {"type": "object"}},
    "apply_patch": {"type": "custom", "name": "apply_patch"},
    "clock": {
        "type": "namespace",
        "name": "clock",
        "tools": [{"type": "function", "name": "sleep", "parameters": {"type": "object"}}],
    },
    "web_search": {"type": "web_search"},
}


@st.composite
def text_parts(draw: st.DrawFn, kind: str) -> JSON:
    return {"type": kind, "text": draw(TEXTS)}


@st.composite
def message_items(draw: st.DrawFn) -> JSON:
    role = draw(st.sampled_from(["user", "assistant", "system", "developer"]))
    part_kind = "output_text" if role == "assistant" else "input_text"
    content: Any = draw(st.one_of(TEXTS, st.lists(text_parts(part_kind), max_size=3)))
    item: JSON = {"role": role, "content": content}
    if draw(st.booleans()):
        item["type"] = "message"
    return item


@st.composite
def call_items(draw: st.DrawFn) -> JSON:
    kind = draw(st.sampled_from(["function_call", "custom_tool_call"]))
    item: JSON = {"type": kind, "name": draw(NAMES)}
    if draw(st.integers(0, 19)):  # now and then no call_id at all
        item["call_id"] = draw(CALL_IDS)
    if kind == "function_call":
        item["arguments"] = draw(st.sampled_from(["{}", '{"a": 1}', "", "not json", "[1]", "null"]))
    else:
        item["input"] = draw(TEXTS)
    ns = draw(NAMESPACES)
    if ns is not None:
        item["namespace"] = ns
    return item


@st.composite
def output_items(draw: st.DrawFn) -> JSON:
    kind = draw(st.sampled_from(["function_call_output", "custom_tool_call_output"]))
    item: JSON = {"type": kind}
    if draw(st.integers(0, 19)):
        item["call_id"] = draw(CALL_IDS)
    item["output"] = draw(
        st.one_of(
            TEXTS,
            st.lists(text_parts("input_text"), max_size=3),
            st.just(None),
            st.just({"content": "legacy", "success": False}),
        )
    )
    return item


@st.composite
def reasoning_items(draw: st.DrawFn, model: str, *, valid: bool = False) -> JSON:
    def thinking_block() -> JSON:
        text = draw(TEXTS)
        return {"type": "thinking", "thinking": text, "signature": SIGNER.sign(text)}

    kinds = ["valid", "valid", "redacted", "other_model", "garbage", "openai", "none"]
    kind = "valid" if valid else draw(st.sampled_from(kinds))
    token: Any
    if kind == "valid":
        token = ENVELOPE.seal(model, [thinking_block() for _ in range(draw(st.integers(1, 2)))])
    elif kind == "redacted":
        token = ENVELOPE.seal(model, [{"type": "redacted_thinking", "data": REDACTED}])
    elif kind == "other_model":
        token = ENVELOPE.seal("claude-opus-4-5", [thinking_block()])
    elif kind == "garbage":
        token = "llmp1." + draw(st.text(max_size=20))
    elif kind == "openai":
        token = "gAAAAAB" + draw(st.text(alphabet="abcXYZ019-_", max_size=30))
    else:
        token = None
    return {
        "type": "reasoning",
        "summary": [{"type": "summary_text", "text": draw(TEXTS)}],
        "encrypted_content": token,
    }


@st.composite
def tool_loop_segments(draw: st.DrawFn, model: str) -> list[JSON]:
    """A coherent step of a tool loop (so that thinking can survive): an optional reasoning
    item, one or two calls, and usually their outputs, in either order."""
    segment: list[JSON] = []
    if draw(st.integers(0, 3)):
        segment.append(draw(reasoning_items(model, valid=True)))
    ids = draw(st.lists(CALL_IDS, min_size=1, max_size=2))
    for cid in ids:
        segment.append({"type": "function_call", "call_id": cid, "name": draw(NAMES)})
    outputs = [
        {"type": "function_call_output", "call_id": cid, "output": draw(TEXTS)}
        for cid in draw(st.permutations(ids))
        if draw(st.integers(0, 5))
    ]
    return segment + outputs


@st.composite
def bodies(draw: st.DrawFn) -> tuple[str, JSON]:
    model = draw(st.sampled_from(ALL_MODELS))
    single = st.one_of(
        message_items(),
        message_items(),
        call_items(),
        output_items(),
        reasoning_items(model),
        st.just({"type": "web_search_call", "id": "ws_1", "status": "completed"}),
    ).map(lambda item: [item])
    loop = tool_loop_segments(model)
    segments = draw(st.lists(st.one_of(single, loop, loop), max_size=8))
    items = [item for segment in segments for item in segment]
    if draw(st.booleans()):  # most real conversations start with the user
        items.insert(0, {"role": "user", "content": draw(TEXTS)})
    # Bias the endings that matter most: an assistant message or an unanswered call.
    tail = draw(st.sampled_from(["none", "none", "assistant", "call"]))
    if tail == "assistant":
        items.append({"role": "assistant", "content": draw(TEXTS)})
    elif tail == "call":
        items.append(draw(call_items()))
    body: JSON = {"model": "gpt-5.5", "input": items}
    tool_names = draw(st.lists(st.sampled_from(sorted(TOOLS)), unique=True, max_size=4))
    empty_tools_field = draw(st.booleans())
    if tool_names or empty_tools_field:
        body["tools"] = [TOOLS[n] for n in tool_names]
    choices: list[Any] = [None, "auto", "none", "required"]
    if "get_weather" in tool_names:
        choices.append({"type": "function", "name": "get_weather"})
    choice = draw(st.sampled_from(choices))
    if choice is not None:
        body["tool_choice"] = choice
    optional: dict[str, st.SearchStrategy[Any]] = {
        "instructions": st.one_of(TEXTS, st.none()),
        "parallel_tool_calls": st.one_of(st.booleans(), st.none()),
        "reasoning": st.sampled_from(REASONING),
        "max_output_tokens": st.sampled_from([None, 1, 1024, 1025, 5000, 10**7]),
        "temperature": st.sampled_from([None, 0.0, 0.3, 1.0, 1.7]),
        "top_p": st.sampled_from([None, 0.5, 0.95, 1.0]),
        "safety_identifier": st.sampled_from([None, "u1", "x" * 300]),
    }
    for key, strategy in optional.items():
        value = draw(strategy)
        if value is not None:
            body[key] = value
    return model, body


TOOL_ITEMS = (
    "function_call",
    "custom_tool_call",
    "function_call_output",
    "custom_tool_call_output",
)


def _expected_refusal(body: JSON, err: BadRequest) -> bool:
    """The only refusals this generator can provoke: an item without call_id, or nothing to
    send at all."""
    items: list[JSON] = body["input"]
    if err.param == "input":
        return True  # checked below: there really was nothing to send
    for i, item in enumerate(items):
        if "call_id" not in item and item.get("type") in TOOL_ITEMS:
            if err.param in (f"input[{i}]", f"input[{i}].call_id"):
                return True
            break  # the first such item is the one refused
    return False


def _has_content(body: JSON) -> bool:
    """Whether any item must produce a block: a call or output (always kept, as a block or as
    text), or a user/assistant message with non-blank text. System/developer texts and
    reasoning items alone are no conversation."""
    for item in body["input"]:
        itype = item.get("type", "message")
        if itype in TOOL_ITEMS:
            return True
        if itype == "message" and item["role"] in ("user", "assistant"):
            content = item["content"]
            parts = [content] if isinstance(content, str) else [p["text"] for p in content]
            if any(p.strip() for p in parts):
                return True
    return False


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(bodies())
def test_translation_is_refused_or_accepted_upstream(case: tuple[str, JSON]) -> None:
    model, body = case
    req, _ = decode_request(json.dumps(body).encode())
    refusal: BadRequest | None = None
    try:
        t = translate_request(
            req, upstream_model=model, profile=profile_for(model), envelope=ENVELOPE
        )
    except BadRequest as err:
        refusal = err
    if refusal is not None:
        event(f"refused: {refusal.param if refusal.param == 'input' else 'no call_id'}")
        assert _expected_refusal(body, refusal), (refusal.param, refusal.message)
        if refusal.param == "input":
            assert not _has_content(body), refusal.message
        return
    error = validate(t.body, signer=SIGNER)
    assert error is None, f"{error}\n{json.dumps(t.body, indent=1)[:4000]}"

    out = t.body
    last = out["messages"][-1]
    in_tool_loop = any(b["type"] == "tool_result" for b in last["content"])
    event(f"thinking {'on' if t.thinking else 'off'}{' in a tool loop' if in_tool_loop else ''}")
    event(f"off because: {t.thinking_off_reason}")
    event(f"ends with {last['role']}")
    assert ("thinking" in out) is t.thinking
    assert out["max_tokens"] <= profile_for(model).max_tokens_limit
    if body.get("max_output_tokens") is None:
        assert out["max_tokens"] >= min(profile_for(model).default_max_tokens, 8192)
    if not t.thinking:
        assert all(
            b["type"] not in ("thinking", "redacted_thinking")
            for m in out["messages"]
            for b in m["content"]
        )
    for m in out["messages"]:
        for b in m["content"]:
            if b["type"] == "tool_use":
                spec = t.tools.lookup(b["name"])
                assert spec.anthropic_name == b["name"]


WORDS = st.text(alphabet="abc xyz\n.", min_size=1, max_size=12).filter(lambda s: bool(s.strip()))


@st.composite
def coherent_histories(draw: st.DrawFn) -> tuple[str, JSON, list[JSON]]:
    """A Codex-like history made by this gateway: every assistant step starts with its valid
    reasoning envelope, every call is answered (ids may still repeat or collide). Returns the
    model, the body and the thinking blocks it carries, in order."""
    model = draw(st.sampled_from([m for m in ALL_MODELS if profile_for(m).thinking != "none"]))
    items: list[JSON] = [{"role": "user", "content": draw(WORDS)}]
    thoughts: list[JSON] = []
    for _ in range(draw(st.integers(1, 5))):
        step = [
            {"type": "thinking", "thinking": t, "signature": SIGNER.sign(t)}
            for t in draw(st.lists(WORDS, min_size=1, max_size=2))
        ]
        thoughts.extend(step)
        items.append(
            {"type": "reasoning", "summary": [], "encrypted_content": ENVELOPE.seal(model, step)}
        )
        if draw(st.booleans()):
            ids = draw(st.lists(CALL_IDS, min_size=1, max_size=3))
            items.extend(
                {"type": "function_call", "call_id": c, "name": "get_weather", "arguments": "{}"}
                for c in ids
            )
            items.extend(
                {"type": "function_call_output", "call_id": c, "output": draw(TEXTS)}
                for c in draw(st.permutations(ids))
            )
        else:
            items.append({"role": "assistant", "content": draw(WORDS)})
            items.append({"role": "user", "content": draw(WORDS)})
    body: JSON = {
        "model": "gpt-5.5",
        "input": items,
        "tools": [TOOLS["get_weather"]],
        "reasoning": {"effort": draw(st.sampled_from(["minimal", "low", "medium", "high", "max"]))},
        "parallel_tool_calls": draw(st.booleans()),
    }
    return model, body, thoughts


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(coherent_histories())
def test_coherent_history_keeps_thinking_and_every_block(
    case: tuple[str, JSON, list[JSON]],
) -> None:
    """Thinking must not be turned off needlessly: a history whose steps all carry their valid
    envelopes keeps thinking on, with every thinking block restored exactly and in order."""
    model, body, thoughts = case
    req, _ = decode_request(json.dumps(body).encode())
    t = translate_request(req, upstream_model=model, profile=profile_for(model), envelope=ENVELOPE)
    error = validate(t.body, signer=SIGNER)
    assert error is None, f"{error}\n{json.dumps(t.body, indent=1)[:4000]}"
    assert t.thinking, t.thinking_off_reason
    restored = [b for m in t.body["messages"] for b in m["content"] if b["type"] == "thinking"]
    assert restored == thoughts
