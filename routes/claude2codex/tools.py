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
web_search (and its    server tool ``web_search_20250305``:         ``web_search_call`` (built by
dated/preview names)   ``filters.allowed_domains``,                 the stream from
                       ``user_location`` kept                       ``server_tool_use``)
tool_search with       client tool ``tool_search`` with its         ``tool_search_call``
``execution: client``  ``parameters``
local_shell            client tool ``local_shell`` (command,        ``local_shell_call``
                       workdir, timeout_ms, env)
other hosted tools     dropped (written rule below), counted        -
=====================  ===========================================  ==============================

The written rule for hosted tools. ``web_search`` is dropped when the upstream has no server
tools (``ProviderProfile.server_tools``), when the client set ``external_web_access: false``
(Codex's cached-only search: Anthropic only searches live, and the gateway does not give the
model live web access the client turned off), or when a client tool already uses the name
``web_search``; ``search_context_size`` has no Anthropic counterpart and is ignored. A
``tool_search`` executed by the server, ``file_search``, ``code_interpreter``,
``image_generation``, ``computer*``, remote ``mcp``, hosted ``shell`` and ``apply_patch`` and
``programmatic_tool_calling`` have no Anthropic counterpart the client could use: dropped. The
model cannot call what it was not told about, so nothing comes back for them. Every dropped
tool's type (always one of ``DROPPED_TOOL_TYPES``, a fixed set) is listed in ``dropped`` and
counted by ``llmproxy_dropped_tools_total``.

Anthropic tool names must match ``^[a-zA-Z0-9_-]{1,128}$``: other characters become ``_``, long
names are cut and suffixed with a short hash, and collisions get a numeric suffix. The map is
built from the request alone (the gateway keeps no state), so the same request always yields
the same names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final, Literal

from llmproxy.dialects.anthropic_request import sanitize_id, tool_name, unique_tool_name
from llmproxy.dialects.anthropic_schema import strict_schema
from llmproxy.errors import BadRequest

__all__ = ["DROPPED_TOOL_TYPES", "ToolMap", "ToolSpec", "sanitize_id"]

#: Namespace whose tools Codex addresses without a namespace (its top-level ``functions.*``).
ROOT_NAMESPACE: Final = "functions"

#: The hosted tool types this route knows: mapped where Anthropic has a counterpart (web search,
#: a client-run tool search, local shell), otherwise dropped (the rule above). A fixed set: it
#: is the label vocabulary of ``llmproxy_dropped_tools_total``.
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

WEB_SEARCH_TYPES: Final = frozenset(
    {"web_search", "web_search_preview", "web_search_preview_2025_03_11", "web_search_2025_08_26"}
)
#: The Anthropic name of the web search server tool (fixed by Anthropic).
WEB_SEARCH: Final = "web_search"
_USER_LOCATION_KEYS: Final = ("city", "region", "country", "timezone")

#: ``local_shell`` as a client tool (reference §6.5); ``local_shell_call.action`` comes back
#: from its input.
_LOCAL_SHELL_SCHEMA: Final = {
    "type": "object",
    "properties": {
        "command": {
            "type": "array",
            "items": {"type": "string"},
            "description": 'The command and its arguments, e.g. ["bash", "-lc", "ls"].',
        },
        "workdir": {"type": "string", "description": "Working directory."},
        "timeout_ms": {"type": "integer", "description": "Timeout in milliseconds."},
        "env": {"type": "object", "additionalProperties": {"type": "string"}},
    },
    "required": ["command"],
}
_LOCAL_SHELL_DESCRIPTION: Final = "Run a command on the user's machine and get its output."
_TOOL_SEARCH_SCHEMA: Final = {
    "type": "object",
    "properties": {"query": {"type": "string"}},
    "required": ["query"],
}

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


ToolKind = Literal["function", "custom", "tool_search", "local_shell", "web_search"]


@dataclass(frozen=True, slots=True)
class ToolSpec:
    kind: ToolKind
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
    #: The upstream runs server tools (web search); from the provider profile.
    server_tools: bool = True
    #: The upstream enforces ``strict`` tool schemas (Anthropic's structured outputs).
    strict_tools: bool = True

    @property
    def web_search(self) -> bool:
        """The request offers Anthropic's web search server tool."""
        spec = self.by_anthropic.get(WEB_SEARCH)
        return spec is not None and spec.kind == "web_search"

    def _register(self, kind: ToolKind, name: str, ns: str | None) -> str:
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

    def add(
        self, tool: object, param: str, namespace: str | None = None, *, known_ok: bool = False
    ) -> None:
        """Add a client tool. ``known_ok``: a function or custom tool the map already has is
        skipped instead of refused (tools loaded by a tool search may repeat known ones)."""
        if not isinstance(tool, dict):
            raise BadRequest("each tool must be an object", param=param)
        ttype = tool.get("type")
        if (
            known_ok
            and ttype in ("function", "custom")
            and isinstance(tool.get("name"), str)
            and (namespace, tool["name"]) in self.by_client
        ):
            return
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
                self.add(
                    t,
                    f"{param}.tools[{i}]",
                    None if ns == ROOT_NAMESPACE else ns,
                    known_ok=known_ok,
                )
        elif isinstance(ttype, str) and ttype in WEB_SEARCH_TYPES:
            self._add_web_search(tool, param, ttype)
        elif ttype == "tool_search" and tool.get("execution") == "client":
            self._add_tool_search(tool, param)
        elif ttype == "local_shell":
            self.tools.append(
                {
                    "name": self._register("local_shell", "local_shell", None),
                    "description": _LOCAL_SHELL_DESCRIPTION,
                    "input_schema": _LOCAL_SHELL_SCHEMA,
                }
            )
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
        if tool.get("strict") is True and self.strict_tools:
            # Strict tools are schema-constrained: the schema must be in Anthropic's subset.
            out["input_schema"], _ = strict_schema(schema)
            out["strict"] = True
        else:
            out["input_schema"] = schema
        self.tools.append(out)

    def _add_web_search(self, tool: dict[str, Any], param: str, ttype: str) -> None:
        if (
            not self.server_tools
            or tool.get("external_web_access") is False
            or WEB_SEARCH in self.by_anthropic
        ):
            self.dropped.append(ttype)
            return
        out: dict[str, Any] = {"type": "web_search_20250305", "name": WEB_SEARCH}
        filters = tool.get("filters")
        if filters is not None:
            if not isinstance(filters, dict):
                raise BadRequest("filters must be an object", param=f"{param}.filters")
            domains = filters.get("allowed_domains")
            if domains is not None:
                if not isinstance(domains, list) or not all(
                    isinstance(d, str) and d for d in domains
                ):
                    raise BadRequest(
                        "allowed_domains must be an array of domain names",
                        param=f"{param}.filters.allowed_domains",
                    )
                if domains:
                    out["allowed_domains"] = domains
        location = tool.get("user_location")
        if location is not None:
            if not isinstance(location, dict):
                raise BadRequest("user_location must be an object", param=f"{param}.user_location")
            approx: dict[str, str] = {}
            for key in _USER_LOCATION_KEYS:
                value = location.get(key)
                if value is None:
                    continue
                if not isinstance(value, str):
                    raise BadRequest(
                        f"user_location.{key} must be a string",
                        param=f"{param}.user_location.{key}",
                    )
                if value:
                    approx[key] = value
            if approx:
                out["user_location"] = {"type": "approximate", **approx}
        spec = ToolSpec("web_search", WEB_SEARCH, None, WEB_SEARCH)
        self.by_anthropic[WEB_SEARCH] = spec
        self.tools.append(out)

    def _add_tool_search(self, tool: dict[str, Any], param: str) -> None:
        schema = tool.get("parameters")
        if schema is None:
            schema = _TOOL_SEARCH_SCHEMA
        elif not isinstance(schema, dict):
            raise BadRequest("parameters must be a JSON Schema object", param=f"{param}.parameters")
        elif schema.get("type") != "object":
            schema = {**schema, "type": "object"}
        out: dict[str, Any] = {"name": self._register("tool_search", "tool_search", None)}
        desc = tool.get("description")
        if isinstance(desc, str) and desc:
            out["description"] = desc
        out["input_schema"] = schema
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
