"""Responses tools -> Anthropic tools, and the per-request map that turns ``tool_use`` back.

=====================  ===========================================  ==============================
Responses tool         Anthropic tool                               a ``tool_use`` comes back as
=====================  ===========================================  ==============================
function               same name (sanitised), ``parameters`` as     ``function_call``
                       ``input_schema``, ``strict`` kept
custom (freeform,      ``{"input": string}`` schema; the grammar    ``custom_tool_call`` with
e.g. apply_patch)      goes into the description                    ``input`` = that string
namespace              each inner tool as ``<ns>__<name>``          the call with ``namespace``
additional_tools item  its tools, as above (Codex Responses-Lite)   as above
hosted tools           dropped (written rule, ``DROPPED_TOOL_TYPES``)  -
=====================  ===========================================  ==============================

Anthropic tool names must match ``^[a-zA-Z0-9_-]{1,128}$``: other characters become ``_``, long
names are cut and suffixed with a short hash, and collisions get a numeric suffix. The map is
built from the request alone (the gateway keeps no state), so the same request always yields
the same names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final, Literal

from llmproxy.dialects.anthropic_request import sanitize_id, tool_name, unique_tool_name
from llmproxy.errors import BadRequest

__all__ = ["DROPPED_TOOL_TYPES", "ToolMap", "ToolSpec", "sanitize_id"]

#: Namespace whose tools Codex addresses without a namespace (its top-level ``functions.*``).
ROOT_NAMESPACE: Final = "functions"

#: Hosted tools with no Anthropic counterpart in this route: dropped from the request. The model
#: cannot call what it was not told about, so nothing comes back for them.
DROPPED_TOOL_TYPES: Final = frozenset(
    {
        "web_search",
        "web_search_preview",
        "web_search_preview_2025_03_11",
        "web_search_2025_08_26",
        "tool_search",
        "file_search",
        "code_interpreter",
        "image_generation",
        "computer",
        "computer_use",
        "computer_use_preview",
        "mcp",
        "local_shell",
        "shell",
        "apply_patch",
        "programmatic_tool_calling",
    }
)

_CUSTOM_SCHEMA: Final = {
    "type": "object",
    "properties": {
        "input": {
            "type": "string",
            "description": "The raw tool input, exactly as the tool description specifies "
            "(not JSON-encoded unless the format says so).",
        }
    },
    "required": ["input"],
    "additionalProperties": False,
}


@dataclass(frozen=True, slots=True)
class ToolSpec:
    kind: Literal["function", "custom"]
    name: str
    namespace: str | None
    anthropic_name: str


@dataclass(slots=True)
class ToolMap:
    """The tools of one request, both ways."""

    by_anthropic: dict[str, ToolSpec] = field(default_factory=dict)
    by_client: dict[tuple[str | None, str], ToolSpec] = field(default_factory=dict)
    tools: list[dict[str, Any]] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)

    def _register(self, kind: Literal["function", "custom"], name: str, ns: str | None) -> str:
        if (ns, name) in self.by_client:
            raise BadRequest(
                f"duplicate tool name {name!r}" + (f" in namespace {ns!r}" if ns else ""),
                param="tools",
            )
        anthropic = unique_tool_name(name if ns is None else f"{ns}__{name}", self.by_anthropic)
        spec = ToolSpec(kind=kind, name=name, namespace=ns, anthropic_name=anthropic)
        self.by_anthropic[anthropic] = spec
        self.by_client[(ns, name)] = spec
        return anthropic

    def add(self, tool: object, param: str, namespace: str | None = None) -> None:
        if not isinstance(tool, dict):
            raise BadRequest("each tool must be an object", param=param)
        ttype = tool.get("type")
        if ttype == "function":
            self._add_function(tool, param, namespace)
        elif ttype == "custom":
            self._add_custom(tool, param, namespace)
        elif ttype == "namespace":
            if namespace is not None:
                raise BadRequest("namespaces cannot be nested", param=param)
            ns = tool.get("name")
            inner = tool.get("tools")
            if not isinstance(ns, str) or not ns or not isinstance(inner, list):
                raise BadRequest("a namespace tool needs a name and a tools array", param=param)
            for i, t in enumerate(inner):
                self.add(t, f"{param}.tools[{i}]", None if ns == ROOT_NAMESPACE else ns)
        elif isinstance(ttype, str) and ttype in DROPPED_TOOL_TYPES:
            self.dropped.append(ttype)
        else:
            raise BadRequest(f"unsupported tool type {ttype!r}", param=f"{param}.type")

    def _add_function(self, tool: dict[str, Any], param: str, ns: str | None) -> None:
        name = tool.get("name")
        if not isinstance(name, str) or not name:
            raise BadRequest("a function tool needs a name", param=f"{param}.name")
        schema = tool.get("parameters")
        if schema is None:
            schema = {"type": "object", "properties": {}}
        elif not isinstance(schema, dict):
            raise BadRequest("parameters must be a JSON Schema object", param=f"{param}.parameters")
        elif schema.get("type") != "object":
            # Anthropic requires an object schema at the top level.
            schema = {**schema, "type": "object"}
        out: dict[str, Any] = {"name": self._register("function", name, ns)}
        desc = tool.get("description")
        if isinstance(desc, str) and desc:
            out["description"] = desc
        out["input_schema"] = schema
        if tool.get("strict") is True:
            out["strict"] = True
        self.tools.append(out)

    def _add_custom(self, tool: dict[str, Any], param: str, ns: str | None) -> None:
        name = tool.get("name")
        if not isinstance(name, str) or not name:
            raise BadRequest("a custom tool needs a name", param=f"{param}.name")
        desc = tool.get("description") if isinstance(tool.get("description"), str) else ""
        fmt = tool.get("format")
        if isinstance(fmt, dict) and fmt.get("type") == "grammar":
            syntax = fmt.get("syntax", "lark")
            definition = fmt.get("definition", "")
            desc = (
                f"{desc}\n\nPut the raw tool input in the `input` string. It must match this "
                f"{syntax} grammar:\n{definition}"
            )
        else:
            desc = f"{desc}\n\nPut the raw tool input (free-form text) in the `input` string."
        self.tools.append(
            {
                "name": self._register("custom", name, ns),
                "description": desc.strip(),
                "input_schema": _CUSTOM_SCHEMA,
            }
        )

    def anthropic_name(self, name: str, namespace: str | None) -> str:
        """The Anthropic name for a tool the client mentions (history items, tool_choice)."""
        ns = None if namespace == ROOT_NAMESPACE else namespace
        spec = self.by_client.get((ns, name))
        if spec is not None:
            return spec.anthropic_name
        return tool_name(name if ns is None else f"{ns}__{name}")

    def lookup(self, anthropic_name: str) -> ToolSpec:
        """How to present a ``tool_use`` to the client; unknown names come back as functions."""
        spec = self.by_anthropic.get(anthropic_name)
        if spec is not None:
            return spec
        return ToolSpec("function", anthropic_name, None, anthropic_name)
