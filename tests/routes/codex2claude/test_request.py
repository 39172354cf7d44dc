"""Anthropic Messages request -> Responses request: every accepted translation is checked
against the strict fake upstream's rules (``validate_request``), so a test passes only if the
real API would take the result."""

from __future__ import annotations

import hashlib
import json
from typing import Any, Final

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmproxy.config import ModelProfile
from llmproxy.errors import BadRequest
from routes.codex2claude.reasoning import seal_signature
from routes.codex2claude.request import Translated, decode_request, translate_request
from tests.support.fake_responses import validate_request

JSON = dict[str, Any]
MODEL: Final = "gpt-5.5"
WEATHER: Final[JSON] = {
    "name": "get_weather",
    "description": "Weather for a city.",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


def translate(body: JSON, model: str = MODEL, **kw: Any) -> Translated:
    """decode + translate, like the route does (the body goes through real JSON bytes)."""
    return translate_request(decode_request(json.dumps(body).encode()), upstream_model=model, **kw)


def accepted(body: JSON, model: str = MODEL, issued: tuple[str, ...] = (), **kw: Any) -> JSON:
    t = translate(body, model, **kw)
    problem = validate_request(t.body, issued=issued, count_tokens=kw.get("count_tokens", False))
    assert problem is None, f"upstream would refuse: {problem}\n{json.dumps(t.body, indent=1)}"
    return t.body


def refused(body: JSON, model: str = MODEL) -> BadRequest:
    with pytest.raises(BadRequest) as info:
        translate(body, model)
    return info.value


def request(*messages: JSON | str, **fields: Any) -> JSON:
    msgs = [{"role": "user", "content": m} if isinstance(m, str) else m for m in messages]
    return {"model": "claude-sonnet-4-5", "max_tokens": 1024, "messages": msgs, **fields}


def user(*blocks: JSON) -> JSON:
    return {"role": "user", "content": list(blocks)}


def assistant(*blocks: JSON) -> JSON:
    return {"role": "assistant", "content": list(blocks)}


def text(t: str) -> JSON:
    return {"type": "text", "text": t}


def tool_use(call_id: str, name: str = "get_weather", input: JSON | None = None) -> JSON:
    return {"type": "tool_use", "id": call_id, "name": name, "input": input or {"city": "Oslo"}}


def tool_result(call_id: str, content: Any = "rain", **kw: Any) -> JSON:
    return {"type": "tool_result", "tool_use_id": call_id, "content": content, **kw}


# -- basics ---------------------------------------------------------------------------------------


def test_a_text_turn() -> None:
    body = accepted(request("Hi", system="Be brief."))
    assert body == {
        "model": MODEL,
        "input": [
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Hi"}]}
        ],
        "instructions": "Be brief.",
        "max_output_tokens": 1024,
        "store": False,
        "stream": True,
    }


def test_system_blocks_join_into_instructions() -> None:
    body = accepted(request("Hi", system=[text("One."), text("Two."), text("")]))
    assert body["instructions"] == "One.\n\nTwo."


def test_mid_conversation_system_messages_become_developer_messages() -> None:
    system = {"role": "system", "content": [text("Environment: linux")], "output_config": {}}
    body = accepted(request("Hi", system))
    assert body["input"][1] == {
        "type": "message",
        "role": "developer",
        "content": [{"type": "input_text", "text": "Environment: linux"}],
    }


@pytest.mark.parametrize(("max_tokens", "sent"), [(1, 16), (16, 16), (128000, 128000)])
def test_max_tokens(max_tokens: int, sent: int) -> None:
    assert accepted(request("Hi", max_tokens=max_tokens))["max_output_tokens"] == sent


def test_max_tokens_is_required() -> None:
    body = request("Hi")
    del body["max_tokens"]
    assert refused(body).param == "max_tokens"


def test_stop_sequences_are_refused_naming_the_field() -> None:
    err = refused(request("Hi", stop_sequences=["\n\nHuman:"]))
    assert err.param == "stop_sequences"
    assert "no stop sequences" in err.message
    accepted(request("Hi", stop_sequences=[]))


def test_ignored_fields() -> None:
    body = accepted(
        request(
            "Hi",
            top_k=5,
            context_management={"edits": []},
            container="c",
            cache_control={"type": "ephemeral"},
        )
    )
    assert set(body) == {"model", "input", "max_output_tokens", "store", "stream"}


@pytest.mark.parametrize(
    ("body", "param"),
    [
        pytest.param(b"", "body", id="empty"),
        pytest.param(b"{not json", "body", id="not-json"),
        pytest.param(b'{"max_tokens": 5, "messages": []}', "model", id="no-model"),
        pytest.param(
            b'{"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": 5}]}',
            "messages.0.content",
            id="content-type",
        ),
        pytest.param(
            b'{"model": "m", "max_tokens": 5, "messages": [{"role": "tool", "content": "x"}]}',
            "messages.0.role",
            id="unknown-role",
        ),
    ],
)
def test_invalid_requests_name_the_field(body: bytes, param: str) -> None:
    with pytest.raises(BadRequest) as info:
        translate_request(decode_request(body), upstream_model=MODEL)
    assert info.value.param == param


# -- tools and the tool loop ----------------------------------------------------------------------


def test_tool_loop() -> None:
    body = accepted(
        request(
            "Weather in Oslo?",
            assistant(text("Let me check."), tool_use("toolu_1")),
            user(tool_result("toolu_1", "rain"), text("Thanks")),
            tools=[WEATHER],
        )
    )
    assert body["input"][1:] == [
        {
            "type": "message",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "Let me check."}],
        },
        {
            "type": "function_call",
            "call_id": "toolu_1",
            "name": "get_weather",
            "arguments": '{"city":"Oslo"}',
        },
        {"type": "function_call_output", "call_id": "toolu_1", "output": "rain"},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Thanks"}]},
    ]
    assert body["tools"] == [
        {
            "type": "function",
            "name": "get_weather",
            "parameters": WEATHER["input_schema"],
            "strict": False,
            "description": "Weather for a city.",
        }
    ]


def test_tool_result_content_forms() -> None:
    image = {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="},
    }
    body = accepted(
        request(
            "Go",
            assistant(tool_use("a"), tool_use("b"), tool_use("c")),
            user(
                tool_result("a", [text("line 1"), text("line 2")]),
                tool_result("b", "Exit code 1\nboom", is_error=True),
                tool_result("c", [text("see"), image]),
            ),
            tools=[WEATHER],
        )
    )
    outputs = [i["output"] for i in body["input"] if i["type"] == "function_call_output"]
    assert outputs == [
        "line 1\nline 2",
        "Error:\nExit code 1\nboom",
        [
            {"type": "input_text", "text": "see"},
            {
                "type": "input_image",
                "image_url": "data:image/png;base64,iVBORw0KGgo=",
                "detail": "auto",
            },
        ],
    ]


def test_pairing_is_repaired() -> None:
    # A call without its result (an interrupted turn) and a result without its call.
    body = accepted(
        request(
            "Go",
            assistant(tool_use("lost")),
            user(text("never mind")),
            assistant(text("ok")),
            user(tool_result("orphan", "stale")),
            tools=[WEATHER],
        )
    )
    kinds = [(i["type"], i.get("role")) for i in body["input"]]
    assert kinds == [
        ("message", "user"),
        ("function_call", None),
        ("function_call_output", None),
        ("message", "user"),
        ("message", "assistant"),
        ("message", "user"),
    ]
    assert "not executed" in body["input"][2]["output"]
    assert body["input"][5]["content"][0]["text"] == "Tool result: stale"


def test_long_tool_names_are_shortened_consistently() -> None:
    long = "mcp__github_enterprise_server__create_or_update_file_contents_in_a_repository_branch"
    tool = {**WEATHER, "name": long}
    t = translate(
        request("Go", assistant(tool_use("a", long)), user(tool_result("a")), tools=[tool]),
        MODEL,
    )
    assert validate_request(t.body) is None
    up = t.body["tools"][0]["name"]
    digest = hashlib.sha256(long.encode()).hexdigest()[:8]
    assert up == f"{long[:55]}_{digest}"
    assert len(up) == 64
    assert t.body["input"][1]["name"] == up
    assert t.tools.client(up) == long
    assert t.tools.client("Bash") == "Bash"


def test_server_and_anthropic_defined_tools_are_dropped() -> None:
    tools = [
        WEATHER,
        {"type": "web_search_20250305", "name": "web_search", "max_uses": 3},
        {"type": "bash_20250124", "name": "bash"},
        {"type": "custom", **{**WEATHER, "name": "custom_one"}},
    ]
    t = translate(request("Hi", tools=tools))
    assert [tool["name"] for tool in t.body["tools"]] == ["get_weather", "custom_one"]
    assert t.dropped == ["tools.1 (web_search_20250305)", "tools.2 (bash_20250124)"]


def test_deferred_tools_are_offered_once_referenced() -> None:
    deferred = {**WEATHER, "defer_loading": True}
    search = {"name": "ToolSearch", "input_schema": {"type": "object", "properties": {}}}
    body = accepted(request("Hi", tools=[search, deferred]))
    assert [tool["name"] for tool in body["tools"]] == ["ToolSearch"]
    reference = {"type": "tool_reference", "tool_name": "get_weather"}
    body = accepted(
        request(
            "Hi",
            assistant(tool_use("s", "ToolSearch", {"query": "weather"})),
            user(tool_result("s", [reference])),
            tools=[search, deferred],
        )
    )
    assert [tool["name"] for tool in body["tools"]] == ["ToolSearch", "get_weather"]
    assert body["input"][2]["output"] == "Tool loaded: get_weather"


def test_strict_only_when_asked() -> None:
    strict = {
        **WEATHER,
        "strict": True,
        "input_schema": {**WEATHER["input_schema"], "additionalProperties": False},
    }
    body = accepted(request("Hi", tools=[strict]))
    assert body["tools"][0]["strict"] is True


def test_schema_without_type_gets_object() -> None:
    body = accepted(request("Hi", tools=[{"name": "t", "input_schema": {"properties": {}}}]))
    assert body["tools"][0]["parameters"] == {"type": "object", "properties": {}}


@pytest.mark.parametrize(
    ("choice", "sent", "parallel"),
    [
        ({"type": "auto"}, "auto", None),
        ({"type": "any"}, "required", None),
        ({"type": "none"}, "none", None),
        (
            {"type": "tool", "name": "get_weather"},
            {"type": "function", "name": "get_weather"},
            None,
        ),
        ({"type": "auto", "disable_parallel_tool_use": True}, "auto", False),
    ],
)
def test_tool_choice(choice: JSON, sent: Any, parallel: bool | None) -> None:
    body = accepted(request("Hi", tools=[WEATHER], tool_choice=choice))
    assert body["tool_choice"] == sent
    assert body.get("parallel_tool_calls") == parallel


def test_forcing_a_tool_that_cannot_be_offered() -> None:
    tools = [WEATHER, {"type": "web_search_20250305", "name": "web_search"}]
    err = refused(request("Hi", tools=tools, tool_choice={"type": "tool", "name": "web_search"}))
    assert err.param == "tool_choice.name"
    err = refused(request("Hi", tool_choice={"type": "tool", "name": "get_weather"}))
    assert err.param == "tool_choice.name"


def test_tool_choice_without_tools_is_omitted() -> None:
    assert "tool_choice" not in accepted(request("Hi", tool_choice={"type": "auto"}))


# -- content --------------------------------------------------------------------------------------


def test_images_and_documents() -> None:
    png = {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}
    body = accepted(
        request(
            user(
                text("Look:"),
                {"type": "image", "source": png},
                {"type": "image", "source": {"type": "url", "url": "https://example.com/a.jpg"}},
                {
                    "type": "document",
                    "source": {
                        "type": "base64",
                        "media_type": "application/pdf",
                        "data": "JVBERi0=",
                    },
                    "title": "spec.pdf",
                },
                {"type": "document", "source": {"type": "url", "url": "https://example.com/b.pdf"}},
                {
                    "type": "document",
                    "source": {"type": "text", "media_type": "text/plain", "data": "notes"},
                    "title": "Notes",
                },
            )
        )
    )
    assert body["input"][0]["content"] == [
        {"type": "input_text", "text": "Look:"},
        {
            "type": "input_image",
            "image_url": "data:image/png;base64,iVBORw0KGgo=",
            "detail": "auto",
        },
        {"type": "input_image", "image_url": "https://example.com/a.jpg", "detail": "auto"},
        {
            "type": "input_file",
            "filename": "spec.pdf",
            "file_data": "data:application/pdf;base64,JVBERi0=",
        },
        {"type": "input_file", "file_url": "https://example.com/b.pdf"},
        {"type": "input_text", "text": "Notes\n\nnotes"},
    ]


@pytest.mark.parametrize("kind", ["image", "document"])
def test_files_api_references_are_refused(kind: str) -> None:
    block = {"type": kind, "source": {"type": "file", "file_id": "file_011"}}
    assert refused(request(user(block))).param == "messages.0.content.0.source"


# -- thinking -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("thinking", "output_config", "reasoning", "shown"),
    [
        (
            {"type": "enabled", "budget_tokens": 1024},
            None,
            {"effort": "low", "summary": "auto"},
            True,
        ),
        (
            {"type": "enabled", "budget_tokens": 10000},
            None,
            {"effort": "medium", "summary": "auto"},
            True,
        ),
        (
            {"type": "enabled", "budget_tokens": 32000},
            None,
            {"effort": "high", "summary": "auto"},
            True,
        ),
        ({"type": "adaptive"}, None, {"effort": "high", "summary": "auto"}, True),
        ({"type": "adaptive"}, {"effort": "low"}, {"effort": "low", "summary": "auto"}, True),
        ({"type": "adaptive"}, {"effort": "max"}, {"effort": "xhigh", "summary": "auto"}, True),
        (
            {"type": "adaptive", "display": "omitted"},
            {"effort": "medium"},
            {"effort": "medium"},
            True,
        ),
        ({"type": "disabled"}, None, None, False),
        (None, None, None, False),
        (None, {"effort": "low"}, {"effort": "low"}, False),
    ],
)
def test_thinking_to_effort(
    thinking: JSON | None, output_config: JSON | None, reasoning: JSON | None, shown: bool
) -> None:
    fields: JSON = {}
    if thinking is not None:
        fields["thinking"] = thinking
    if output_config is not None:
        fields["output_config"] = output_config
    t = translate(request("Hi", max_tokens=64000, **fields))
    assert validate_request(t.body) is None
    assert t.body.get("reasoning") == reasoning
    assert t.thinking is shown
    assert ("include" in t.body) is shown
    if shown:
        assert t.body["include"] == ["reasoning.encrypted_content"]


def test_unknown_effort_is_refused() -> None:
    err = refused(request("Hi", thinking={"type": "adaptive"}, output_config={"effort": "ultra"}))
    assert err.param == "output_config.effort"


def test_thinking_round_trips_as_a_reasoning_item() -> None:
    sig = seal_signature(MODEL, "rs_123", "gAAAA-enc")
    history = request(
        "Weather?",
        assistant(
            {"type": "thinking", "thinking": "I should call it.", "signature": sig},
            tool_use("toolu_1"),
        ),
        user(tool_result("toolu_1")),
        tools=[WEATHER],
        thinking={"type": "enabled", "budget_tokens": 2048},
    )
    body = accepted(history, issued=("gAAAA-enc",))
    assert body["input"][1] == {
        # No id: with store false the API would look it up and fail.
        "type": "reasoning",
        "summary": [{"type": "summary_text", "text": "I should call it."}],
        "encrypted_content": "gAAAA-enc",
    }


@pytest.mark.parametrize(
    "block",
    [
        pytest.param(
            {"type": "thinking", "thinking": "x", "signature": "EqQBCgIYAhIM1gbcDa9GJ"},
            id="real-claude-signature",
        ),
        pytest.param(
            {"type": "thinking", "thinking": "x", "signature": seal_signature("o4-mini", "r", "e")},
            id="other-model",
        ),
        pytest.param(
            {"type": "thinking", "thinking": "x", "signature": seal_signature(MODEL, "r", None)},
            id="no-encrypted-content",
        ),
        pytest.param({"type": "redacted_thinking", "data": "EmwKAhgB"}, id="foreign-redacted"),
        pytest.param({"type": "server_tool_use", "id": "s", "name": "web_search"}, id="server"),
    ],
)
def test_foreign_assistant_blocks_are_dropped(block: JSON) -> None:
    t = translate(request("Hi", assistant(block, text("Done.")), "More"))
    assert validate_request(t.body) is None
    assert [i["type"] for i in t.body["input"]] == ["message", "message", "message"]
    assert t.dropped


def test_redacted_thinking_carrying_our_item_round_trips() -> None:
    data = seal_signature(MODEL, "rs_9", "enc-9")
    body = accepted(
        request("Hi", assistant({"type": "redacted_thinking", "data": data}, text("x")), "y"),
        issued=("enc-9",),
    )
    assert body["input"][1] == {"type": "reasoning", "summary": [], "encrypted_content": "enc-9"}


# -- sampling, metadata, tiers, formats -----------------------------------------------------------


def test_sampling_kept_for_models_that_take_it() -> None:
    body = accepted(request("Hi", temperature=0.2, top_p=0.9), model="gpt-4.1")
    assert (body["temperature"], body["top_p"]) == (0.2, 0.9)


@pytest.mark.parametrize("model", ["gpt-5.5", "o4-mini", "gpt-5.1-codex-max"])
def test_sampling_dropped_for_reasoning_models(model: str) -> None:
    body = accepted(request("Hi", temperature=0.2, top_p=0.9), model=model)
    assert "temperature" not in body
    assert "top_p" not in body


def test_sampling_dropped_with_thinking() -> None:
    thinking = {"type": "enabled", "budget_tokens": 2048}
    body = accepted(request("Hi", temperature=1, thinking=thinking), model="gpt-4.1")
    assert "temperature" not in body


def test_operator_profile_decides_sampling() -> None:
    profiles = (ModelProfile(match="gpt-5.5*", sampling=True),)
    body = accepted(request("Hi", temperature=0.3), profiles=profiles)
    assert body["temperature"] == 0.3


def test_user_id_becomes_a_safety_identifier() -> None:
    assert accepted(request("Hi", metadata={"user_id": "u-1"}))["safety_identifier"] == "u-1"
    long = json.dumps({"device_id": "x" * 64, "session_id": "s"})
    sent = accepted(request("Hi", metadata={"user_id": long}))["safety_identifier"]
    assert sent == hashlib.sha256(long.encode()).hexdigest()


@pytest.mark.parametrize(("tier", "sent"), [("auto", "auto"), ("standard_only", "default")])
def test_service_tier(tier: str, sent: str) -> None:
    assert accepted(request("Hi", service_tier=tier))["service_tier"] == sent


def test_json_schema_output() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    body = accepted(
        request("Hi", output_config={"format": {"type": "json_schema", "schema": schema}})
    )
    assert body["text"] == {
        "format": {"type": "json_schema", "name": "output", "schema": schema, "strict": False}
    }


def test_count_tokens_body() -> None:
    body = request("Hi", system="S", tools=[WEATHER], thinking={"type": "adaptive"})
    del body["max_tokens"]
    sent = accepted(body, count_tokens=True)
    assert set(sent) == {"model", "input", "instructions", "tools", "reasoning"}


# -- property: any well-formed conversation translates into one the upstream accepts --------------

_texts = st.text(min_size=1, max_size=20).filter(str.strip)


@st.composite
def conversations(draw: st.DrawFn) -> JSON:
    messages: list[JSON] = [user(text(draw(_texts)))]
    n = 0
    for _ in range(draw(st.integers(1, 6))):
        # Each round: an assistant turn (text and/or tool calls), then the user's answer.
        blocks: list[JSON] = [text(t) for t in draw(st.lists(_texts, max_size=2))]
        calls = [f"toolu_{n + k}" for k in range(draw(st.integers(0, 3)))]
        n += len(calls)
        messages.append(assistant(*blocks, *[tool_use(c) for c in calls]))
        if calls:
            results = [tool_result(c, draw(_texts), is_error=draw(st.booleans())) for c in calls]
            messages.append(user(*results, *[text(t) for t in draw(st.lists(_texts, max_size=1))]))
        else:
            messages.append(user(text(draw(_texts))))
    return request(*messages, tools=[WEATHER])


@settings(max_examples=150, deadline=None)
@given(conversations())
def test_property_well_formed_conversations_are_accepted(body: JSON) -> None:
    out = accepted(body)
    calls = [i["call_id"] for i in out["input"] if i["type"] == "function_call"]
    outputs = [i["call_id"] for i in out["input"] if i["type"] == "function_call_output"]
    assert calls == outputs  # nothing invented, nothing lost
