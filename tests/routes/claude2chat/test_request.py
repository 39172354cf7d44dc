"""Chat Completions request -> Anthropic request, field by field (README, "claude2chat: what is
translated"). Every produced body is checked by the strict fake upstream's ``validate``."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from llmproxy.dialects.anthropic_providers import DEEPSEEK, ZAI
from llmproxy.dialects.anthropic_request import (
    JSON_OBJECT_INSTRUCTION,
    NOT_EXECUTED,
    media_note,
    schema_instruction,
)
from llmproxy.envelope import Envelope
from llmproxy.errors import BadRequest
from routes.claude2chat.request import decode_request
from tests.routes.claude2chat.translate_helpers import (
    GLM,
    JSON,
    OPUS_47,
    SONNET,
    SONNET_46,
    WEATHER,
    accepted,
    assistant,
    block_types,
    chat,
    messages,
    refused,
    sealed_thinking,
    tool,
    tool_call,
    translate,
    user,
)
from tests.support.fake_anthropic import Signer

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 16).decode()
PDF = base64.b64encode(b"%PDF-1.4\n%%EOF\n").decode()


# -- messages -------------------------------------------------------------------------------------


def test_system_and_developer_lead_then_become_reminders() -> None:
    t = accepted(
        chat(
            {"role": "system", "content": "Be brief."},
            {"role": "developer", "content": [{"type": "text", "text": "Use metric."}]},
            user("hi"),
            assistant("hello"),
            {"role": "system", "content": "Now be formal."},
            user("again"),
        )
    )
    assert t.body["system"] == [
        {"type": "text", "text": "Be brief."},
        {"type": "text", "text": "Use metric."},
    ]
    assert messages(t)[2]["content"] == [
        {"type": "text", "text": "<system-reminder>\nNow be formal.\n</system-reminder>"},
        {"type": "text", "text": "again"},
    ]


def test_user_parts_text_images_and_files() -> None:
    t = accepted(
        chat(
            user(
                [
                    {"type": "text", "text": "What is in these?"},
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
                    {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
                    {
                        "type": "file",
                        "file": {
                            "file_data": f"data:application/pdf;base64,{PDF}",
                            "filename": "a",
                        },
                    },
                ]
            )
        )
    )
    (msg,) = messages(t)
    assert msg["content"] == [
        {"type": "text", "text": "What is in these?"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
        {
            "type": "document",
            "source": {"type": "base64", "media_type": "application/pdf", "data": PDF},
            "title": "a",
        },
    ]


@pytest.mark.parametrize(
    ("part", "param"),
    [
        (
            {"type": "image_url", "image_url": {"url": "data:image/bmp;base64,AAAA"}},
            "messages[0].content[0].image_url.url",
        ),
        ({"type": "image_url", "image_url": {}}, "messages[0].content[0].image_url.url"),
        ({"type": "file", "file": {"file_id": "file-1"}}, "messages[0].content[0].file.file_id"),
        ({"type": "input_audio", "input_audio": {}}, "messages[0].content[0].type"),
        ({"type": "video"}, "messages[0].content[0].type"),
    ],
)
def test_unsupported_user_parts_are_refused_naming_the_field(part: JSON, param: str) -> None:
    assert refused(chat(user([part]))).param == param


def test_tool_loop_pairs_calls_and_results() -> None:
    t = accepted(
        chat(
            user("Weather in Oslo and Rome?"),
            assistant(
                "Checking.",
                tool_calls=[tool_call("call.1"), tool_call("call_2", arguments='{"city":"Rome"}')],
            ),
            tool("call_2", "sun"),
            tool("call.1", [{"type": "text", "text": "rain"}]),
            tools=[WEATHER],
        )
    )
    assert block_types(t) == [["text"], ["text", "tool_use", "tool_use"], ["tool_result"] * 2]
    uses = messages(t)[1]["content"][1:]
    assert [(u["id"], u["input"]) for u in uses] == [
        ("call_1", {"city": "Oslo"}),
        ("call_2", {"city": "Rome"}),
    ]
    results = messages(t)[2]["content"]
    assert [(r["tool_use_id"], r["content"]) for r in results] == [
        ("call_2", "sun"),
        ("call_1", [{"type": "text", "text": "rain"}]),
    ]


def test_missing_results_are_answered_and_orphans_become_text() -> None:
    t = accepted(
        chat(
            user("go"),
            assistant(None, tool_calls=[tool_call("a"), tool_call("b")]),
            tool("b", ""),
            tool("zzz", "stray"),
            tools=[WEATHER],
        )
    )
    results = messages(t)[2]["content"]
    assert results[0] == {"type": "tool_result", "tool_use_id": "b", "content": "(no output)"}
    assert results[1]["tool_use_id"] == "a"
    assert results[1]["content"] == NOT_EXECUTED
    assert results[2] == {"type": "text", "text": "[result of tool call zzz]\nstray"}


def test_history_tools_are_declared_when_the_request_has_none() -> None:
    t = accepted(chat(user("go"), assistant(None, tool_calls=[tool_call("a")]), tool("a")))
    assert t.body["tools"][0]["name"] == "get_weather"
    assert t.body["tool_choice"] == {"type": "none"}


def test_broken_arguments_are_kept() -> None:
    t = accepted(
        chat(user("go"), assistant(None, tool_calls=[tool_call("a", arguments="{oops")]), tool("a"))
    )
    assert messages(t)[1]["content"][0]["input"] == {"_raw_arguments": "{oops"}


def test_assistant_first_and_prefill() -> None:
    t = accepted(chat(assistant("I am ready."), user("go"), assistant("Sure:  ")))
    assert messages(t)[0]["content"] == [{"type": "text", "text": "(continue)"}]
    assert messages(t)[-1]["content"] == [{"type": "text", "text": "Sure:"}]


def test_assistant_refusal_and_parts() -> None:
    t = accepted(
        chat(
            user("x"),
            assistant([{"type": "text", "text": "part"}, {"type": "refusal", "refusal": "no"}]),
            user("y"),
        )
    )
    assert messages(t)[1]["content"] == [
        {"type": "text", "text": "part"},
        {"type": "text", "text": "no"},
    ]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (chat(), "messages"),
        (chat(user("  ")), "messages"),
        (chat({"role": "function", "name": "f", "content": "x"}), "messages[0].role"),
        (chat({"role": "robot", "content": "x"}), "messages[0].role"),
        (chat(user("x"), {"role": "tool", "content": "x"}), "messages[1].tool_call_id"),
        (
            chat(user("x"), assistant(None, function_call={"name": "f"})),
            "messages[1].function_call",
        ),
        (chat(user("x"), assistant(None, tool_calls=[{"id": "a"}])), "messages[1].tool_calls[0]"),
        (chat({"role": "system", "content": [{"type": "image_url"}]}), "messages[0].content[0]"),
        (chat(user("x"), assistant(None, thinking_blocks="x")), "messages[1].thinking_blocks"),
    ],
)
def test_bad_messages_are_refused(body: JSON, param: str) -> None:
    assert refused(body).param == param


# -- tools and tool_choice -------------------------------------------------------------------------


def test_function_tool_with_strict() -> None:
    t = accepted(chat(user("hi"), tools=[WEATHER]))
    assert t.body["tools"] == [
        {
            "name": "get_weather",
            "description": "Weather for a city.",
            "input_schema": WEATHER["function"]["parameters"],
            "strict": True,
        }
    ]
    assert t.body["tool_choice"] == {"type": "auto"}


def test_tool_names_are_made_valid_and_mapped_back() -> None:
    tools: list[Any] = [
        {"type": "function", "function": {"name": "mcp.fs.read"}},
        {"type": "function", "function": {"name": "mcp_fs_read"}},
    ]
    t = accepted(
        chat(
            user("go"),
            assistant(None, tool_calls=[tool_call("a", name="mcp.fs.read")]),
            tool("a"),
            tools=tools,
            tool_choice={"type": "function", "function": {"name": "mcp_fs_read"}},
        )
    )
    names = [x["name"] for x in t.body["tools"]]
    assert names == ["mcp_fs_read", "mcp_fs_read_2"]
    assert messages(t)[1]["content"][0]["name"] == "mcp_fs_read"
    assert t.body["tool_choice"] == {"type": "tool", "name": "mcp_fs_read_2"}
    assert t.tools.client_name("mcp_fs_read") == "mcp.fs.read"
    assert t.tools.client_name("mcp_fs_read_2") == "mcp_fs_read"
    assert t.tools.client_name("never_declared") == "never_declared"


@pytest.mark.parametrize(
    ("choice", "parallel", "expected"),
    [
        (None, None, {"type": "auto"}),
        ("auto", False, {"type": "auto", "disable_parallel_tool_use": True}),
        ("none", False, {"type": "none"}),
        ("required", None, {"type": "any"}),
        (
            {"type": "function", "function": {"name": "get_weather"}},
            False,
            {"type": "tool", "name": "get_weather", "disable_parallel_tool_use": True},
        ),
        (
            {
                "type": "allowed_tools",
                "allowed_tools": {
                    "mode": "required",
                    "tools": [{"type": "function", "function": {"name": "get_weather"}}],
                },
            },
            None,
            {"type": "any"},
        ),
    ],
)
def test_tool_choice(choice: Any, parallel: bool | None, expected: JSON) -> None:
    clock = {"type": "function", "function": {"name": "clock"}}
    body = chat(user("hi"), tools=[WEATHER, clock])
    if choice is not None:
        body["tool_choice"] = choice
    if parallel is not None:
        body["parallel_tool_calls"] = parallel
    t = accepted(body)
    assert t.body["tool_choice"] == expected
    if isinstance(choice, dict) and choice["type"] == "allowed_tools":
        assert [x["name"] for x in t.body["tools"]] == ["get_weather"]


def test_forced_tool_turns_thinking_off() -> None:
    t = accepted(chat(user("hi"), tools=[WEATHER], tool_choice="required", reasoning_effort="high"))
    assert "thinking" not in t.body
    assert t.thinking_off_reason == "tool_choice forces a tool"


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"tools": [{"type": "custom", "custom": {"name": "x"}}]}, "tools[0].type"),
        ({"tools": [{"type": "function"}]}, "tools[0].function"),
        ({"tools": [{"type": "function", "function": {}}]}, "tools[0].function.name"),
        ({"tools": [WEATHER, WEATHER]}, "tools[1].function.name"),
        (
            {"tools": [{"type": "function", "function": {"name": "f", "parameters": []}}]},
            "tools[0].function.parameters",
        ),
        (
            {"tools": [WEATHER], "tool_choice": {"type": "function", "function": {"name": "x"}}},
            "tool_choice.function.name",
        ),
        ({"tools": [WEATHER], "tool_choice": "sometimes"}, "tool_choice"),
        (
            {
                "tools": [WEATHER],
                "tool_choice": {"type": "allowed_tools", "allowed_tools": {"tools": []}},
            },
            "tool_choice.allowed_tools.tools",
        ),
    ],
)
def test_bad_tools_are_refused(fields: JSON, param: str) -> None:
    assert refused(chat(user("hi"), **fields)).param == param


# -- parameters ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "model", "max_tokens"),
    [
        ({}, SONNET, 32000),  # absent: the model's default, never a small one
        ({"max_tokens": 100}, SONNET, 100),
        ({"max_completion_tokens": 200, "max_tokens": 100}, SONNET, 200),
        ({"max_completion_tokens": 10**6}, SONNET, 64000),  # capped at the model's limit
        ({}, "claude-3-5-haiku", 8192),
    ],
)
def test_max_tokens(fields: JSON, model: str, max_tokens: int) -> None:
    assert accepted(chat(user("hi"), **fields), model).body["max_tokens"] == max_tokens


@pytest.mark.parametrize("field", ["max_tokens", "max_completion_tokens"])
def test_max_tokens_below_one_is_refused(field: str) -> None:
    assert refused(chat(user("hi"), **{field: 0})).param == field


def test_sampling_stop_user() -> None:
    t = accepted(
        chat(
            user("hi"),
            temperature=1.7,
            stop=["END", " ", "\n\nHuman:"],
            user="u-1",
        )
    )
    assert t.body["temperature"] == 1.0  # OpenAI's range is 0..2, Anthropic's 0..1
    assert t.body["stop_sequences"] == ["END", "\n\nHuman:"]
    assert t.body["metadata"] == {"user_id": "u-1"}
    t = accepted(chat(user("hi"), stop="STOP", safety_identifier="s-1", user="u-1", top_p=0.5))
    assert t.body["stop_sequences"] == ["STOP"]
    assert t.body["metadata"] == {"user_id": "s-1"}
    assert t.body["top_p"] == 0.5


def test_sampling_with_thinking_and_adaptive_models() -> None:
    t = accepted(chat(user("hi"), temperature=0.2, top_p=0.99, reasoning_effort="low"))
    assert "temperature" not in t.body
    assert t.body["top_p"] == 0.99
    t = accepted(chat(user("hi"), temperature=0.2), OPUS_47)
    assert "temperature" not in t.body


@pytest.mark.parametrize(
    ("effort", "model", "thinking", "output_config"),
    [
        (None, SONNET, None, None),
        ("none", SONNET, None, None),
        ("minimal", SONNET, {"type": "enabled", "budget_tokens": 1024}, None),
        ("high", GLM, {"type": "enabled", "budget_tokens": 16384}, None),
        ("medium", OPUS_47, {"type": "adaptive"}, {"effort": "medium"}),
        ("xhigh", SONNET_46, {"type": "adaptive"}, {"effort": "xhigh"}),
        ("high", "claude-3-5-haiku", None, None),
    ],
)
def test_reasoning_effort(
    effort: str | None, model: str, thinking: JSON | None, output_config: JSON | None
) -> None:
    body = chat(user("hi"))
    if effort is not None:
        body["reasoning_effort"] = effort
    t = accepted(body, model)
    assert t.body.get("thinking") == thinking
    assert t.body.get("output_config") == output_config


def test_unknown_reasoning_effort_is_refused() -> None:
    assert refused(chat(user("hi"), reasoning_effort="extreme")).param == "reasoning_effort"


def test_response_format() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}
    strict = {"name": "x", "schema": schema, "strict": True}
    t = accepted(
        chat(
            user("hi"),
            response_format={"type": "json_schema", "json_schema": strict},
            reasoning_effort="medium",
        ),
        OPUS_47,
    )
    # strict (what parse() sends): constrained upstream, the schema closed as Anthropic requires
    assert t.body["output_config"] == {
        "effort": "medium",
        "format": {"type": "json_schema", "schema": {**schema, "additionalProperties": False}},
    }
    assert "system" not in t.body
    # not strict: best effort, the schema as an instruction
    loose = {"name": "x", "description": "an answer", "schema": schema}
    t = accepted(chat(user("hi"), response_format={"type": "json_schema", "json_schema": loose}))
    assert "output_config" not in t.body
    (instruction,) = t.body["system"]
    assert instruction["text"] == schema_instruction(schema, "x", "an answer")
    assert '"required":["a"]' in instruction["text"]
    t = accepted(chat(user("hi"), response_format={"type": "json_object"}))
    assert t.body["system"] == [{"type": "text", "text": JSON_OBJECT_INSTRUCTION}]
    t = accepted(chat(user("hi"), response_format={"type": "text"}))
    assert "output_config" not in t.body
    assert "system" not in t.body


def test_strict_tools_get_anthropics_schema_subset() -> None:
    loose = {"type": "object", "properties": {"n": {"type": "integer", "minimum": 1}}}
    fn = {"name": "count", "parameters": loose, "strict": True}
    t = accepted(chat(user("hi"), tools=[{"type": "function", "function": fn}]))
    (sent,) = t.body["tools"]
    assert sent["strict"] is True
    assert sent["input_schema"]["additionalProperties"] is False
    assert "minimum" not in sent["input_schema"]["properties"]["n"]


def test_provider_quirks() -> None:
    """DeepSeek takes no images and no structured outputs; its temperature range is 0..2 (so
    the fake, which checks Anthropic's own rules, is not asked)."""
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    t = translate(
        chat(
            user(
                [
                    {"type": "text", "text": "look"},
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
                ]
            ),
            temperature=1.5,
            response_format={
                "type": "json_schema",
                "json_schema": {"name": "x", "schema": schema, "strict": True},
            },
            tools=[WEATHER],
        ),
        "deepseek-chat",
        provider=DEEPSEEK,
    )
    assert messages(t)[0]["content"][1] == media_note("image", DEEPSEEK)
    assert t.body["temperature"] == 1.5
    assert "output_config" not in t.body
    assert "strict" not in t.body["tools"][0]
    assert t.body["system"][0]["text"].startswith("Respond with a single JSON value")


def test_unsigned_thinking_is_replayed_where_the_provider_does_so() -> None:
    token = Envelope("k").seal("glm-4.6", [{"type": "thinking", "thinking": "p", "signature": ""}])
    history = chat(
        user("go"),
        assistant(
            None,
            tool_calls=[tool_call("c1")],
            thinking_blocks=[{"type": "thinking", "thinking": "p", "signature": token}],
        ),
        tool("c1"),
        tools=[WEATHER],
        reasoning_effort="low",
    )
    t = translate(history, "glm-4.6", provider=ZAI)
    assert t.thinking
    assert messages(t)[1]["content"][0] == {"type": "thinking", "thinking": "p", "signature": ""}
    t = translate(history, "glm-4.6")  # generic: an unsigned block would be refused upstream
    assert not t.thinking


def test_cache_breakpoints_and_retention() -> None:
    body = chat({"role": "system", "content": "Be brief."}, user("hi"), tools=[WEATHER])
    t = accepted(body, auto_cache=True)
    assert t.body["system"][-1]["cache_control"] == {"type": "ephemeral"}
    assert messages(t)[-1]["content"][-1]["cache_control"] == {"type": "ephemeral"}
    t = accepted({**body, "prompt_cache_retention": "24h"}, auto_cache=True)
    assert t.body["system"][-1]["cache_control"] == {"type": "ephemeral", "ttl": "1h"}
    t = accepted(body, auto_cache=False)
    assert "cache_control" not in t.body["system"][-1]


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"response_format": {"type": "json_schema", "json_schema": {}}}, "response_format"),
        ({"response_format": {"type": "yaml"}}, "response_format.type"),
    ],
)
def test_bad_response_format(fields: JSON, param: str) -> None:
    assert (refused(chat(user("hi"), **fields)).param or "").startswith(param)


def test_stream_options_include_usage() -> None:
    assert accepted(chat(user("hi"), stream_options={"include_usage": True})).include_usage
    assert not accepted(chat(user("hi"), stream=True)).include_usage


def test_ignored_fields_change_nothing() -> None:
    plain = accepted(chat(user("hi"))).body
    noisy = accepted(
        chat(
            user("hi"),
            frequency_penalty=0.5,
            presence_penalty=0.1,
            seed=7,
            logit_bias={"50256": -100},
            store=True,
            metadata={"k": "v"},
            service_tier="auto",
            prediction={"type": "content", "content": "x"},
            verbosity="low",
            prompt_cache_key="k",
            logprobs=False,
            top_logprobs=0,
            n=1,
            something_new={"x": 1},
        )
    ).body
    assert noisy == plain


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"n": 2}, "n"),
        ({"logprobs": True}, "logprobs"),
        ({"top_logprobs": 3}, "top_logprobs"),
        ({"audio": {"voice": "alloy", "format": "mp3"}}, "audio"),
        ({"modalities": ["text", "audio"]}, "modalities"),
        ({"web_search_options": {}}, "web_search_options"),
        ({"functions": [{"name": "f"}]}, "functions"),
        ({"function_call": "auto"}, "function_call"),
    ],
)
def test_unsupported_fields_are_refused_naming_the_field(fields: JSON, param: str) -> None:
    err = refused(chat(user("hi"), **fields))
    assert err.param == param
    assert err.code == "unsupported_parameter"


@pytest.mark.parametrize(
    ("raw", "param"),
    [
        (b"", "body"),
        (b"{not json", "body"),
        (b'{"model": "x"}', "messages"),
        (b'{"messages": []}', "model"),
        (b'{"model": "x", "messages": [], "temperature": "hot"}', "temperature"),
        (b'{"model": "x", "messages": [], "stop": [1]}', "stop"),
    ],
)
def test_undecodable_requests_name_the_field(raw: bytes, param: str) -> None:
    with pytest.raises(BadRequest) as info:
        decode_request(raw)
    assert (info.value.param or "").startswith(param)


# -- thinking round trip ------------------------------------------------------------------------


def test_thinking_blocks_come_back_exactly_and_keep_thinking_on() -> None:
    signer = Signer()
    entry = sealed_thinking(signer, "I need the weather tool.")
    t = accepted(
        chat(
            user("Weather in Oslo?"),
            assistant(None, tool_calls=[tool_call("c1")], thinking_blocks=[entry]),
            tool("c1"),
            tools=[WEATHER],
            reasoning_effort="low",
        ),
        signer=signer,
    )
    assert t.body["thinking"]["type"] == "enabled"
    assert messages(t)[1]["content"][0] == {
        "type": "thinking",
        "thinking": "I need the weather tool.",
        "signature": signer.sign("I need the weather tool."),
    }
    assert block_types(t)[1] == ["thinking", "tool_use"]


def test_stream_accumulated_blocks_with_index_and_content_parts_also_come_back() -> None:
    """openai-python's stream accumulator keeps ``index``; the Agents SDK's legacy replay puts
    thinking blocks into ``content``."""
    signer = Signer()
    first = {**sealed_thinking(signer, "one"), "index": 0}
    second = sealed_thinking(signer, "two")
    t = accepted(
        chat(
            user("go"),
            assistant(None, tool_calls=[tool_call("c1")], thinking_blocks=[first]),
            tool("c1"),
            assistant([second, {"type": "text", "text": "more"}], tool_calls=[tool_call("c2")]),
            tool("c2"),
            tools=[WEATHER],
            reasoning_effort="low",
        ),
        signer=signer,
    )
    assert "thinking" in t.body
    assert block_types(t)[1] == ["thinking", "tool_use"]
    assert block_types(t)[3] == ["thinking", "text", "tool_use"]
    assert messages(t)[3]["content"][0]["thinking"] == "two"


def test_redacted_thinking_comes_back() -> None:
    signer = Signer()
    signer.redacted.add("opaque")
    token = Envelope("k").seal(SONNET, [{"type": "redacted_thinking", "data": "opaque"}])
    t = accepted(
        chat(
            user("go"),
            assistant(
                None,
                tool_calls=[tool_call("c1")],
                thinking_blocks=[{"type": "redacted_thinking", "data": token}],
            ),
            tool("c1"),
            tools=[WEATHER],
            reasoning_effort="low",
        ),
        signer=signer,
    )
    assert messages(t)[1]["content"][0] == {"type": "redacted_thinking", "data": "opaque"}


@pytest.mark.parametrize(
    "entry",
    [
        pytest.param("tampered", id="tampered"),
        pytest.param("other-key", id="other-key"),
        pytest.param("other-model", id="other-model"),
        pytest.param("raw-anthropic", id="raw-anthropic-signature"),
        pytest.param("unsigned", id="unsigned"),
        pytest.param("junk", id="not-an-object"),
    ],
)
def test_unrestorable_thinking_is_dropped_and_thinking_turned_off(entry: str) -> None:
    signer = Signer()
    good = sealed_thinking(signer, "plan")
    bad: Any
    if entry == "tampered":
        token = good["signature"]
        bad = {**good, "signature": token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")}
    elif entry == "other-key":
        bad = sealed_thinking(signer, "plan", envelope=Envelope("another key"))
    elif entry == "other-model":
        bad = sealed_thinking(signer, "plan", model="claude-opus-4-1")
    elif entry == "raw-anthropic":
        bad = {"type": "thinking", "thinking": "plan", "signature": signer.sign("plan")}
    elif entry == "unsigned":
        token = Envelope("k").seal(SONNET, [{"type": "thinking", "thinking": "p", "signature": ""}])
        bad = {"type": "thinking", "thinking": "p", "signature": token}
    else:
        bad = "junk"
    t = accepted(
        chat(
            user("Weather?"),
            assistant("Earlier answer.", thinking_blocks=[good]),
            user("And Oslo?"),
            assistant(None, tool_calls=[tool_call("c1")], thinking_blocks=[bad]),
            tool("c1"),
            tools=[WEATHER],
            reasoning_effort="low",
        ),
        signer=signer,
    )
    assert "thinking" not in t.body
    assert t.thinking_off_reason == "thinking blocks from elsewhere could not be restored"
    assert all(b["type"] != "thinking" for m in messages(t) for b in m["content"])


def test_tool_loop_without_its_thinking_turns_thinking_off() -> None:
    """A client that drops thinking_blocks (LangChain's ChatOpenAI) still gets a valid request."""
    t = accepted(
        chat(
            user("Weather?"),
            assistant(None, tool_calls=[tool_call("c1")], reasoning_content="I will call it."),
            tool("c1"),
            tools=[WEATHER],
            reasoning_effort="medium",
        )
    )
    assert "thinking" not in t.body
    assert t.thinking_off_reason == "the current tool loop has no thinking block"


def test_thinking_off_strips_restored_blocks() -> None:
    signer = Signer()
    t = accepted(
        chat(
            user("hi"),
            assistant("hello", thinking_blocks=[sealed_thinking(signer, "greet")]),
            user("bye"),
        ),
        signer=signer,
    )
    assert block_types(t) == [["text"], ["text"], ["text"]]


def test_long_histories_stay_valid() -> None:
    history: list[JSON] = []
    for i in range(200):
        history += [
            user(f"q{i}"),
            assistant(None, tool_calls=[tool_call(f"c{i}")]),
            tool(f"c{i}", f"r{i}"),
            assistant(f"a{i}"),
        ]
    t = accepted(chat(*history, tools=[WEATHER]))
    assert len(messages(t)) == 800
