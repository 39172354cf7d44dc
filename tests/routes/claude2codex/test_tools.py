"""Tools, tool calls and tool_choice in the request translation (routes/claude2codex/tools.py,
reference 6.5 and 6.6)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from llmproxy.errors import BadRequest
from routes.claude2codex.tools import ToolMap, ToolSpec
from tests.routes.claude2codex.translate_helpers import (
    FN_TOOL,
    GLM,
    JSON,
    SONNET,
    USER_HI,
    accepted,
    block_types,
    call,
    messages,
    output,
    refused,
    request,
)

NAME_OK = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")

APPLY_PATCH_GRAMMAR = """start: begin_patch hunk+ end_patch
begin_patch: "*** Begin Patch" LF
end_patch: "*** End Patch" LF?
hunk: add_hunk | delete_hunk | update_hunk
add_hunk: "*** Add File: " filename LF add_line+
delete_hunk: "*** Delete File: " filename LF
update_hunk: "*** Update File: " filename LF change_move? change?
filename: /(.+)/
add_line: "+" /(.*)/ LF -> line
change_move: "*** Move to: " filename LF
change: (change_context | change_line)+ eof_line?
change_context: ("@@" | "@@ " /(.+)/) LF
change_line: ("+" | "-" | " ") /(.*)/ LF
eof_line: "*** End of File" LF
%import common.LF
"""

APPLY_PATCH: JSON = {
    "type": "custom",
    "name": "apply_patch",
    "description": "Use the `apply_patch` tool to edit files.",
    "format": {"type": "grammar", "syntax": "lark", "definition": APPLY_PATCH_GRAMMAR},
}

PATCH = "*** Begin Patch\n*** Add File: hello.txt\n+hello\n*** End Patch\n"


def fn(name: str, **extra: Any) -> JSON:
    return {"type": "function", "name": name, "parameters": {"type": "object"}, **extra}


def tool_named(tools: list[JSON], name: str) -> JSON:
    (tool,) = [t for t in tools if t["name"] == name]
    return tool


# ---------------------------------------------------------------------------------------------
# Tool definitions


def test_function_tool_maps_to_an_anthropic_tool() -> None:
    t = accepted(request("hi", tools=[FN_TOOL]))
    assert t.body["tools"] == [
        {
            "name": "get_weather",
            "description": "Weather for a city.",
            "input_schema": FN_TOOL["parameters"],
            "strict": True,
        }
    ]
    assert t.body["tool_choice"] == {"type": "auto"}


def test_function_tool_schema_gets_an_object_type() -> None:
    t = accepted(
        request(
            "hi",
            tools=[
                {"type": "function", "name": "a", "parameters": None},
                {"type": "function", "name": "b"},
                {"type": "function", "name": "c", "parameters": {"properties": {}}},
            ],
        )
    )
    assert [tool["input_schema"] for tool in t.body["tools"]] == [
        {"type": "object", "properties": {}},
        {"type": "object", "properties": {}},
        {"properties": {}, "type": "object"},
    ]


def test_custom_apply_patch_tool_takes_an_input_string_and_states_its_grammar() -> None:
    t = accepted(request("hi", tools=[APPLY_PATCH]))
    (tool,) = t.body["tools"]
    assert tool["name"] == "apply_patch"
    assert tool["input_schema"] == {
        "type": "object",
        "properties": {
            "input": {
                "type": "string",
                "description": tool["input_schema"]["properties"]["input"]["description"],
            }
        },
        "required": ["input"],
        "additionalProperties": False,
    }
    assert tool["description"].startswith("Use the `apply_patch` tool to edit files.")
    assert "lark" in tool["description"]
    assert APPLY_PATCH_GRAMMAR.strip() in tool["description"]
    assert t.tools.lookup("apply_patch") == ToolSpec("custom", "apply_patch", None, "apply_patch")


def test_custom_tool_without_grammar() -> None:
    t = accepted(request("hi", tools=[{"type": "custom", "name": "note"}]))
    (tool,) = t.body["tools"]
    assert tool["input_schema"]["required"] == ["input"]
    assert tool["description"]


def test_custom_tool_call_and_output_round_trip() -> None:
    t = accepted(
        request(
            USER_HI,
            {
                "type": "custom_tool_call",
                "status": "completed",
                "call_id": "call_2",
                "name": "apply_patch",
                "input": PATCH,
            },
            {"type": "custom_tool_call_output", "call_id": "call_2", "output": "Success."},
            tools=[APPLY_PATCH],
        )
    )
    assert messages(t)[1:] == [
        {
            "role": "assistant",
            "content": [
                {
                    "type": "tool_use",
                    "id": "call_2",
                    "name": "apply_patch",
                    "input": {"input": PATCH},
                }
            ],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "call_2", "content": "Success."}],
        },
    ]


def test_custom_tool_output_as_input_text_parts() -> None:
    out = [
        {"type": "input_text", "text": "Script completed\n"},
        {"type": "input_text", "text": "hello\n"},
    ]
    t = accepted(
        request(
            USER_HI,
            {"type": "custom_tool_call", "call_id": "c", "name": "apply_patch", "input": PATCH},
            {"type": "custom_tool_call_output", "call_id": "c", "output": out},
            tools=[APPLY_PATCH],
        )
    )
    assert messages(t)[2]["content"][0]["content"] == [
        {"type": "text", "text": "Script completed\n"},
        {"type": "text", "text": "hello\n"},
    ]


def test_namespace_tools_are_flattened_with_a_prefix() -> None:
    ns = {
        "type": "namespace",
        "name": "clock",
        "description": "Time tools",
        "tools": [fn("sleep"), {"type": "custom", "name": "cron"}],
    }
    t = accepted(request("hi", tools=[ns, fn("sleep")]))
    assert [tool["name"] for tool in t.body["tools"]] == ["clock__sleep", "clock__cron", "sleep"]
    assert t.tools.lookup("clock__sleep") == ToolSpec("function", "sleep", "clock", "clock__sleep")
    assert t.tools.lookup("clock__cron") == ToolSpec("custom", "cron", "clock", "clock__cron")
    assert t.tools.lookup("sleep") == ToolSpec("function", "sleep", None, "sleep")


def test_functions_namespace_means_no_namespace() -> None:
    ns = {"type": "namespace", "name": "functions", "tools": [fn("wait")]}
    t = accepted(request("hi", tools=[ns]))
    assert [tool["name"] for tool in t.body["tools"]] == ["wait"]
    assert t.tools.lookup("wait") == ToolSpec("function", "wait", None, "wait")


def test_function_call_with_namespace_uses_the_flattened_name() -> None:
    ns = {"type": "namespace", "name": "clock", "tools": [fn("sleep")]}
    t = accepted(
        request(
            USER_HI,
            {
                "type": "function_call",
                "call_id": "call_b7",
                "name": "sleep",
                "namespace": "clock",
                "arguments": '{"duration_ms": 10}',
            },
            output("call_b7", "Sleep completed."),
            {
                "type": "function_call",
                "call_id": "call_c8",
                "name": "wait",
                "namespace": "functions",
                "arguments": "{}",
            },
            output("call_c8", "done"),
            tools=[ns, fn("wait")],
        )
    )
    assert messages(t)[1]["content"][0]["name"] == "clock__sleep"
    assert messages(t)[3]["content"][0]["name"] == "wait"


def test_additional_tools_item_adds_tools() -> None:
    """Codex "Responses-Lite": no top-level tools; an additional_tools input item instead."""
    item = {
        "type": "additional_tools",
        "id": "at_1",
        "role": "developer",
        "tools": [
            {
                "type": "namespace",
                "name": "functions",
                "description": "",
                "tools": [
                    {"type": "custom", "name": "exec", "format": APPLY_PATCH["format"]},
                    fn("wait", strict=False),
                ],
            },
            {"type": "namespace", "name": "clock", "tools": [fn("sleep")]},
        ],
    }
    t = accepted(
        request(
            item,
            {"role": "developer", "content": "system prompt"},
            USER_HI,
            {
                "type": "function_call",
                "call_id": "c1",
                "name": "sleep",
                "namespace": "clock",
                "arguments": "{}",
            },
            output("c1", "slept"),
        )
    )
    assert [tool["name"] for tool in t.body["tools"]] == ["exec", "wait", "clock__sleep"]
    assert t.body["system"] == [{"type": "text", "text": "system prompt"}]
    assert t.body["tool_choice"] == {"type": "auto"}
    assert messages(t)[1]["content"][0]["name"] == "clock__sleep"
    assert t.tools.lookup("exec").kind == "custom"


def test_additional_tools_without_tools_array_is_refused() -> None:
    assert refused(request({"type": "additional_tools"}, USER_HI)).param == "input[0].tools"


@pytest.mark.parametrize(
    "name",
    [
        "my.tool",
        "mcp__server/do thing",
        "工具",
        "x" * 200,
        "a" * 128,
        "-",
    ],
)
def test_tool_names_are_sanitized_and_map_back(name: str) -> None:
    t = accepted(
        request(
            USER_HI,
            call("c1", name=name, arguments="{}"),
            output("c1"),
            tools=[fn(name)],
        )
    )
    (tool,) = t.body["tools"]
    assert NAME_OK.match(tool["name"]), tool["name"]
    assert messages(t)[1]["content"][0]["name"] == tool["name"]
    assert t.tools.lookup(tool["name"]) == ToolSpec("function", name, None, tool["name"])


def test_colliding_sanitized_names_are_deduplicated() -> None:
    long_a = "t" * 130 + "a"
    long_b = "t" * 130 + "b"
    names = ["a.b", "a_b", "a b", "a_b_2", long_a, long_b]
    t = accepted(request("hi", tools=[fn(n) for n in names]))
    anthropic = [tool["name"] for tool in t.body["tools"]]
    assert len(set(anthropic)) == len(names)
    assert all(NAME_OK.match(n) for n in anthropic)
    assert anthropic[1] == "a_b_2"  # the client's own "a_b" after "a.b" took "a_b"
    assert [t.tools.lookup(n).name for n in anthropic] == names


def test_sanitized_names_are_stable_for_the_same_request() -> None:
    tools = [fn(n) for n in ("a.b", "a_b", "x" * 300)]
    one = accepted(request("hi", tools=tools)).body["tools"]
    two = accepted(request("hi", tools=tools)).body["tools"]
    assert one == two


def test_duplicate_tool_names_are_refused() -> None:
    assert refused(request("hi", tools=[fn("a"), fn("a")])).param == "tools"


def test_unknown_tool_name_looks_up_as_a_function() -> None:
    tm = ToolMap()
    assert tm.lookup("not_declared") == ToolSpec("function", "not_declared", None, "not_declared")


@pytest.mark.parametrize(
    "hosted",
    [
        {"type": "web_search", "external_web_access": False},
        {"type": "tool_search"},
        {"type": "image_generation"},
        {"type": "file_search", "vector_store_ids": ["vs_1"]},
        {"type": "code_interpreter", "container": {"type": "auto"}},
        {"type": "mcp", "server_label": "x", "server_url": "https://mcp.example"},
    ],
)
def test_hosted_tools_are_dropped(hosted: JSON) -> None:
    t = accepted(request("hi", tools=[hosted, FN_TOOL]))
    assert [tool["name"] for tool in t.body["tools"]] == ["get_weather"]
    assert hosted["type"] in t.dropped_items


def test_only_hosted_tools_means_no_tools() -> None:
    t = accepted(request("hi", tools=[{"type": "image_generation"}], tool_choice="required"))
    assert "tools" not in t.body
    assert "tool_choice" not in t.body


def test_unknown_tool_type_is_refused() -> None:
    assert refused(request("hi", tools=[{"type": "teleport"}])).param == "tools[0].type"


@pytest.mark.parametrize(
    ("tool", "param"),
    [
        ({"type": "function"}, "tools[0].name"),
        ({"type": "function", "name": "f", "parameters": "x"}, "tools[0].parameters"),
        ({"type": "custom", "name": ""}, "tools[0].name"),
        ({"type": "namespace", "name": "ns"}, "tools[0]"),
        ("shell", "tools[0]"),
    ],
)
def test_malformed_tools_are_refused(tool: Any, param: str) -> None:
    assert refused(request("hi", tools=[tool])).param == param


# ---------------------------------------------------------------------------------------------
# tool_choice and parallel_tool_calls

TWO_TOOLS = [FN_TOOL, APPLY_PATCH]


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        (None, {"type": "auto"}),
        ("auto", {"type": "auto"}),
        ("none", {"type": "none"}),
        ("required", {"type": "any"}),
        ({"type": "function", "name": "get_weather"}, {"type": "tool", "name": "get_weather"}),
        ({"type": "custom", "name": "apply_patch"}, {"type": "tool", "name": "apply_patch"}),
    ],
)
def test_tool_choice(choice: Any, expected: JSON) -> None:
    body = request("hi", tools=TWO_TOOLS)
    if choice is not None:
        body["tool_choice"] = choice
    t = accepted(body)
    assert t.body["tool_choice"] == expected
    assert [tool["name"] for tool in t.body["tools"]] == ["get_weather", "apply_patch"]


def test_tool_choice_names_a_sanitized_tool() -> None:
    t = accepted(
        request("hi", tools=[fn("my.tool")], tool_choice={"type": "function", "name": "my.tool"})
    )
    assert t.body["tool_choice"] == {"type": "tool", "name": "my_tool"}


@pytest.mark.parametrize("mode", ["auto", "required"])
def test_allowed_tools_filters_the_tools(mode: str) -> None:
    choice = {
        "type": "allowed_tools",
        "mode": mode,
        "tools": [{"type": "custom", "name": "apply_patch"}],
    }
    t = accepted(request("hi", tools=TWO_TOOLS, tool_choice=choice))
    assert [tool["name"] for tool in t.body["tools"]] == ["apply_patch"]
    assert t.body["tool_choice"] == {"type": "auto" if mode == "auto" else "any"}


def test_allowed_tools_keeps_history_valid() -> None:
    choice = {
        "type": "allowed_tools",
        "mode": "auto",
        "tools": [{"type": "custom", "name": "apply_patch"}],
    }
    accepted(request(USER_HI, call("c1"), output("c1"), tools=TWO_TOOLS, tool_choice=choice))


@pytest.mark.parametrize(
    ("choice", "param"),
    [
        ({"type": "function", "name": "nope"}, "tool_choice.name"),
        ({"type": "custom"}, "tool_choice.name"),
        ({"type": "allowed_tools", "mode": "auto", "tools": []}, "tool_choice.tools"),
        (
            {"type": "allowed_tools", "mode": "auto", "tools": [{"type": "function", "name": "x"}]},
            "tool_choice.tools",
        ),
        ({"type": "file_search"}, "tool_choice.type"),
        ("sometimes", "tool_choice"),
    ],
)
def test_bad_tool_choice_is_refused(choice: Any, param: str) -> None:
    err = refused(request("hi", tools=TWO_TOOLS, tool_choice=choice))
    assert err.param == param


def test_tool_choice_without_tools_is_omitted() -> None:
    t = accepted(request("hi", tool_choice="required"))
    assert "tool_choice" not in t.body
    assert "tools" not in t.body


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ("auto", {"type": "auto", "disable_parallel_tool_use": True}),
        ("required", {"type": "any", "disable_parallel_tool_use": True}),
        (
            {"type": "function", "name": "get_weather"},
            {"type": "tool", "name": "get_weather", "disable_parallel_tool_use": True},
        ),
        ("none", {"type": "none"}),  # Anthropic's "none" takes no other field
    ],
)
def test_parallel_tool_calls_false_disables_parallel_tool_use(choice: Any, expected: JSON) -> None:
    t = accepted(request("hi", tools=TWO_TOOLS, tool_choice=choice, parallel_tool_calls=False))
    assert t.body["tool_choice"] == expected


def test_parallel_tool_calls_true_changes_nothing() -> None:
    t = accepted(request("hi", tools=TWO_TOOLS, parallel_tool_calls=True))
    assert t.body["tool_choice"] == {"type": "auto"}


def test_tool_blocks_with_hosted_only_tools_get_unusable_stub_tools() -> None:
    t = accepted(
        request(
            USER_HI,
            call("c1", name="mcp.server/tool"),
            output("c1"),
            tools=[{"type": "image_generation"}],
        ),
        GLM,
    )
    assert [tool["name"] for tool in t.body["tools"]] == ["mcp_server_tool"]
    assert t.body["tool_choice"] == {"type": "none"}
    assert block_types(t) == [["text"], ["tool_use"], ["tool_result"]]


def test_toolmap_rejects_nested_namespaces() -> None:
    tm = ToolMap()
    inner = {"type": "namespace", "name": "b", "tools": []}
    with pytest.raises(BadRequest):
        tm.add({"type": "namespace", "name": "a", "tools": [inner]}, "tools[0]")


def test_anthropic_name_of_an_undeclared_tool_is_sanitized() -> None:
    tm = ToolMap()
    assert tm.anthropic_name("a.b", "ns") == "ns__a_b"
    assert tm.anthropic_name("a.b", "functions") == "a_b"


def test_sonnet_default_tool_choice_with_tools() -> None:
    t = accepted(request("hi", tools=[FN_TOOL]), SONNET)
    assert t.body["tool_choice"] == {"type": "auto"}
