"""Chat Completions tools -> Anthropic tools, the per-request name map, and ``tool_choice``.

====================================  ====================================  =====================
Chat Completions                      Anthropic                             a ``tool_use`` comes
                                                                            back as
====================================  ====================================  =====================
``{"type": "function", "function":    ``{"name", "description",             ``tool_calls[i]`` with
{"name", "description", "parameters",  "input_schema", "strict"}``          the client's name
"strict"}}``
``custom`` and any other type         400: a chat stream cannot carry a custom tool's input
                                      (openai-python's chunk types know function calls only)
====================================  ====================================  =====================

``strict`` tools get their schema adapted to Anthropic's subset (``anthropic_schema``) where the
provider supports structured outputs, and lose ``strict`` where it does not. Names are made valid
for Anthropic by the shared rule (``anthropic_request.tool_name``; OpenAI's
own ``^[a-zA-Z0-9_-]{1,64}$`` names pass unchanged) and mapped back, from the request alone.

``tool_choice``: ``auto`` -> ``auto``, ``none`` -> ``none``, ``required`` -> ``any``,
``{"type": "function", "function": {"name"}}`` -> ``tool``, ``{"type": "allowed_tools",
"allowed_tools": {"mode", "tools"}}`` -> the tools filtered, ``auto`` or ``any``;
``parallel_tool_calls: false`` -> ``disable_parallel_tool_use``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from llmproxy.dialects.anthropic_request import tool_name, unique_tool_name
from llmproxy.dialects.anthropic_schema import strict_schema
from llmproxy.errors import BadRequest

__all__ = ["ChatTools", "tool_choice"]


@dataclass(slots=True)
class ChatTools:
    """The function tools of one request, both ways."""

    to_anthropic: dict[str, str] = field(default_factory=dict)
    to_client: dict[str, str] = field(default_factory=dict)
    tools: list[dict[str, Any]] = field(default_factory=list)
    #: The upstream enforces ``strict`` tool schemas (Anthropic's structured outputs); if not,
    #: ``strict`` is dropped and the schema sent as the client wrote it.
    strict_tools: bool = True

    def add(self, tool: object, param: str) -> None:
        if not isinstance(tool, dict):
            raise BadRequest("each tool must be an object", param=param)
        ttype = tool.get("type")
        if ttype != "function":
            raise BadRequest(
                f"tool type {ttype!r} is not supported on this upstream; use function tools",
                param=f"{param}.type",
            )
        fn = tool.get("function")
        if not isinstance(fn, dict):
            raise BadRequest("a function tool needs a function object", param=f"{param}.function")
        name = fn.get("name")
        if not isinstance(name, str) or not name:
            raise BadRequest("a function tool needs a name", param=f"{param}.function.name")
        if name in self.to_anthropic:
            raise BadRequest(f"duplicate tool name {name!r}", param=f"{param}.function.name")
        schema = fn.get("parameters")
        if schema is None:
            schema = {"type": "object", "properties": {}}
        elif not isinstance(schema, dict):
            raise BadRequest(
                "parameters must be a JSON Schema object", param=f"{param}.function.parameters"
            )
        elif schema.get("type") != "object":
            # Anthropic requires an object schema at the top level.
            schema = {**schema, "type": "object"}
        anthropic = unique_tool_name(name, self.to_client)
        self.to_anthropic[name] = anthropic
        self.to_client[anthropic] = name
        out: dict[str, Any] = {"name": anthropic}
        desc = fn.get("description")
        if isinstance(desc, str) and desc:
            out["description"] = desc
        out["input_schema"] = schema
        if fn.get("strict") is True and self.strict_tools:
            # Adapted to the JSON Schema subset Anthropic's constrained decoding accepts.
            out["input_schema"], _ = strict_schema(schema)
            out["strict"] = True
        self.tools.append(out)

    def anthropic_name(self, name: str) -> str:
        """The Anthropic name for a tool the client mentions (history, ``tool_choice``)."""
        return self.to_anthropic.get(name) or tool_name(name)

    def client_name(self, anthropic_name: str) -> str:
        """The client's name for a ``tool_use``; a name it never declared comes back as is."""
        return self.to_client.get(anthropic_name, anthropic_name)


def _named(entry: object, param: str) -> str:
    """The function name of ``{"type": "function", "function": {"name": ...}}``."""
    fn = entry.get("function") if isinstance(entry, dict) else None
    name = fn.get("name") if isinstance(fn, dict) else None
    if not isinstance(name, str) or not name:
        raise BadRequest("expected {type: function, function: {name}}", param=param)
    return name


def tool_choice(
    choice: str | dict[str, Any] | None, tools: ChatTools, parallel: bool | None
) -> tuple[dict[str, Any] | None, bool]:
    """The Anthropic ``tool_choice``, and whether it forces a tool (thinking must then be off).
    ``allowed_tools`` filters ``tools.tools`` in place."""
    if not tools.tools:
        return None, False
    out: dict[str, Any]
    forced = False
    if choice is None or choice == "auto":
        out = {"type": "auto"}
    elif choice == "none":
        return {"type": "none"}, False
    elif choice == "required":
        out, forced = {"type": "any"}, True
    elif isinstance(choice, dict) and choice.get("type") == "function":
        name = _named(choice, "tool_choice.function.name")
        if name not in tools.to_anthropic:
            raise BadRequest(
                f"tool_choice names {name!r}, which is not among the tools",
                param="tool_choice.function.name",
            )
        out, forced = {"type": "tool", "name": tools.to_anthropic[name]}, True
    elif isinstance(choice, dict) and choice.get("type") == "allowed_tools":
        allowed = choice.get("allowed_tools")
        listed = allowed.get("tools") if isinstance(allowed, dict) else None
        if not isinstance(allowed, dict) or not isinstance(listed, list) or not listed:
            raise BadRequest(
                "allowed_tools needs a tools array", param="tool_choice.allowed_tools.tools"
            )
        keep = {
            tools.anthropic_name(_named(t, f"tool_choice.allowed_tools.tools[{i}]"))
            for i, t in enumerate(listed)
        }
        tools.tools = [t for t in tools.tools if t["name"] in keep]
        if not tools.tools:
            raise BadRequest(
                "allowed_tools names none of the request's tools",
                param="tool_choice.allowed_tools.tools",
            )
        if allowed.get("mode") == "required":
            out, forced = {"type": "any"}, True
        else:
            out = {"type": "auto"}
    else:
        raise BadRequest(f"unsupported tool_choice {choice!r}", param="tool_choice")
    if parallel is False:
        out["disable_parallel_tool_use"] = True
    return out, forced
