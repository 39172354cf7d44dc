"""Anthropic Messages request -> OpenAI Responses request. Pure: JSON in, JSON-ready dict out.

The written rule for fields (README, "codex2claude: what is translated"):

* translated: model (``model_map``), max_tokens, messages, system, tools, tool_choice, thinking,
  output_config (effort, format), temperature, top_p, metadata.user_id, service_tier, stream;
* accepted and ignored (no Responses meaning): top_k, context_management, container,
  cache_control (OpenAI caches prompts by itself), per-message extras, unknown fields;
* refused with 400 naming the field: a non-empty ``stop_sequences`` (Responses has no stop
  sequences), Anthropic Files API references (``file`` sources), a ``tool_choice`` forcing a
  tool this route cannot offer.

Messages become Responses input items in order: user text/images/documents -> a ``user``
message (``input_text`` / ``input_image`` / ``input_file``); ``tool_result`` ->
``function_call_output`` (its own item, so user content is split around it); mid-conversation
``system`` messages -> ``developer`` messages; assistant text -> an ``assistant`` message
(``output_text``); ``tool_use`` -> ``function_call``; ``thinking`` whose signature carries one
of our reasoning items -> that ``reasoning`` item (reasoning.py). Pairing is repaired so the
upstream never sees a ``function_call`` without its output or an output without its call.
"""

from __future__ import annotations

import fnmatch
import hashlib
import re
from dataclasses import dataclass, field
from typing import Any, Final

import msgspec

from llmproxy.config import ModelProfile
from llmproxy.dialects.body import decode_body
from llmproxy.errors import BadRequest
from routes.codex2claude.reasoning import (
    EFFORT_BY_OUTPUT_EFFORT,
    effort_for_budget,
    open_signature,
)

__all__ = [
    "COUNT_TOKENS_FIELDS",
    "MessagesRequest",
    "ToolNames",
    "Translated",
    "decode_request",
    "translate_request",
]

#: OpenAI function names (Anthropic allows 128 characters; OpenAI 64).
_FN_NAME: Final = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_FN_BAD: Final = re.compile(r"[^a-zA-Z0-9_-]")
_MIN_OUTPUT: Final = 16  # OpenAI refuses max_output_tokens below 16
_SAFETY_ID_MAX: Final = 64
_NOT_EXECUTED: Final = "This tool call was not executed: the conversation has no result for it."

#: Upstream models that reason and so refuse ``temperature`` / ``top_p``, unless an operator
#: profile (``Settings.models``) matching the upstream model says otherwise.
REASONING_MODELS: Final = ("gpt-5*", "o1*", "o3*", "o4*", "codex-*", "*-codex*")

#: What ``POST /v1/responses/input_tokens`` accepts (count_tokens sends only these).
COUNT_TOKENS_FIELDS: Final = frozenset(
    {"model", "input", "instructions", "tools", "tool_choice", "parallel_tool_calls", "reasoning"}
    | {"text", "truncation"}
)


class MessageParam(msgspec.Struct):
    role: str
    content: str | list[dict[str, Any]]


class MessagesRequest(msgspec.Struct, kw_only=True):
    """The request fields this route reads; unknown fields are ignored by design."""

    model: str
    messages: list[MessageParam]
    #: Required by ``/v1/messages`` (checked there); ``count_tokens`` has none.
    max_tokens: int | None = None
    system: str | list[dict[str, Any]] | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: dict[str, Any] | None = None
    thinking: dict[str, Any] | None = None
    output_config: dict[str, Any] | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    stop_sequences: list[str] | None = None
    stream: bool | None = None
    metadata: dict[str, Any] | None = None
    service_tier: str | None = None


_decoder: Final = msgspec.json.Decoder(MessagesRequest)
_INDEX: Final = re.compile(r"\[(\d+)\]")


def _anthropic_loc(path: str) -> str:
    """``messages[0].content`` -> ``messages.0.content`` (Anthropic's error locations)."""
    return _INDEX.sub(r".\1", path).lstrip(".")


def decode_request(body: bytes) -> MessagesRequest:
    return decode_body(_decoder, body, loc=_anthropic_loc, missing_message="Field required")


class ToolNames:
    """Client tool names <-> upstream function names, built from the request alone.

    Names OpenAI accepts stay as they are; others (too long, or with characters OpenAI refuses)
    are cut to 55 characters plus ``_`` and 8 hex digits of their SHA-256, so the same request
    always yields the same names; a collision gets a numeric suffix.
    """

    def __init__(self) -> None:
        self._up: dict[str, str] = {}
        self._client: dict[str, str] = {}

    def __repr__(self) -> str:
        renamed = {c: u for c, u in self._up.items() if c != u}
        return f"ToolNames(tools={len(self._up)}, renamed={renamed})"

    def upstream(self, name: str) -> str:
        if name in self._up:
            return self._up[name]
        up = name
        if not _FN_NAME.fullmatch(name):
            digest = hashlib.sha256(name.encode()).hexdigest()[:8]
            up = f"{_FN_BAD.sub('_', name)[:55]}_{digest}"
        base, n = up, 2
        while up in self._client:
            up = f"{base[:60]}_{n}"
            n += 1
        self._up[name] = up
        self._client[up] = name
        return up

    def client(self, upstream_name: str) -> str:
        """The client's name for a function the upstream called."""
        return self._client.get(upstream_name, upstream_name)


@dataclass(slots=True)
class Translated:
    body: dict[str, Any]
    tools: ToolNames
    upstream_model: str
    #: Whether the client enabled thinking: reasoning items are then shown as thinking blocks.
    thinking: bool
    #: Parts of the request this route does not send upstream (for the debug log).
    dropped: list[str] = field(default_factory=list)


# -- content --------------------------------------------------------------------------------------


def _text(block: dict[str, Any], loc: str) -> str:
    text = block.get("text")
    if not isinstance(text, str):
        raise BadRequest("a text block needs a string text", param=f"{loc}.text")
    return text


def _image(block: dict[str, Any], loc: str) -> dict[str, Any]:
    source = block.get("source")
    if not isinstance(source, dict):
        raise BadRequest("an image block needs a source", param=f"{loc}.source")
    stype = source.get("type")
    if stype == "base64":
        media, data = source.get("media_type"), source.get("data")
        if not isinstance(media, str) or not isinstance(data, str):
            raise BadRequest("a base64 image needs media_type and data", param=f"{loc}.source.data")
        url = f"data:{media};base64,{data}"
    elif stype == "url":
        link = source.get("url")
        if not isinstance(link, str) or not link:
            raise BadRequest("a url image needs a url", param=f"{loc}.source.url")
        url = link
    elif stype == "file":
        raise BadRequest(
            "Anthropic Files API references cannot be sent to this upstream; send the image "
            "as base64 or a url",
            param=f"{loc}.source",
        )
    else:
        raise BadRequest(f"unsupported image source type {stype!r}", param=f"{loc}.source.type")
    return {"type": "input_image", "image_url": url, "detail": "auto"}


def _document(block: dict[str, Any], loc: str) -> list[dict[str, Any]]:
    source = block.get("source")
    if not isinstance(source, dict):
        raise BadRequest("a document block needs a source", param=f"{loc}.source")
    title = block.get("title")
    stype = source.get("type")
    if stype == "base64":
        media = source.get("media_type") or "application/pdf"
        data = source.get("data")
        if not isinstance(data, str):
            raise BadRequest("a base64 document needs data", param=f"{loc}.source.data")
        name = title if isinstance(title, str) and title else "document.pdf"
        return [
            {"type": "input_file", "filename": name, "file_data": f"data:{media};base64,{data}"}
        ]
    if stype == "url":
        url = source.get("url")
        if not isinstance(url, str) or not url:
            raise BadRequest("a url document needs a url", param=f"{loc}.source.url")
        return [{"type": "input_file", "file_url": url}]
    if stype == "text":
        data = source.get("data")
        if not isinstance(data, str):
            raise BadRequest("a text document needs data", param=f"{loc}.source.data")
        head = f"{title}\n\n" if isinstance(title, str) and title else ""
        return [{"type": "input_text", "text": head + data}]
    if stype == "content":
        inner = source.get("content")
        parts: list[dict[str, Any]] = []
        if isinstance(inner, str):
            return [{"type": "input_text", "text": inner}]
        for j, b in enumerate(inner if isinstance(inner, list) else []):
            parts.extend(_user_part(b, f"{loc}.source.content.{j}"))
        return parts
    if stype == "file":
        raise BadRequest(
            "Anthropic Files API references cannot be sent to this upstream; send the document "
            "as base64, text or a url",
            param=f"{loc}.source",
        )
    raise BadRequest(f"unsupported document source type {stype!r}", param=f"{loc}.source.type")


def _user_part(block: Any, loc: str) -> list[dict[str, Any]]:
    """One user content block (not a tool_result) as Responses input parts."""
    if not isinstance(block, dict):
        raise BadRequest("a content block must be an object", param=loc)
    btype = block.get("type")
    if btype == "text":
        text = _text(block, loc)
        return [{"type": "input_text", "text": text}] if text else []
    if btype == "image":
        return [_image(block, loc)]
    if btype == "document":
        return _document(block, loc)
    if btype == "search_result":
        body = "\n".join(
            str(c.get("text", "")) for c in block.get("content") or [] if isinstance(c, dict)
        )
        head = f"{block.get('title') or ''} ({block.get('source') or ''})".strip()
        return [{"type": "input_text", "text": f"{head}\n{body}".strip()}]
    if btype == "tool_reference":
        # Tool search (advanced-tool-use): the referenced deferred tool is now offered.
        return [{"type": "input_text", "text": f"Tool loaded: {block.get('tool_name', '')}"}]
    return []  # thinking in a user turn, server-tool results, container uploads: not sendable


# -- messages -------------------------------------------------------------------------------------


class _Items:
    """Accumulates Responses input items; user parts are grouped into one message until a
    ``function_call_output`` or another role interrupts them."""

    def __init__(self, names: ToolNames, model: str) -> None:
        self.items: list[dict[str, Any]] = []
        self._names = names
        self._model = model
        self._user: list[dict[str, Any]] = []
        self._assistant: list[dict[str, Any]] = []
        self.dropped: list[str] = []

    def flush(self) -> None:
        if self._user:
            self.items.append({"type": "message", "role": "user", "content": self._user})
            self._user = []
        if self._assistant:
            self.items.append({"type": "message", "role": "assistant", "content": self._assistant})
            self._assistant = []

    def user(self, blocks: list[Any], loc: str) -> None:
        self.flush()
        for k, block in enumerate(blocks):
            bloc = f"{loc}.content.{k}"
            if isinstance(block, dict) and block.get("type") == "tool_result":
                self.flush()
                self.items.append(self._tool_result(block, bloc))
            elif isinstance(block, dict) and block.get("type") == "tool_use":
                raise BadRequest("tool_use blocks belong to assistant messages", param=bloc)
            else:
                self._user.extend(_user_part(block, bloc))
        self.flush()

    def _tool_result(self, block: dict[str, Any], loc: str) -> dict[str, Any]:
        call_id = block.get("tool_use_id")
        if not isinstance(call_id, str) or not call_id:
            raise BadRequest("a tool_result needs a tool_use_id", param=f"{loc}.tool_use_id")
        content = block.get("content")
        parts: list[dict[str, Any]] = []
        if isinstance(content, str):
            parts = [{"type": "input_text", "text": content}] if content else []
        elif isinstance(content, list):
            for j, b in enumerate(content):
                parts.extend(_user_part(b, f"{loc}.content.{j}"))
        if block.get("is_error"):
            # Responses has no error flag on outputs: the model reads it from the text.
            parts.insert(0, {"type": "input_text", "text": "Error:"})
        output: str | list[dict[str, Any]]
        if all(p["type"] == "input_text" for p in parts):
            output = "\n".join(p["text"] for p in parts)
        else:
            output = parts
        return {"type": "function_call_output", "call_id": call_id, "output": output}

    def system(self, blocks: list[Any], loc: str) -> None:
        self.flush()
        texts = [
            _text(b, f"{loc}.content.{k}")
            for k, b in enumerate(blocks)
            if isinstance(b, dict) and b.get("type") == "text"
        ]
        content = [{"type": "input_text", "text": t} for t in texts if t]
        if content:
            self.items.append({"type": "message", "role": "developer", "content": content})

    def assistant(self, blocks: list[Any], loc: str) -> None:
        self.flush()
        for k, block in enumerate(blocks):
            bloc = f"{loc}.content.{k}"
            if not isinstance(block, dict):
                raise BadRequest("a content block must be an object", param=bloc)
            btype = block.get("type")
            if btype == "text":
                text = _text(block, bloc)
                if text:
                    self._assistant.append({"type": "output_text", "text": text})
            elif btype == "tool_use":
                self.flush()
                self.items.append(self._tool_use(block, bloc))
            elif btype in ("thinking", "redacted_thinking"):
                carried = open_signature(
                    block.get("signature") if btype == "thinking" else block.get("data"),
                    self._model,
                )
                if carried is None or not carried.encrypted_content:
                    self.dropped.append(f"{bloc} ({btype} not from this upstream)")
                    continue
                self.flush()
                thinking = block.get("thinking") if btype == "thinking" else None
                summary = (
                    [{"type": "summary_text", "text": thinking}]
                    if isinstance(thinking, str) and thinking
                    else []
                )
                self.items.append(
                    {
                        "type": "reasoning",
                        "summary": summary,
                        "encrypted_content": carried.encrypted_content,
                    }
                )
            else:
                # server_tool_use, web_search_tool_result, ...: the upstream cannot replay them;
                # their outcome lives on in the assistant's text.
                self.dropped.append(f"{bloc} ({btype})")
        self.flush()

    def _tool_use(self, block: dict[str, Any], loc: str) -> dict[str, Any]:
        call_id, name = block.get("id"), block.get("name")
        if not isinstance(call_id, str) or not call_id:
            raise BadRequest("a tool_use needs an id", param=f"{loc}.id")
        if not isinstance(name, str) or not name:
            raise BadRequest("a tool_use needs a name", param=f"{loc}.name")
        arguments = msgspec.json.encode(block.get("input") or {}).decode()
        return {
            "type": "function_call",
            "call_id": call_id,
            "name": self._names.upstream(name),
            "arguments": arguments,
        }


def _repair_pairing(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every ``function_call`` answered by a later ``function_call_output`` and every output
    preceded by its call (the upstream refuses both mismatches): a missing output is answered
    with a "not executed" note right after the call's run of items, an orphan output becomes
    user text."""
    answered = {i["call_id"] for i in items if i["type"] == "function_call_output"}
    out: list[dict[str, Any]] = []
    called: set[str] = set()
    pending: list[str] = []
    for item in items:
        kind = item["type"]
        if pending and kind not in ("function_call", "reasoning", "function_call_output"):
            out.extend(_not_executed(pending))
            pending = []
        if kind == "function_call":
            called.add(item["call_id"])
            if item["call_id"] not in answered:
                pending.append(item["call_id"])
        elif kind == "function_call_output" and item["call_id"] not in called:
            text = item["output"] if isinstance(item["output"], str) else "(tool output)"
            item = {
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": f"Tool result: {text}"}],
            }
        out.append(item)
    out.extend(_not_executed(pending))
    return out


def _not_executed(call_ids: list[str]) -> list[dict[str, Any]]:
    return [
        {"type": "function_call_output", "call_id": c, "output": _NOT_EXECUTED} for c in call_ids
    ]


# -- tools, choice, reasoning ----------------------------------------------------------------------


def _referenced_tools(req: MessagesRequest) -> set[str]:
    """Deferred tools a ``tool_reference`` block has loaded (tool search)."""
    names: set[str] = set()
    for m in req.messages:
        if not isinstance(m.content, list):
            continue
        for block in m.content:
            inner = block.get("content") if isinstance(block, dict) else None
            for b in inner if isinstance(inner, list) else []:
                if isinstance(b, dict) and b.get("type") == "tool_reference":
                    names.add(str(b.get("tool_name", "")))
    return names


def _tools(
    req: MessagesRequest, names: ToolNames, dropped: list[str]
) -> tuple[list[dict[str, Any]], set[str]]:
    out: list[dict[str, Any]] = []
    offered: set[str] = set()
    loaded = _referenced_tools(req)
    for i, tool in enumerate(req.tools or []):
        loc = f"tools.{i}"
        ttype = tool.get("type")
        if ttype not in (None, "custom"):
            # Server tools (web_search, web_fetch, code_execution, ...) and Anthropic-defined
            # client tools (bash_*, text_editor_*, computer_*, memory_*): no counterpart here.
            dropped.append(f"{loc} ({ttype})")
            continue
        name = tool.get("name")
        if not isinstance(name, str) or not name:
            raise BadRequest("a tool needs a name", param=f"{loc}.name")
        if tool.get("defer_loading") and name not in loaded:
            dropped.append(f"{loc} ({name}: deferred)")
            continue
        schema = tool.get("input_schema")
        if schema is None:
            schema = {"type": "object", "properties": {}}
        if not isinstance(schema, dict):
            raise BadRequest("input_schema must be an object", param=f"{loc}.input_schema")
        if "type" not in schema:
            schema = {"type": "object", **schema}
        fn: dict[str, Any] = {
            "type": "function",
            "name": names.upstream(name),
            "parameters": schema,
            # Responses makes functions strict by default; strict needs a restricted schema
            # that Anthropic tools rarely have, so only an explicit strict: true asks for it.
            "strict": tool.get("strict") is True,
        }
        description = tool.get("description")
        if isinstance(description, str) and description:
            fn["description"] = description
        out.append(fn)
        offered.add(name)
    return out, offered


def _tool_choice(
    choice: dict[str, Any], offered: set[str], names: ToolNames
) -> tuple[str | dict[str, Any] | None, bool | None]:
    """(``tool_choice``, ``parallel_tool_calls``) for the upstream."""
    ctype = choice.get("type")
    parallel = False if choice.get("disable_parallel_tool_use") is True else None
    if ctype == "auto":
        return "auto", parallel
    if ctype == "any":
        return "required", parallel
    if ctype == "none":
        return "none", None
    if ctype == "tool":
        name = choice.get("name")
        if not isinstance(name, str) or name not in offered:
            raise BadRequest(
                f"tool_choice names {name!r}, which is not a tool this gateway can offer the "
                "upstream (server tools and Anthropic-defined tools are not translated)",
                param="tool_choice.name",
            )
        return {"type": "function", "name": names.upstream(name)}, parallel
    raise BadRequest(f"unknown tool_choice type {ctype!r}", param="tool_choice.type")


def _reasoning(req: MessagesRequest) -> tuple[dict[str, Any] | None, bool]:
    """(``reasoning``, whether thinking blocks are shown)."""
    thinking = req.thinking or {}
    ttype = thinking.get("type")
    configured = (req.output_config or {}).get("effort")
    if configured is not None and configured not in EFFORT_BY_OUTPUT_EFFORT:
        raise BadRequest(
            f"unknown effort {configured!r}; expected one of {sorted(EFFORT_BY_OUTPUT_EFFORT)}",
            param="output_config.effort",
        )
    effort: str | None
    if ttype == "enabled":
        budget = thinking.get("budget_tokens")
        if not isinstance(budget, int) or isinstance(budget, bool):
            raise BadRequest("Field required", param="thinking.enabled.budget_tokens")
        effort = effort_for_budget(budget)
    elif ttype == "adaptive":
        effort = EFFORT_BY_OUTPUT_EFFORT[configured or "high"]
    elif ttype in (None, "disabled"):
        effort = EFFORT_BY_OUTPUT_EFFORT[configured] if configured else None
    else:
        raise BadRequest(f"unknown thinking type {ttype!r}", param="thinking.type")
    shown = ttype in ("enabled", "adaptive")
    if effort is None:
        return None, False
    reasoning: dict[str, Any] = {"effort": effort}
    if shown and thinking.get("display") != "omitted":
        reasoning["summary"] = "auto"
    return reasoning, shown


def _sampling_allowed(upstream_model: str, profiles: tuple[ModelProfile, ...]) -> bool:
    for profile in profiles:
        if fnmatch.fnmatchcase(upstream_model, profile.match):
            return profile.sampling
    return not any(fnmatch.fnmatchcase(upstream_model, g) for g in REASONING_MODELS)


def _system(system: str | list[dict[str, Any]] | None) -> str | None:
    if system is None:
        return None
    if isinstance(system, str):
        return system or None
    texts = [_text(b, f"system.{k}") for k, b in enumerate(system) if b.get("type") == "text"]
    joined = "\n\n".join(t for t in texts if t)
    return joined or None


def translate_request(
    req: MessagesRequest,
    *,
    upstream_model: str,
    profiles: tuple[ModelProfile, ...] = (),
    count_tokens: bool = False,
) -> Translated:
    """The Responses body for ``req``. ``count_tokens``: the body for
    ``/v1/responses/input_tokens`` (no max_tokens needed, only the fields it accepts)."""
    if req.stop_sequences:
        raise BadRequest(
            "stop_sequences is not supported: the upstream (OpenAI Responses) has no stop "
            "sequences",
            param="stop_sequences",
        )
    if not count_tokens and req.max_tokens is None:
        raise BadRequest("Field required", param="max_tokens")
    names = ToolNames()
    dropped: list[str] = []
    tools, offered = _tools(req, names, dropped)
    items = _Items(names, upstream_model)
    for i, m in enumerate(req.messages):
        loc = f"messages.{i}"
        blocks: list[Any] = (
            [{"type": "text", "text": m.content}] if isinstance(m.content, str) else m.content
        )
        if m.role == "user":
            items.user(blocks, loc)
        elif m.role == "assistant":
            items.assistant(blocks, loc)
        elif m.role == "system":
            items.system(blocks, loc)
        else:
            raise BadRequest(
                f"unknown role {m.role!r}; expected user, assistant or system",
                param=f"{loc}.role",
            )
    dropped.extend(items.dropped)
    reasoning, shown = _reasoning(req)
    body: dict[str, Any] = {"model": upstream_model, "input": _repair_pairing(items.items)}
    if (instructions := _system(req.system)) is not None:
        body["instructions"] = instructions
    if tools:
        body["tools"] = tools
        if req.tool_choice is not None:
            choice, parallel = _tool_choice(req.tool_choice, offered, names)
            body["tool_choice"] = choice
            if parallel is not None:
                body["parallel_tool_calls"] = parallel
    elif req.tool_choice is not None and req.tool_choice.get("type") == "tool":
        _tool_choice(req.tool_choice, offered, names)  # raises: nothing to force
    if reasoning is not None:
        body["reasoning"] = reasoning
    fmt = (req.output_config or {}).get("format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        body["text"] = {
            "format": {
                "type": "json_schema",
                "name": "output",
                "schema": fmt.get("schema") or {},
                "strict": False,
            }
        }
    if count_tokens:
        body = {k: v for k, v in body.items() if k in COUNT_TOKENS_FIELDS}
        return Translated(body, names, upstream_model, shown, dropped)
    assert req.max_tokens is not None
    body["max_output_tokens"] = max(req.max_tokens, _MIN_OUTPUT)
    if reasoning is None and _sampling_allowed(upstream_model, profiles):
        if req.temperature is not None:
            body["temperature"] = req.temperature
        if req.top_p is not None:
            body["top_p"] = req.top_p
    if req.top_k is not None:
        dropped.append("top_k")
    user_id = (req.metadata or {}).get("user_id")
    if isinstance(user_id, str) and user_id:
        body["safety_identifier"] = (
            user_id
            if len(user_id) <= _SAFETY_ID_MAX
            else hashlib.sha256(user_id.encode()).hexdigest()
        )
    if req.service_tier in ("auto", "standard_only"):
        body["service_tier"] = "auto" if req.service_tier == "auto" else "default"
    if shown:
        body["include"] = ["reasoning.encrypted_content"]
    body["store"] = False
    body["stream"] = True
    return Translated(body, names, upstream_model, shown, dropped)
