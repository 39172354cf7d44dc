"""Full-fidelity request translation (issue "claude2codex: full fidelity"): media, structured
output, web search and other hosted tools, prompt caching, provider quirks. Each test names the
client input and the exact Anthropic request it becomes; the strict fake's ``validate`` accepts
every translated body."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from llmproxy.dialects.anthropic_cache import place_breakpoints
from llmproxy.dialects.anthropic_providers import (
    ANTHROPIC,
    DEEPSEEK,
    GENERIC,
    KIMI,
    MINIMAX,
    ZAI,
    ProviderProfile,
    provider_for,
)
from llmproxy.dialects.anthropic_request import upstream_headers
from llmproxy.dialects.anthropic_schema import strict_schema
from llmproxy.envelope import Envelope
from tests.routes.claude2codex.translate_helpers import (
    CAPTURES,
    FN_TOOL,
    GLM,
    JSON,
    KEY,
    SONNET,
    USER_HI,
    accepted,
    call,
    messages,
    output,
    refused,
    request,
    translate,
    user,
)
from tests.support.fake_anthropic import Signer, validate

PNG_B64 = base64.b64encode(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR").decode()
PDF_B64 = base64.b64encode(b"%PDF-1.4\n").decode()
MARK = {"type": "ephemeral"}
VIEW_IMAGE = {
    "type": "function",
    "name": "view_image",
    "parameters": {
        "type": "object",
        "properties": {"path": {"type": "string"}},
        "required": ["path"],
        "additionalProperties": False,
    },
}


def capture(name: str) -> JSON:
    body: JSON = json.loads((CAPTURES / f"{name}.json").read_text())["body"]
    return body


# -- media ---------------------------------------------------------------------------------------


def test_codex_image_capture_becomes_an_image_block_and_detail_is_dropped() -> None:
    body = capture("codex-image-1")
    t = accepted(body)
    part = body["input"][-1]["content"][1]
    assert part["detail"] == "original"  # Codex's `-i image.png`
    data = part["image_url"].split(",", 1)[1]
    last = messages(t)[-1]["content"]
    images = [b for b in last if b["type"] == "image"]
    assert images == [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": data}}
    ]
    i = last.index(images[0])
    assert last[i - 1]["text"].startswith("<image name=[Image #1]")  # Codex's own framing
    assert last[i + 1]["text"] == "</image>"
    assert "detail" not in json.dumps(last)


@pytest.mark.parametrize(
    "url", ["data:image/svg+xml;base64," + PNG_B64, "data:image/tiff;base64," + PNG_B64]
)
def test_unsupported_image_media_types_are_refused(url: str) -> None:
    body = request({"role": "user", "content": [{"type": "input_image", "image_url": url}]})
    err = refused(body)
    assert err.param == "input[0].content[0].image_url"
    assert "image/jpeg, image/png, image/gif and image/webp" in err.message


def test_view_image_output_becomes_an_image_inside_the_tool_result() -> None:
    """Codex's ``view_image`` returns the picture as content parts of the tool output: it goes
    upstream as an image block inside the tool_result, not as stringified JSON."""
    image = {"type": "input_image", "image_url": f"data:image/png;base64,{PNG_B64}"}
    t = accepted(
        request(
            USER_HI,
            call("c1", name="view_image", arguments='{"path":"/tmp/a.png"}'),
            output("c1", [image]),
            tools=[VIEW_IMAGE],
        )
    )
    assert messages(t)[2] == {
        "role": "user",
        "content": [
            {
                "type": "tool_result",
                "tool_use_id": "c1",
                "content": [
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/png", "data": PNG_B64},
                    }
                ],
            }
        ],
    }


def test_custom_tool_output_parts_are_blocks_too() -> None:
    out = [{"type": "input_text", "text": "done"}, {"type": "input_text", "text": "exit 0"}]
    body = request(
        USER_HI,
        {"type": "custom_tool_call", "call_id": "c1", "name": "apply_patch", "input": "x"},
        {"type": "custom_tool_call_output", "call_id": "c1", "output": out},
        tools=[{"type": "custom", "name": "apply_patch"}],
    )
    assert messages(accepted(body))[2]["content"][0]["content"] == [
        {"type": "text", "text": "done"},
        {"type": "text", "text": "exit 0"},
    ]


@pytest.mark.parametrize("provider", [DEEPSEEK, MINIMAX])
def test_providers_without_media_get_a_note_instead_of_images_and_documents(
    provider: ProviderProfile,
) -> None:
    parts = [
        {"type": "input_text", "text": "look"},
        {"type": "input_image", "image_url": f"data:image/png;base64,{PNG_B64}"},
        {"type": "input_file", "file_data": f"data:application/pdf;base64,{PDF_B64}"},
    ]
    t = accepted(request({"role": "user", "content": parts}), GLM, provider=provider)
    assert messages(t)[0]["content"] == [
        {"type": "text", "text": "look"},
        {
            "type": "text",
            "text": f"[image omitted: the {provider.name} upstream does not accept images]",
        },
        {
            "type": "text",
            "text": f"[document omitted: the {provider.name} upstream does not accept documents]",
        },
    ]


def test_a_bad_image_is_refused_even_for_a_provider_without_images() -> None:
    bad = {"type": "input_image", "image_url": "data:image/bmp;base64," + PNG_B64}
    with pytest.raises(Exception, match="unsupported image type"):
        translate(request({"role": "user", "content": [bad]}), GLM, provider=DEEPSEEK)


# -- structured output ---------------------------------------------------------------------------

RICH_SCHEMA: JSON = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": {
        "name": {"type": "string", "minLength": 2, "maxLength": 40, "pattern": "^[A-Z]"},
        "email": {"type": "string", "format": "email"},
        "site": {"type": "string", "format": "iri"},
        "age": {"type": "integer", "minimum": 0, "maximum": 150, "description": "Years."},
        "tags": {"type": "array", "items": {"type": "string"}, "minItems": 2, "uniqueItems": True},
        "nick": {"type": ["string", "null"]},
        "kind": {"oneOf": [{"const": "a"}, {"const": "b"}]},
        "pet": {"$ref": "#/$defs/Pet"},
        "extra": {"type": "object", "additionalProperties": {"type": "string"}},
    },
    "required": ["name", "email", "age", "tags", "nick", "kind", "pet", "extra"],
    "$defs": {"Pet": {"type": "object", "properties": {"n": {"type": "string"}}}},
}

RICH_ADAPTED: JSON = {
    "$defs": {
        "Pet": {
            "type": "object",
            "properties": {"n": {"type": "string"}},
            "additionalProperties": False,
        }
    },
    "type": "object",
    "properties": {
        "name": {
            "type": "string",
            "description": 'Constraints: {"maxLength":40,"minLength":2,"pattern":"^[A-Z]"}',
        },
        "email": {"type": "string", "format": "email"},
        "site": {"type": "string", "description": 'Constraints: {"format":"iri"}'},
        "age": {
            "type": "integer",
            "description": 'Years.\n\nConstraints: {"maximum":150,"minimum":0}',
        },
        "tags": {
            "type": "array",
            "items": {"type": "string"},
            "description": 'Constraints: {"minItems":2,"uniqueItems":true}',
        },
        "nick": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        "kind": {"anyOf": [{"const": "a"}, {"const": "b"}]},
        "pet": {"$ref": "#/$defs/Pet"},
        "extra": {"type": "object", "additionalProperties": False},
    },
    "required": ["name", "email", "age", "tags", "nick", "kind", "pet", "extra"],
    "additionalProperties": False,
}


def test_schema_adaptation_follows_anthropics_subset() -> None:
    adapted, lossless = strict_schema(RICH_SCHEMA)
    assert adapted == RICH_ADAPTED
    assert not lossless
    assert strict_schema({"type": "object", "properties": {}, "required": []}) == (
        {"type": "object", "properties": {}, "required": [], "additionalProperties": False},
        True,
    )


def test_strict_json_schema_goes_to_output_config_adapted() -> None:
    fmt = {"type": "json_schema", "name": "person", "strict": True, "schema": RICH_SCHEMA}
    t = accepted(request("who?", text={"format": fmt}))
    assert t.body["output_config"] == {"format": {"type": "json_schema", "schema": RICH_ADAPTED}}
    assert t.output_format == "native"
    assert "system" not in t.body
    # The fake refuses what Anthropic refuses: the raw schema would not pass.
    raw = {**t.body, "output_config": {"format": {"type": "json_schema", "schema": RICH_SCHEMA}}}
    assert "not supported" in (validate(raw) or "")


def test_codex_output_schema_capture() -> None:
    t = accepted(capture("codex-output-schema-1"))
    assert t.body["output_config"]["format"] == {
        "type": "json_schema",
        "schema": {
            "type": "object",
            "properties": {"greeting": {"type": "string"}},
            "required": ["greeting"],
            "additionalProperties": False,
        },
    }


def test_non_strict_json_schema_is_an_instruction() -> None:
    """``strict`` false or absent: best effort, as an instruction (the written decision)."""
    schema = {"type": "object", "properties": {"a": {"type": "string", "minLength": 3}}}
    fmt = {"type": "json_schema", "name": "thing", "description": "A thing.", "schema": schema}
    t = accepted(request("go", instructions="sys", text={"format": fmt}))
    assert "output_config" not in t.body
    assert t.output_format == "instruction"
    assert t.body["system"][0] == {"type": "text", "text": "sys"}
    instruction = t.body["system"][-1]["text"]
    assert instruction.startswith("Respond with a single JSON value that conforms")
    assert "Schema name: thing" in instruction
    assert "Purpose: A thing." in instruction
    assert json.dumps(schema, separators=(",", ":")) in instruction


def test_json_object_is_an_instruction() -> None:
    t = accepted(request("go", text={"format": {"type": "json_object"}}))
    assert t.body["system"] == [
        {"type": "text", "text": "Respond with a single valid JSON object and nothing else."}
    ]
    assert t.output_format == "instruction"


@pytest.mark.parametrize(
    ("model", "provider"),
    [("glm-4.6", ZAI), ("kimi-k2", KIMI), ("deepseek-chat", DEEPSEEK), ("MiniMax-M2", MINIMAX)],
)
def test_providers_without_structured_outputs_get_the_schema_as_an_instruction(
    model: str, provider: ProviderProfile
) -> None:
    fmt = {"type": "json_schema", "name": "x", "strict": True, "schema": {"type": "object"}}
    t = accepted(request("go", text={"format": fmt}), model, provider=provider)
    assert "format" not in t.body.get("output_config", {})
    assert t.output_format == "instruction"


def test_older_claude_models_get_the_schema_as_an_instruction() -> None:
    fmt = {"type": "json_schema", "name": "x", "strict": True, "schema": {"type": "object"}}
    t = accepted(request("go", text={"format": fmt}), "claude-opus-4-1", provider=ANTHROPIC)
    assert t.output_format == "instruction"


def test_strict_function_tools_get_the_adapted_schema() -> None:
    tool = {"type": "function", "name": "f", "strict": True, "parameters": RICH_SCHEMA}
    t = accepted(request("go", tools=[tool]))
    assert t.body["tools"] == [{"name": "f", "input_schema": RICH_ADAPTED, "strict": True}]
    # Without structured outputs upstream, strict is not sent and the schema is the client's.
    t = accepted(request("go", tools=[tool]), GLM, provider=ZAI)
    assert t.body["tools"] == [{"name": "f", "input_schema": RICH_SCHEMA}]


# -- hosted tools --------------------------------------------------------------------------------

WEB_SEARCH: JSON = {
    "type": "web_search",
    "filters": {"allowed_domains": ["python.org", "docs.python.org"]},
    "user_location": {"type": "approximate", "city": "Oslo", "country": "NO", "region": None},
    "search_context_size": "high",
}


def test_web_search_becomes_anthropics_server_tool() -> None:
    t = accepted(request("news?", tools=[FN_TOOL, WEB_SEARCH]))
    assert t.body["tools"][1] == {
        "type": "web_search_20250305",
        "name": "web_search",
        "allowed_domains": ["python.org", "docs.python.org"],
        "user_location": {"type": "approximate", "city": "Oslo", "country": "NO"},
    }
    assert t.tools.web_search
    assert t.dropped_tools == []


@pytest.mark.parametrize("tool_type", ["web_search", "web_search_2025_08_26", "web_search_preview"])
def test_every_web_search_name_maps(tool_type: str) -> None:
    t = accepted(request("news?", tools=[{"type": tool_type}]))
    assert t.body["tools"] == [{"type": "web_search_20250305", "name": "web_search"}]


@pytest.mark.parametrize(
    ("tool", "provider"),
    [
        ({"type": "web_search", "external_web_access": False}, GENERIC),  # Codex: cached only
        ({"type": "web_search"}, ZAI),  # no server tools upstream
        ({"type": "web_search"}, DEEPSEEK),
    ],
)
def test_web_search_is_dropped_by_the_written_rule(tool: JSON, provider: ProviderProfile) -> None:
    t = accepted(request("news?", tools=[FN_TOOL, tool]), GLM, provider=provider)
    assert [x["name"] for x in t.body["tools"]] == ["get_weather"]
    assert t.dropped_tools == [tool["type"]]


def test_a_client_tool_named_web_search_wins_over_the_hosted_one() -> None:
    own = {**FN_TOOL, "name": "web_search"}
    t = accepted(request("x", tools=[own, {"type": "web_search"}]))
    assert t.body["tools"] == [
        {
            "name": "web_search",
            "description": FN_TOOL["description"],
            "input_schema": FN_TOOL["parameters"],
            "strict": True,
        }
    ]
    assert t.tools.lookup("web_search").kind == "function"
    assert t.dropped_tools == ["web_search"]


def test_bad_web_search_filters_are_refused() -> None:
    bad = {"type": "web_search", "filters": {"allowed_domains": "python.org"}}
    assert refused(request("x", tools=[bad])).param == "tools[0].filters.allowed_domains"


def test_tool_choice_web_search_forces_the_server_tool() -> None:
    t = accepted(request("x", tools=[{"type": "web_search"}], tool_choice={"type": "web_search"}))
    assert t.body["tool_choice"] == {"type": "tool", "name": "web_search"}
    assert refused(request("x", tool_choice={"type": "web_search"}, tools=[FN_TOOL])).param == (
        "tool_choice.type"
    )


def test_web_search_history_items_are_dropped() -> None:
    item = {
        "type": "web_search_call",
        "id": "ws_1",
        "status": "completed",
        "action": {"type": "search", "query": "q"},
    }
    t = accepted(request(USER_HI, item, user("thanks"), tools=[{"type": "web_search"}]))
    assert "web_search_call" in t.dropped_items


CODEX_TOOL_SEARCH: JSON = {
    "type": "tool_search",
    "execution": "client",
    "description": "Searches deferred tools.",
    "parameters": {
        "type": "object",
        "properties": {"query": {"type": "string"}, "limit": {"type": "number"}},
        "required": ["query"],
        "additionalProperties": False,
    },
}


def test_client_tool_search_is_a_client_tool_and_its_output_loads_tools() -> None:
    loaded = {
        "type": "namespace",
        "name": "calendar",
        "tools": [{"type": "function", "name": "create", "parameters": {"type": "object"}}],
    }
    t = accepted(
        request(
            USER_HI,
            {
                "type": "tool_search_call",
                "call_id": "ts1",
                "execution": "client",
                "status": "completed",
                "arguments": {"query": "calendar", "limit": 1},
            },
            {
                "type": "tool_search_output",
                "call_id": "ts1",
                "execution": "client",
                "status": "completed",
                "tools": [loaded],
            },
            {"type": "function_call", "call_id": "c2", "name": "create", "namespace": "calendar"},
            output("c2", "ok"),
            tools=[CODEX_TOOL_SEARCH],
        )
    )
    assert [x["name"] for x in t.body["tools"]] == ["tool_search", "calendar__create"]
    assert t.body["tools"][0] == {
        "name": "tool_search",
        "description": "Searches deferred tools.",
        "input_schema": CODEX_TOOL_SEARCH["parameters"],
    }
    assert messages(t)[1:3] == [
        {
            "role": "assistant",
            "content": [
                {
                    "type": "tool_use",
                    "id": "ts1",
                    "name": "tool_search",
                    "input": {"query": "calendar", "limit": 1},
                }
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "ts1",
                    "content": "Tools loaded and now available: calendar",
                }
            ],
        },
    ]
    assert messages(t)[3]["content"][0]["name"] == "calendar__create"
    assert t.tools.lookup("tool_search").kind == "tool_search"


def test_server_side_tool_search_is_dropped() -> None:
    t = accepted(request("x", tools=[{"type": "tool_search"}]))
    assert t.dropped_tools == ["tool_search"]


def test_local_shell_is_a_client_tool_and_its_history_replays() -> None:
    t = accepted(
        request(
            USER_HI,
            {
                "type": "local_shell_call",
                "id": "ls1",
                "call_id": "ls1",
                "status": "completed",
                "action": {
                    "type": "exec",
                    "command": ["bash", "-lc", "ls"],
                    "env": {"A": "1"},
                    "working_directory": "/w",
                    "timeout_ms": 1000,
                },
            },
            {"type": "local_shell_call_output", "id": "ls1", "output": '{"output":"a.txt"}'},
            tools=[{"type": "local_shell"}],
        )
    )
    assert t.body["tools"][0]["name"] == "local_shell"
    assert t.body["tools"][0]["input_schema"]["required"] == ["command"]
    assert messages(t)[1]["content"] == [
        {
            "type": "tool_use",
            "id": "ls1",
            "name": "local_shell",
            "input": {
                "command": ["bash", "-lc", "ls"],
                "workdir": "/w",
                "timeout_ms": 1000,
                "env": {"A": "1"},
            },
        }
    ]
    assert messages(t)[2]["content"] == [
        {"type": "tool_result", "tool_use_id": "ls1", "content": '{"output":"a.txt"}'}
    ]


# -- prompt caching ------------------------------------------------------------------------------


def _marked(body: JSON) -> list[str]:
    """Where the breakpoints are: tools.N, system.N, messages.N.M."""
    out = [f"tools.{i}" for i, t in enumerate(body.get("tools", [])) if "cache_control" in t]
    out += [f"system.{i}" for i, b in enumerate(body.get("system", [])) if "cache_control" in b]
    for i, m in enumerate(body["messages"]):
        out += [f"messages.{i}.{j}" for j, b in enumerate(m["content"]) if "cache_control" in b]
    return out


def _loop(turns: int) -> JSON:
    items: list[Any] = [user("start")]
    for i in range(turns):
        items += [call(f"c{i}"), output(f"c{i}", f"result {i}")]
    return request(*items, instructions="sys", tools=[FN_TOOL])


def test_default_breakpoints_sit_on_the_stable_prefix() -> None:
    t = accepted(_loop(3), auto_cache=True)
    # last user turn, last system block, the user turn before it, the last tool
    assert _marked(t.body) == ["tools.0", "system.0", "messages.4.0", "messages.6.0"]
    assert t.body["system"][0]["cache_control"] == MARK


def test_a_single_turn_gets_what_it_has() -> None:
    t = accepted(request("hi"), auto_cache=True)
    assert _marked(t.body) == ["messages.0.0"]


def test_client_breakpoints_come_first_and_are_kept() -> None:
    marked = {
        "type": "input_text",
        "text": "fixed",
        "prompt_cache_breakpoint": {"mode": "explicit"},
    }
    body = _loop(3)
    body["input"].insert(0, {"role": "developer", "content": [marked]})
    body["input"][1]["content"] = [{**marked, "text": "doc"}, {"type": "input_text", "text": "q"}]
    t = accepted(body, auto_cache=True)
    # Two client markers (system.1, messages.0.0); the automatic ones fill the two slots left
    # in priority order: the last user turn, the last system block (already the client's, so
    # skipped), the user turn before the last.
    assert _marked(t.body) == ["system.1", "messages.0.0", "messages.4.0", "messages.6.0"]


def test_explicit_mode_places_only_the_clients_breakpoints() -> None:
    marked = {"type": "input_text", "text": "doc", "prompt_cache_breakpoint": {"mode": "explicit"}}
    body = {**_loop(2), "prompt_cache_options": {"mode": "explicit"}}
    body["input"][0] = {"role": "user", "content": [marked]}
    t = accepted(body, auto_cache=True)
    assert _marked(t.body) == ["messages.0.0"]


def test_the_setting_turns_automatic_breakpoints_off() -> None:
    assert _marked(accepted(_loop(2), auto_cache=False).body) == []


def test_24h_retention_is_a_one_hour_ttl_on_every_marker() -> None:
    t = accepted({**_loop(2), "prompt_cache_retention": "24h"}, auto_cache=True)
    marks = [
        b["cache_control"]
        for part in (t.body["tools"], t.body["system"], *(m["content"] for m in messages(t)))
        for b in part
        if "cache_control" in b
    ]
    assert len(marks) == 4
    assert all(m == {"type": "ephemeral", "ttl": "1h"} for m in marks)


def test_more_than_four_client_breakpoints_keep_the_last_four() -> None:
    body: JSON = {
        "system": [{"type": "text", "text": f"s{i}", "cache_control": MARK} for i in range(6)],
        "messages": [{"role": "user", "content": [{"type": "text", "text": "x"}]}],
    }
    assert place_breakpoints(body, auto=True) == 4
    assert [i for i, b in enumerate(body["system"]) if "cache_control" in b] == [2, 3, 4, 5]


def test_codex_captures_never_exceed_four_breakpoints() -> None:
    for name in ("codex-gpt55-1", "codex-tool-gpt55-2", "codex-default-1"):
        t = accepted(capture(name), signer=Signer(), auto_cache=True)
        assert 1 <= len(_marked(t.body)) <= 4


# -- provider profiles ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("https://api.anthropic.com", "anthropic"),
        ("https://api.z.ai/api/anthropic", "zai"),
        ("https://open.bigmodel.cn/api/anthropic", "zai"),
        ("https://api.moonshot.ai/anthropic", "kimi"),
        ("https://api.kimi.com/coding", "kimi"),
        ("https://api.deepseek.com/anthropic", "deepseek"),
        ("https://api.minimax.io/anthropic", "minimax"),
        ("https://api.minimaxi.com/anthropic", "minimax"),
        ("https://llm-gw.internal/anthropic", "generic"),
        ("https://api.deepseek.com.evil.example", "generic"),
    ],
)
def test_provider_is_matched_by_host(url: str, name: str) -> None:
    assert provider_for(url).name == name


def test_operator_override_names_the_provider_of_a_private_host() -> None:
    assert provider_for("http://10.0.0.5:8080/x", {"10.0.0.5": "deepseek"}) is DEEPSEEK
    assert provider_for("http://10.0.0.5:8080/x", {"10.0.0.5": "nope"}) is GENERIC


def test_auth_header_per_provider() -> None:
    client = {"authorization": "Bearer sk-1"}
    anthropic = upstream_headers(client, "https://api.anthropic.com", "r")
    assert anthropic["x-api-key"] == "sk-1"
    assert "authorization" not in anthropic  # Anthropic reads Authorization as an OAuth token
    for url in ("https://api.z.ai/api/anthropic", "https://api.deepseek.com/anthropic"):
        h = upstream_headers(client, url, "r")
        assert (h["x-api-key"], h["authorization"]) == ("sk-1", "Bearer sk-1")


def _sealed(thinking: str, signature: str, model: str = GLM) -> JSON:
    env = Envelope(KEY)
    blob = env.seal(model, [{"type": "thinking", "thinking": thinking, "signature": signature}])
    return {"type": "reasoning", "summary": [], "encrypted_content": blob}


def _tool_loop_with_unsigned_thinking() -> JSON:
    return request(
        USER_HI,
        _sealed("I will call the tool.", ""),
        call("c1"),
        output("c1"),
        tools=[FN_TOOL],
        reasoning={"effort": "medium"},
    )


@pytest.mark.parametrize("provider", [ZAI, KIMI, DEEPSEEK, MINIMAX])
def test_unsigned_thinking_is_replayed_to_providers_that_send_it(
    provider: ProviderProfile,
) -> None:
    t = translate(_tool_loop_with_unsigned_thinking(), GLM, provider=provider)
    assert t.thinking
    assert messages(t)[1]["content"][0] == {
        "type": "thinking",
        "thinking": "I will call the tool.",
        "signature": "",
    }


@pytest.mark.parametrize("provider", [ANTHROPIC, GENERIC])
def test_unsigned_thinking_is_dropped_for_anthropic(provider: ProviderProfile) -> None:
    t = accepted(_tool_loop_with_unsigned_thinking(), GLM, provider=provider)
    assert not t.thinking
    assert t.thinking_off_reason == "reasoning items from elsewhere could not be restored"


def _two_tool_turns(first_thinks: bool) -> JSON:
    signer = Signer()
    items: list[Any] = [USER_HI]
    if first_thinks:
        items.append(_sealed("t1", signer.sign("t1")))
    items += [call("c1"), output("c1"), _sealed("t2", signer.sign("t2")), call("c2"), output("c2")]
    return request(*items, tools=[FN_TOOL], reasoning={"effort": "medium"})


@pytest.mark.parametrize("provider", [KIMI, DEEPSEEK, MINIMAX])
def test_providers_that_want_every_tool_turns_thinking(provider: ProviderProfile) -> None:
    """DeepSeek: "The content[].thinking in the thinking mode must be passed back to the API"
    for every earlier tool turn: a history lacking one turns thinking off instead."""
    assert translate(_two_tool_turns(True), GLM, provider=provider).thinking
    t = translate(_two_tool_turns(False), GLM, provider=provider)
    assert not t.thinking
    assert t.thinking_off_reason == "an earlier tool turn has no thinking block"
    assert not any(b["type"] == "thinking" for m in messages(t) for b in m["content"])


def test_anthropic_needs_only_the_current_loops_thinking() -> None:
    assert translate(_two_tool_turns(False), GLM, provider=GENERIC).thinking


def test_deepseek_keeps_temperatures_up_to_two() -> None:
    t = translate(request("x", temperature=1.5), "deepseek-chat", provider=DEEPSEEK)
    assert t.body["temperature"] == 1.5
    assert (
        translate(request("x", temperature=1.5), "glm-4.6", provider=ZAI).body["temperature"] == 1.0
    )


def test_minimax_temperature_range_is_open_at_zero() -> None:
    t = translate(request("x", temperature=0), "MiniMax-M2", provider=MINIMAX)
    assert t.body["temperature"] == 0.01


@pytest.mark.parametrize("model", ["kimi-k2-thinking", "kimi-k2.6", "kimi-k3"])
def test_kimi_thinking_models_get_no_sampling_params(model: str) -> None:
    t = translate(request("x", temperature=0.2, top_p=0.5), model, provider=KIMI)
    assert "temperature" not in t.body
    assert "top_p" not in t.body
    t = translate(request("x", temperature=0.2), "kimi-k2-0905-preview", provider=KIMI)
    assert t.body["temperature"] == 0.2


# -- the retry after a refused signature, and compaction requests --------------------------------


def test_without_reasoning_restore_no_thinking_is_replayed() -> None:
    signer = Signer()
    body = request(
        USER_HI,
        _sealed("plan", signer.sign("plan"), SONNET),
        call("c1"),
        output("c1"),
        tools=[FN_TOOL],
        reasoning={"effort": "low"},
    )
    assert messages(translate(body))[1]["content"][0]["type"] == "thinking"
    t = translate(body, restore_reasoning=False)
    assert not t.thinking
    assert [b["type"] for b in messages(t)[1]["content"]] == ["tool_use"]


def test_codex_local_compaction_request_is_an_ordinary_turn() -> None:
    """Codex compacts a custom provider's conversation with an ordinary request: the history,
    then its summarisation prompt as a user message, ``tools: []``."""
    body = capture("codex-tool-gpt55-2")
    body["input"].append(user("You are performing a CONTEXT CHECKPOINT COMPACTION. Summarize."))
    body["tools"] = []
    t = accepted(body, signer=Signer(), auto_cache=True)
    assert messages(t)[-1]["content"][-1]["text"].startswith("You are performing")
    assert t.body["tool_choice"] == {"type": "none"}  # the history's tools stay declared
