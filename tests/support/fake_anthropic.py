"""A strict fake of the Anthropic Messages API for tests.

It answers like the real upstream (JSON Message, SSE stream, error bodies) and rejects what the real
API rejects, so gateway tests fail on an invalid translation instead of passing against a lenient
mock. Rules follow the protocol reference (claude2codex-protocol.md, sections 4 and 5); the error
wording copies Anthropic's where it is known (pydantic-style ``loc: message`` for schema errors).

    async with FakeAnthropic() as fake:          # fake.base_url == "http://127.0.0.1:PORT"
        fake.script.append(Reply([thinking("hmm"), tool_use("shell", {"cmd": "ls"})]))
        ...                                      # drive the gateway at fake.base_url
        assert fake.rejections == []

``validate(body)`` is the pure rule set the handler runs; it returns the 400 message or None.

``FakeAnthropic(cache_simulation=True)`` also simulates Anthropic's prompt cache
(``PrefixCache``): the usage of every reply then reports cache reads and writes as Anthropic
would for the request's ``cache_control`` breakpoints.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import dataclasses
import hashlib
import hmac
import json
import re
import secrets
import string
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Final, Literal, NoReturn, Self

import msgspec
from aiohttp import web

JSON = dict[str, Any]
Event = tuple[str, JSON]  # (SSE event name, data object)

_encoder: Final = msgspec.json.Encoder()
_ALNUM: Final = string.ascii_letters + string.digits
DEFAULT_ADAPTIVE_ONLY: Final = ("claude-opus-4-7", "claude-5")
INTERLEAVED_BETA: Final = "interleaved-thinking-2025-05-14"


def _rand(prefix: str, n: int = 24) -> str:
    return prefix + "".join(secrets.choice(_ALNUM) for _ in range(n))


# ---------------------------------------------------------------------------------------------
# Replies (what the fake answers)


@dataclass
class Block:
    """One response content block in Anthropic shape; build it with the helpers below."""

    type: Literal[
        "text",
        "thinking",
        "redacted_thinking",
        "tool_use",
        "server_tool_use",
        "web_search_tool_result",
    ]
    text: str = ""
    thinking: str = ""  # signed by the fake when it is sent
    data: str = ""  # redacted_thinking payload; recorded as produced when it is sent
    id: str = ""  # tool_use / server_tool_use id; the tool_use_id of a web_search_tool_result
    name: str = ""
    input: JSON = field(default_factory=dict)
    citations: list[JSON] = field(default_factory=list)  # text: sent as citations_delta events
    content: Any = None  # web_search_tool_result: the results list, or an error object


def text(s: str, citations: list[JSON] | None = None) -> Block:
    return Block("text", text=s, citations=list(citations or ()))


def server_tool_use(query: str, id: str | None = None, name: str = "web_search") -> Block:
    """Anthropic's web search running server-side (``server_tool_use``)."""
    return Block("server_tool_use", id=id or _rand("srvtoolu_"), name=name, input={"query": query})


def web_search_result(tool_use_id: str, results: list[tuple[str, str]]) -> Block:
    """The ``web_search_tool_result`` for ``tool_use_id``: (url, title) pairs."""
    content = [
        {
            "type": "web_search_result",
            "url": url,
            "title": title,
            "encrypted_content": base64.b64encode(url.encode()).decode(),
            "page_age": None,
        }
        for url, title in results
    ]
    return Block("web_search_tool_result", id=tool_use_id, content=content)


def web_citation(url: str, title: str, cited_text: str) -> JSON:
    """A ``web_search_result_location`` citation (a ``citations_delta`` payload)."""
    return {
        "type": "web_search_result_location",
        "url": url,
        "title": title,
        "cited_text": cited_text,
        "encrypted_index": base64.b64encode(cited_text.encode()).decode(),
    }


def thinking(s: str) -> Block:
    return Block("thinking", thinking=s)


def redacted_thinking(data: str) -> Block:
    return Block("redacted_thinking", data=data)


def tool_use(name: str, input: JSON, id: str | None = None) -> Block:
    return Block("tool_use", id=id or _rand("toolu_"), name=name, input=input)


def _default_usage() -> dict[str, int]:
    return {
        "input_tokens": 12,
        "output_tokens": 7,
        "cache_read_input_tokens": 0,
        "cache_creation_input_tokens": 0,
    }


@dataclass
class Reply:
    """A successful Message. ``stop_reason=None`` means "tool_use" if a tool_use block is present,
    else "end_turn" (resolved in ``__post_init__``, so it is always a str afterwards)."""

    content: list[Block]
    stop_reason: str | None = None
    usage: dict[str, int] = field(default_factory=_default_usage)
    stop_details: JSON | None = None
    stop_sequence: str | None = None
    #: Seconds of silence before SSE event i is sent (a model thinking for a long time).
    delays: dict[int, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.stop_reason is None:
            has_tool = any(b.type == "tool_use" for b in self.content)
            self.stop_reason = "tool_use" if has_tool else "end_turn"


@dataclass
class ErrorReply:
    """An HTTP error answered before any streaming."""

    status: int
    type: str
    message: str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class StreamFault:
    """200 plus the first ``after_events`` SSE events of ``reply``, then the fault: an ``error``
    event, a clean end of the body ("eof"), an aborted connection ("reset"), or silence until the
    client disconnects ("hang"). On a non-streaming request: "hang" hangs before the headers;
    the other kinds answer the HTTP error of ``error_type``."""

    reply: Reply
    after_events: int
    kind: Literal["error_event", "eof", "hang", "reset"]
    error_type: str = "overloaded_error"


Responder = Callable[[JSON], Reply | ErrorReply | StreamFault]

# Anthropic error type -> HTTP status (protocol doc 5.3)
ERROR_STATUS: Final[dict[str, int]] = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}
_ERROR_TEXT: Final = {"overloaded_error": "Overloaded", "api_error": "Internal server error"}


class Signer:
    """Signs thinking text (HMAC-SHA256 with a per-instance key, model independent) and remembers
    every redacted_thinking payload the fake sent, so replays of anything else are rejected."""

    def __init__(self) -> None:
        self._key = secrets.token_bytes(32)
        self.redacted: set[str] = set()

    def sign(self, thinking: str) -> str:
        mac = hmac.new(self._key, thinking.encode(), hashlib.sha256).digest()
        return base64.b64encode(b"fake-sig" + mac).decode()

    def verify(self, thinking: str, signature: str) -> bool:
        # bytes: compare_digest refuses non-ASCII str, and a signature can be any JSON string
        return hmac.compare_digest(self.sign(thinking).encode(), signature.encode())


def _block_json(b: Block, signer: Signer) -> JSON:
    if b.type == "text":
        out: JSON = {"type": "text", "text": b.text}
        if b.citations:
            out["citations"] = b.citations
        return out
    if b.type == "server_tool_use":
        return {"type": "server_tool_use", "id": b.id, "name": b.name, "input": b.input}
    if b.type == "web_search_tool_result":
        return {"type": "web_search_tool_result", "tool_use_id": b.id, "content": b.content}
    if b.type == "thinking":
        return {"type": "thinking", "thinking": b.thinking, "signature": signer.sign(b.thinking)}
    if b.type == "redacted_thinking":
        signer.redacted.add(b.data)
        return {"type": "redacted_thinking", "data": b.data}
    return {"type": "tool_use", "id": b.id, "name": b.name, "input": b.input}


def message_json(reply: Reply, model: str, signer: Signer, msg_id: str) -> JSON:
    """The non-streaming Message body."""
    return {
        "id": msg_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [_block_json(b, signer) for b in reply.content],
        "stop_reason": reply.stop_reason,
        "stop_sequence": reply.stop_sequence,
        "stop_details": reply.stop_details,
        "usage": dict(reply.usage),
    }


def _chunks(s: str, size: int) -> list[str]:
    return [s[i : i + size] for i in range(0, len(s), size)]


def stream_events(
    reply: Reply, model: str, signer: Signer, *, chunk_size: int, msg_id: str
) -> list[Event]:
    """The SSE events Anthropic sends for ``reply`` (protocol doc 5.2), in order."""
    usage = reply.usage
    cache = {k: v for k, v in usage.items() if k.startswith("cache_")}
    start = message_json(Reply([], None, {}), model, signer, msg_id)
    start.update(stop_reason=None, stop_details=None)
    start["usage"] = {"input_tokens": usage.get("input_tokens", 0), **cache, "output_tokens": 1}
    events: list[Event] = [("message_start", {"type": "message_start", "message": start})]
    events.append(("ping", {"type": "ping"}))
    for i, b in enumerate(reply.content):
        full = _block_json(b, signer)
        deltas: list[JSON] = []
        if b.type == "text":
            first: JSON = {"type": "text", "text": ""}
            deltas = [{"type": "citations_delta", "citation": c} for c in b.citations]
            deltas += [{"type": "text_delta", "text": c} for c in _chunks(b.text, chunk_size)]
        elif b.type == "thinking":
            first = {"type": "thinking", "thinking": "", "signature": ""}
            deltas = [
                {"type": "thinking_delta", "thinking": c} for c in _chunks(b.thinking, chunk_size)
            ]
            deltas.append({"type": "signature_delta", "signature": full["signature"]})
        elif b.type in ("redacted_thinking", "web_search_tool_result"):
            first = full  # complete in content_block_start, no deltas
        else:
            first = {**full, "input": {}}
            # The first fragment is "", and an empty input is *only* that "" fragment.
            body = json.dumps(b.input) if b.input else ""
            deltas = [
                {"type": "input_json_delta", "partial_json": c}
                for c in ["", *_chunks(body, chunk_size)]
            ]
        start_ev = {"type": "content_block_start", "index": i, "content_block": first}
        events.append(("content_block_start", start_ev))
        for d in deltas:
            events.append(
                ("content_block_delta", {"type": "content_block_delta", "index": i, "delta": d})
            )
        events.append(("content_block_stop", {"type": "content_block_stop", "index": i}))
    delta: JSON = {"stop_reason": reply.stop_reason, "stop_sequence": reply.stop_sequence}
    if reply.stop_details is not None:
        delta["stop_details"] = reply.stop_details
    out_usage = {"output_tokens": usage.get("output_tokens", 0)}
    out_usage.update({k: v for k, v in usage.items() if k != "output_tokens"})
    events.append(("message_delta", {"type": "message_delta", "delta": delta, "usage": out_usage}))
    events.append(("message_stop", {"type": "message_stop"}))
    return events


def sse_frame(event: str, data: JSON) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + _encoder.encode(data) + b"\n\n"


def error_body(type_: str, message: str, request_id: str) -> JSON:
    return {"type": "error", "error": {"type": type_, "message": message}, "request_id": request_id}


# ---------------------------------------------------------------------------------------------
# Validation: each rule is a function that raises _Invalid with Anthropic's message.


class _Invalid(Exception):
    pass


def _fail(message: str) -> NoReturn:
    raise _Invalid(message)


def _at(loc: str, key: str | int) -> str:
    return f"{loc}.{key}" if loc else str(key)


_KINDS: Final[dict[str, tuple[type, ...]]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "dictionary": (dict,),
    "list": (list,),
}


def _is(value: Any, kind: str) -> bool:
    if isinstance(value, bool) and kind in ("integer", "number"):
        return False
    return isinstance(value, _KINDS[kind])


def _get(obj: JSON, key: str, kind: str, loc: str, *, required: bool = False) -> Any:
    """obj[key] checked against ``kind``; None if absent (or null and optional)."""
    if key not in obj or (obj[key] is None and not required):
        if required:
            _fail(f"{_at(loc, key)}: Field required")
        return None
    if not _is(obj[key], kind):
        _fail(f"{_at(loc, key)}: Input should be a valid {kind}")
    return obj[key]


def _extra(obj: JSON, allowed: Collection[str], loc: str) -> None:
    for key in obj:
        if key not in allowed:
            _fail(f"{_at(loc, key)}: Extra inputs are not permitted")


def _tag(obj: Any, loc: str, tags: Collection[str]) -> str:
    """The ``type`` discriminator of a tagged union, pydantic style."""
    if not isinstance(obj, dict):
        _fail(f"{loc}: Input should be a valid dictionary or object to extract fields from")
    tag = obj.get("type")
    if tag not in tags:
        expected = ", ".join(f"'{t}'" for t in tags)
        _fail(
            f"{loc}: Input tag '{tag}' found using 'type' does not match any of the expected "
            f"tags: {expected}"
        )
    return str(tag)


def _one_of(value: Any, options: tuple[str, ...], loc: str) -> None:
    if value not in options:
        quoted = [f"'{o}'" for o in options]
        _fail(f"{loc}: Input should be {', '.join(quoted[:-1])} or {quoted[-1]}")


def _check_text(value: str, prefix: str) -> None:
    if not value:
        _fail(f"{prefix}: text content blocks must be non-empty")
    if not value.strip():
        _fail(f"{prefix}: text content blocks must contain non-whitespace text")


def _check_cache_control(obj: JSON, loc: str) -> int:
    """Validates obj["cache_control"]; returns 1 if obj carries a cache breakpoint."""
    cc = _get(obj, "cache_control", "dictionary", loc)
    if cc is None:
        return 0
    loc = _at(loc, "cache_control")
    _tag(cc, loc, ("ephemeral",))
    _extra(cc, ("type", "ttl"), loc)
    if cc.get("ttl") is not None:
        _one_of(cc["ttl"], ("5m", "1h"), f"{loc}.ttl")
    return 1


# Rule 1 ---------------------------------------------------------------------------------------
_TOP_LEVEL: Final = (
    "model", "max_tokens", "messages", "system", "temperature", "top_p", "top_k",
    "stop_sequences", "stream", "tools", "tool_choice", "thinking", "output_config", "metadata",
    "cache_control", "service_tier", "container", "context_management", "inference_geo",
)  # fmt: skip


def _check_top_level(body: JSON) -> None:
    _extra(body, _TOP_LEVEL, "")


# Rules 2 and 8: scalar parameters ---------------------------------------------------------------
def _check_params(body: JSON) -> None:
    _get(body, "model", "string", "", required=True)
    if _get(body, "max_tokens", "integer", "", required=True) < 1:
        _fail("max_tokens: Input should be greater than or equal to 1")
    for key in ("temperature", "top_p"):
        value = _get(body, key, "number", "")
        if value is not None and not 0 <= value <= 1:
            _fail(f"{key}: Input should be less than or equal to 1 and greater than or equal to 0")
    top_k = _get(body, "top_k", "integer", "")
    if top_k is not None and top_k < 0:
        _fail("top_k: Input should be greater than or equal to 0")
    for i, seq in enumerate(_get(body, "stop_sequences", "list", "") or []):
        if not isinstance(seq, str):
            _fail(f"stop_sequences.{i}: Input should be a valid string")
    _get(body, "stream", "boolean", "")
    metadata = _get(body, "metadata", "dictionary", "")
    if metadata is not None:
        _extra(metadata, ("user_id",), "metadata")
        _get(metadata, "user_id", "string", "metadata")
    if body.get("service_tier") is not None:
        _one_of(body["service_tier"], ("auto", "standard_only"), "service_tier")
    config = _get(body, "output_config", "dictionary", "")
    if config is not None:
        _extra(config, ("effort", "format"), "output_config")
        if config.get("effort") is not None:
            efforts = ("low", "medium", "high", "xhigh", "max")
            _one_of(config["effort"], efforts, "output_config.effort")
        fmt = _get(config, "format", "dictionary", "output_config")
        if fmt is not None:
            _tag(fmt, "output_config.format", ("json_schema",))
            _extra(fmt, ("type", "schema"), "output_config.format")
            schema = _get(fmt, "schema", "dictionary", "output_config.format", required=True)
            _check_output_schema(schema, "output_config.format.schema")
    _check_cache_control(body, "")


# Structured outputs: the JSON Schema subset Anthropic accepts (platform.claude.com,
# "Structured outputs", JSON Schema limitations).
_SCHEMA_KEYWORDS: Final = frozenset(
    {
        "type", "enum", "const", "anyOf", "allOf", "$ref", "$defs", "definitions", "properties",
        "required", "additionalProperties", "items", "minItems", "description", "title",
        "default", "format",
    }
)  # fmt: skip
_STRING_FORMATS: Final = frozenset(
    {"date-time", "time", "date", "duration", "email", "hostname", "uri", "ipv4", "ipv6", "uuid"}
)


def _check_output_schema(schema: Any, loc: str) -> None:
    if not isinstance(schema, dict):
        return
    for key in schema:
        if key not in _SCHEMA_KEYWORDS:
            _fail(f"{loc}: JSON schema keyword '{key}' is not supported for structured outputs")
    is_object = schema.get("type") == "object" or "properties" in schema
    if is_object and schema.get("additionalProperties") is not False:
        _fail(f"{loc}: For 'object' type, 'additionalProperties' must be explicitly set to false")
    if "format" in schema and schema["format"] not in _STRING_FORMATS:
        _fail(f"{loc}.format: string format '{schema['format']}' is not supported")
    if "minItems" in schema and schema["minItems"] not in (0, 1):
        _fail(f"{loc}.minItems: only 0 and 1 are supported")
    for key in ("properties", "$defs", "definitions"):
        for name, sub in (schema.get(key) or {}).items():
            _check_output_schema(sub, f"{loc}.{key}.{name}")
    for key in ("anyOf", "allOf"):
        for i, sub in enumerate(schema.get(key) or []):
            _check_output_schema(sub, f"{loc}.{key}.{i}")
    _check_output_schema(schema.get("items"), f"{loc}.items")


# Rules 2 and 3: messages, merged into turns -----------------------------------------------------
@dataclass
class _Turn:
    """Consecutive same-role messages merged, as the real API does before validating."""

    role: str
    loc: str  # "messages.N" of the turn's first message (errors cite the request's indices)
    blocks: list[tuple[str, Any]]  # (loc, block)


def _merge_turns(body: JSON) -> list[_Turn]:
    messages = _get(body, "messages", "list", "", required=True)
    if not messages:
        _fail("messages: List should have at least 1 item after validation, not 0")
    turns: list[_Turn] = []
    for i, message in enumerate(messages):
        loc = f"messages.{i}"
        if not isinstance(message, dict):
            _fail(f"{loc}: Input should be a valid dictionary")
        _extra(message, ("role", "content"), loc)
        role = message.get("role")
        _one_of(role, ("user", "assistant"), f"{loc}.role")
        content = message.get("content")
        optional = role == "assistant" and i == len(messages) - 1  # prefill may be empty
        if content in ("", []) and not optional:
            _fail(
                f"{loc}: all messages must have non-empty content except for the optional "
                "final assistant message"
            )
        if isinstance(content, str):
            if content:
                _check_text(content, "messages")
            blocks = [(f"{loc}.content", {"type": "text", "text": content})] if content else []
        elif isinstance(content, list):
            blocks = [(f"{loc}.content.{j}", b) for j, b in enumerate(content)]
        else:
            _fail(f"{loc}.content: Input should be a valid string or a valid list")
        if turns and turns[-1].role == role:
            turns[-1].blocks.extend(blocks)
        else:
            turns.append(_Turn(str(role), loc, blocks))
    if turns[0].role != "user":
        _fail('messages: first message must use the "user" role')
    last = turns[-1]
    if last.role == "assistant" and last.blocks:
        final = last.blocks[-1][1]
        tail = final.get("text") if isinstance(final, dict) and final.get("type") == "text" else ""
        if isinstance(tail, str) and tail != tail.rstrip():
            _fail("messages: final assistant content cannot end with trailing whitespace")
    return turns


_BLOCK_FIELDS: Final[dict[str, tuple[str, ...]]] = {
    "text": ("type", "text", "cache_control", "citations"),
    "image": ("type", "source", "cache_control"),
    "document": ("type", "source", "title", "context", "citations", "cache_control"),
    "tool_use": ("type", "id", "name", "input", "cache_control"),
    "tool_result": ("type", "tool_use_id", "content", "is_error", "cache_control"),
    "thinking": ("type", "thinking", "signature"),
    "redacted_thinking": ("type", "data"),
    "search_result": ("type", "source", "title", "content", "citations", "cache_control"),
    "server_tool_use": ("type", "id", "name", "input", "cache_control"),
    "web_search_tool_result": ("type", "tool_use_id", "content", "cache_control"),
}
_ROLE_OF: Final = {
    "tool_use": "assistant", "thinking": "assistant", "redacted_thinking": "assistant",
    "server_tool_use": "assistant", "web_search_tool_result": "assistant",
    "tool_result": "user", "image": "user", "document": "user",
}  # fmt: skip
_IN_TOOL_RESULT: Final = ("text", "image", "document", "search_result")
_ID_PATTERN: Final = re.compile(r"^[a-zA-Z0-9_-]+$")
_IMAGE_TYPES: Final = ("image/jpeg", "image/png", "image/gif", "image/webp")


def _check_source(block: JSON, loc: str, btype: str) -> None:
    """Rule 10: image and document sources."""
    loc = f"{loc}.source"
    source = _get(block, "source", "dictionary", loc.rsplit(".", 1)[0], required=True)
    kinds = ("base64", "url") if btype == "image" else ("base64", "url", "text", "content")
    stype = _tag(source, loc, kinds)
    loc = f"{loc}.{stype}"
    if stype == "url":
        _extra(source, ("type", "url"), loc)
        if not re.match(r"^https?://", _get(source, "url", "string", loc, required=True)):
            _fail(f"{loc}.url: URL must use http or https")
    elif stype == "content":
        _extra(source, ("type", "content"), loc)
        if not isinstance(source.get("content"), str | list):
            _fail(f"{loc}.content: Input should be a valid string or a valid list")
    else:
        _extra(source, ("type", "media_type", "data"), loc)
        media = {"base64": _IMAGE_TYPES if btype == "image" else ("application/pdf",),
                 "text": ("text/plain",)}[stype]  # fmt: skip
        if len(media) == 1:
            if source.get("media_type") != media[0]:
                _fail(f"{loc}.media_type: Input should be '{media[0]}'")
        else:
            _one_of(source.get("media_type"), media, f"{loc}.media_type")
        data = _get(source, "data", "string", loc, required=True)
        if stype == "base64":
            try:
                base64.b64decode(data, validate=True)
            except ValueError:  # binascii.Error, or non-ASCII text
                _fail(f"{loc}.data: Invalid base64 data")


def _check_block(loc: str, role: str | None, block: Any) -> int:
    """Rules 3, 4, 10 for one block; ``role`` None means inside a tool_result.
    Returns how many cache_control breakpoints the block (and its children) carry."""
    tags = _IN_TOOL_RESULT if role is None else tuple(_BLOCK_FIELDS)
    btype = _tag(block, loc, tags)
    tloc = f"{loc}.{btype}"
    _extra(block, _BLOCK_FIELDS[btype], tloc)
    owner = _ROLE_OF.get(btype)
    if role is not None and owner is not None and owner != role:
        _fail(f"{loc}.type: `{btype}` blocks can only be used in `{owner}` messages")
    marks = _check_cache_control(block, tloc)
    if btype == "text":
        _check_text(_get(block, "text", "string", tloc, required=True), "messages")
        _get(block, "citations", "list", tloc)
    elif btype in ("image", "document"):
        _check_source(block, tloc, btype)
    elif btype in ("tool_use", "server_tool_use"):
        if not _ID_PATTERN.match(_get(block, "id", "string", tloc, required=True)):
            _fail(f"{tloc}.id: String should match pattern '^[a-zA-Z0-9_-]+$'")
        _get(block, "name", "string", tloc, required=True)
        _get(block, "input", "dictionary", tloc, required=True)
    elif btype == "tool_result":
        if not _ID_PATTERN.match(_get(block, "tool_use_id", "string", tloc, required=True)):
            _fail(f"{tloc}.tool_use_id: String should match pattern '^[a-zA-Z0-9_-]+$'")
        _get(block, "is_error", "boolean", tloc)
        content = block.get("content")
        if isinstance(content, list):
            for j, inner in enumerate(content):
                marks += _check_block(f"{tloc}.content.{j}", None, inner)
        elif content is not None and not isinstance(content, str):
            _fail(f"{tloc}.content: Input should be a valid string or a valid list")
    elif btype == "thinking":
        _get(block, "thinking", "string", tloc, required=True)
        _get(block, "signature", "string", tloc, required=True)
    elif btype == "redacted_thinking":
        _get(block, "data", "string", tloc, required=True)
    elif btype == "search_result":
        _get(block, "source", "string", tloc, required=True)
        _get(block, "title", "string", tloc, required=True)
        for j, inner in enumerate(_get(block, "content", "list", tloc, required=True)):
            _tag(inner, f"{tloc}.content.{j}", ("text",))
            marks += _check_block(f"{tloc}.content.{j}", None, inner)
    return marks


# Rule 9 ---------------------------------------------------------------------------------------
def _check_system(body: JSON) -> int:
    system = body.get("system")
    if system is None or isinstance(system, str):
        return 0
    if not isinstance(system, list):
        _fail("system: Input should be a valid string or a valid list")
    marks = 0
    for i, block in enumerate(system):
        _tag(block, f"system.{i}", ("text",))
        _extra(block, _BLOCK_FIELDS["text"], f"system.{i}.text")
        _check_text(_get(block, "text", "string", f"system.{i}", required=True), "system")
        marks += _check_cache_control(block, f"system.{i}")
    return marks


# Rule 5: tool definitions and tool_choice --------------------------------------------------------
_NAME_PATTERN: Final = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")
_CUSTOM_FIELDS: Final = (
    "name", "description", "input_schema", "cache_control", "type", "strict", "input_examples",
    "eager_input_streaming", "defer_loading", "allowed_callers",
)  # fmt: skip
_WEB_SEARCH_FIELDS: Final = (
    "type", "name", "max_uses", "allowed_domains", "blocked_domains", "user_location",
    "cache_control",
)  # fmt: skip


def _check_tools(body: JSON) -> tuple[list[str], int]:
    """Returns the defined tool names and the count of cache_control breakpoints."""
    names: list[str] = []
    marks = 0
    for i, tool in enumerate(_get(body, "tools", "list", "") or []):
        if not isinstance(tool, dict):
            _fail(f"tools.{i}: Input should be a valid dictionary")
        kind = tool.get("type")
        if isinstance(kind, str) and kind.startswith("web_search_"):
            loc = f"tools.{i}.{kind}"
            _extra(tool, _WEB_SEARCH_FIELDS, loc)
            if tool.get("name") != "web_search":
                _fail(f"{loc}.name: Input should be 'web_search'")
            max_uses = _get(tool, "max_uses", "integer", loc)
            if max_uses is not None and max_uses < 1:
                _fail(f"{loc}.max_uses: Input should be greater than 0")
            for key in ("allowed_domains", "blocked_domains"):
                for j, domain in enumerate(_get(tool, key, "list", loc) or []):
                    if not isinstance(domain, str) or not domain:
                        _fail(f"{loc}.{key}.{j}: Input should be a valid string")
            where = _get(tool, "user_location", "dictionary", loc)
            if where is not None:
                _tag(where, f"{loc}.user_location", ("approximate",))
                _extra(
                    where, ("type", "city", "region", "country", "timezone"), f"{loc}.user_location"
                )
                for key in ("city", "region", "country", "timezone"):
                    _get(where, key, "string", f"{loc}.user_location")
        elif kind in (None, "custom"):
            loc = f"tools.{i}.custom"
            _extra(tool, _CUSTOM_FIELDS, loc)
            if not _NAME_PATTERN.match(_get(tool, "name", "string", loc, required=True)):
                _fail(f"{loc}.name: String should match pattern '^[a-zA-Z0-9_-]{{1,128}}$'")
            _get(tool, "description", "string", loc)
            _get(tool, "strict", "boolean", loc)
            schema = _get(tool, "input_schema", "dictionary", loc, required=True)
            if schema.get("type") != "object":
                _fail(f"{loc}.input_schema.type: Input should be 'object'")
        else:
            _fail(
                f"tools.{i}: Input tag '{kind}' found using 'type' does not match any of the "
                "expected tags: 'custom', 'web_search_20250305'"
            )
        marks += _check_cache_control(tool, loc)
        if tool["name"] in names:
            _fail("tools: Tool names must be unique.")
        names.append(tool["name"])
    return names, marks


def _check_tool_choice(body: JSON, names: list[str]) -> None:
    choice = _get(body, "tool_choice", "dictionary", "")
    if choice is None:
        return
    kind = _tag(choice, "tool_choice", ("auto", "any", "tool", "none"))
    loc = f"tool_choice.{kind}"
    allowed = {"none": ("type",), "tool": ("type", "name", "disable_parallel_tool_use")}
    _extra(choice, allowed.get(kind, ("type", "disable_parallel_tool_use")), loc)
    _get(choice, "disable_parallel_tool_use", "boolean", loc)
    if kind != "none" and not names:
        _fail("tool_choice may only be specified while providing tools.")
    if kind == "tool" and _get(choice, "name", "string", loc, required=True) not in names:
        _fail(f"{loc}.name: Tool '{choice['name']}' not found in provided tools")


def _check_tools_defined(body: JSON, turns: list[_Turn]) -> None:
    used = any(b["type"] in ("tool_use", "tool_result") for t in turns for _, b in t.blocks)
    if used and not body.get("tools"):
        _fail("Requests which include `tool_use` or `tool_result` blocks must define tools.")


# Rule 4: tool_use / tool_result pairing --------------------------------------------------------
def _ids(turn: _Turn, btype: str, key: str) -> list[tuple[str, str]]:
    return [(loc, b[key]) for loc, b in turn.blocks if b["type"] == btype]


def _check_tool_pairing(turns: list[_Turn]) -> None:
    seen: set[str] = set()
    for k, turn in enumerate(turns):
        if turn.role == "assistant":
            uses = _ids(turn, "tool_use", "id")
            for loc, use_id in uses:
                if use_id in seen:
                    _fail(f"{loc}: `tool_use` ids must be unique")
                seen.add(use_id)
            if not uses or k == len(turns) - 1:  # a trailing tool_use awaits its result
                continue
            answered = {i for _, i in _ids(turns[k + 1], "tool_result", "tool_use_id")}
            missing = [i for _, i in uses if i not in answered]
            if missing:
                _fail(
                    f"{turn.loc}: `tool_use` ids were found without `tool_result` blocks "
                    f"immediately after: {', '.join(missing)}. Each `tool_use` block must have "
                    "a corresponding `tool_result` block in the next message."
                )
            continue
        expected = {i for _, i in _ids(turns[k - 1], "tool_use", "id")} if k else set()
        results = _ids(turn, "tool_result", "tool_use_id")
        answered_here: set[str] = set()
        for loc, use_id in results:
            if use_id not in expected:
                _fail(
                    f"{loc}: unexpected `tool_use_id` found in `tool_result` blocks: {use_id}. "
                    "Each `tool_result` block must have a corresponding `tool_use` block in the "
                    "previous message."
                )
            if use_id in answered_here:
                _fail(
                    f"{loc}: each tool_use must have a single result. Found multiple "
                    f"`tool_result` blocks with id: {use_id}"
                )
            answered_here.add(use_id)
        leading = 0
        while leading < len(turn.blocks) and turn.blocks[leading][1]["type"] == "tool_result":
            leading += 1
        if leading < len(results):
            _fail(
                f"{turn.loc}: Did not find {len(results)} `tool_result` block(s) at the "
                "beginning of this message. Messages following `tool_use` blocks must begin "
                "with a matching number of `tool_result` blocks."
            )


# Rule 6: extended thinking ---------------------------------------------------------------------
_DOCS: Final = "https://docs.claude.com/en/docs/build-with-claude/extended-thinking"


def _check_thinking(
    body: JSON, turns: list[_Turn], adaptive_only: tuple[str, ...], betas: frozenset[str]
) -> None:
    config = _get(body, "thinking", "dictionary", "")
    if config is None:
        return
    kind = _tag(config, "thinking", ("enabled", "disabled", "adaptive"))
    loc = f"thinking.{kind}"
    fields = {"enabled": ("type", "budget_tokens", "display"), "disabled": ("type",)}
    _extra(config, fields.get(kind, ("type", "display")), loc)
    if kind == "disabled":
        return
    if config.get("display") is not None:
        _one_of(config["display"], ("summarized", "omitted"), f"{loc}.display")
    if kind == "enabled":
        if body["model"].startswith(adaptive_only):
            _fail(
                '"thinking.type.enabled" is not supported for this model. Use '
                '"thinking.type.adaptive" and "output_config.effort" to control thinking '
                "behavior."
            )
        budget = _get(config, "budget_tokens", "integer", loc, required=True)
        if budget < 1024:
            _fail(f"{loc}.budget_tokens: Input should be greater than or equal to 1024")
        # Interleaved thinking lets the budget span several turns, so it may exceed max_tokens.
        if budget >= body["max_tokens"] and INTERLEAVED_BETA not in betas:
            _fail(
                "`max_tokens` must be greater than `thinking.budget_tokens`. Please consult "
                f"our documentation at {_DOCS}#max-tokens-and-context-window-size"
            )
        if (body.get("output_config") or {}).get("effort") is not None:
            _fail(
                "output_config.effort: effort requires adaptive thinking or no thinking; "
                "it cannot be combined with `thinking.type.enabled`"
            )
    # Feature compatibility of thinking (docs: extended-thinking#feature-compatibility).
    if body.get("temperature") is not None and body["temperature"] != 1:
        _fail(
            "`temperature` may only be set to 1 when thinking is enabled or in adaptive mode. "
            f"Please consult our documentation at {_DOCS}#feature-compatibility"
        )
    if body.get("top_k") is not None:
        _fail(
            "`top_k` must be unset when thinking is enabled or in adaptive mode. Please "
            f"consult our documentation at {_DOCS}#feature-compatibility"
        )
    if body.get("top_p") is not None and body["top_p"] < 0.95:
        _fail(
            "`top_p` must be greater than or equal to 0.95 or unset when thinking is enabled "
            f"or in adaptive mode. Please consult our documentation at {_DOCS}"
            "#feature-compatibility"
        )
    if (body.get("tool_choice") or {}).get("type") in ("any", "tool"):
        _fail("Thinking may not be enabled when tool_choice forces tool use.")
    # Mid tool loop (the request ends with tool results), the assistant turn holding the
    # lastmost tool_use blocks must start with the thinking block that produced them.
    last = turns[-1]
    if len(turns) >= 2 and any(b["type"] == "tool_result" for _, b in last.blocks):
        loc, first = turns[-2].blocks[0]
        if first["type"] not in ("thinking", "redacted_thinking"):
            _fail(
                f"{loc}.type: Expected `thinking` or `redacted_thinking`, but found "
                f"`{first['type']}`. When `thinking` is enabled, a final `assistant` message "
                "must start with a thinking block (preceeding the lastmost set of `tool_use` "
                "and `tool_result` blocks). We recommend you include thinking blocks from "
                "previous turns. To avoid this requirement, disable `thinking`. Please consult "
                f"our documentation at {_DOCS}"
            )


# Rule 7: thinking signatures ---------------------------------------------------------------------
def _check_signatures(turns: list[_Turn], signer: Signer) -> None:
    for turn in turns:
        for loc, b in turn.blocks:
            if b["type"] == "thinking" and not signer.verify(b["thinking"], b["signature"]):
                _fail(f"{loc}: Invalid `signature` in `thinking` block")
            if b["type"] == "redacted_thinking" and b["data"] not in signer.redacted:
                _fail(f"{loc}: Invalid `data` in `redacted_thinking` block")


def validate(
    body: Any,
    *,
    signer: Signer | None = None,
    adaptive_only_models: tuple[str, ...] = DEFAULT_ADAPTIVE_ONLY,
    betas: Iterable[str] = (),
) -> str | None:
    """The 400 ``invalid_request_error`` message the real API would give ``body``, or None.

    ``signer`` is the fake whose thinking signatures / redacted data are valid (default: a fresh
    one, so no signature is valid); ``betas`` are the ``anthropic-beta`` header values."""
    try:
        if not isinstance(body, dict):
            _fail("Input should be a valid dictionary")
        _check_top_level(body)
        _check_params(body)
        turns = _merge_turns(body)
        marks = _check_system(body)
        names, tool_marks = _check_tools(body)
        _check_tool_choice(body, names)
        marks += tool_marks + sum(
            _check_block(loc, t.role, b) for t in turns for loc, b in t.blocks
        )
        marks += 1 if body.get("cache_control") else 0  # the automatic breakpoint takes a slot
        if marks > 4:  # rule 8
            _fail(f"A maximum of 4 blocks with cache_control may be provided. Found {marks}.")
        _check_tools_defined(body, turns)
        _check_tool_pairing(turns)
        _check_thinking(body, turns, adaptive_only_models, frozenset(betas))
        _check_signatures(turns, signer or Signer())
    except _Invalid as e:
        return str(e)
    return None


# ---------------------------------------------------------------------------------------------
# Prompt caching, simulated


def _cache_units(body: JSON) -> list[tuple[bytes, bool]]:
    """The request's cacheable units in cache order (tools, system, message blocks), each as
    its JSON without ``cache_control`` and whether it carries a breakpoint."""
    units: list[tuple[bytes, bool]] = []

    def add(value: JSON, context: JSON | None = None) -> None:
        marked = bool(value.get("cache_control"))
        clean = {k: v for k, v in value.items() if k != "cache_control"}
        if clean.get("type") == "tool_result" and isinstance(clean.get("content"), list):
            inner = clean["content"]
            marked = marked or any(isinstance(c, dict) and c.get("cache_control") for c in inner)
            clean["content"] = [
                {k: v for k, v in c.items() if k != "cache_control"} if isinstance(c, dict) else c
                for c in inner
            ]
        units.append((_encoder.encode({**(context or {}), "unit": clean}), marked))

    for tool in body.get("tools") or ():
        add(tool)
    system = body.get("system")
    if isinstance(system, str):
        add({"type": "text", "text": system})
    for block in system if isinstance(system, list) else ():
        add(block)
    for i, message in enumerate(body.get("messages") or ()):
        content = message["content"]
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        for block in blocks:
            add(block, {"role": message["role"], "message": i})
    return units


class PrefixCache:
    """Anthropic's prompt cache as documented (platform.claude.com, "Prompt caching"): a
    request reads the longest prefix previously written that ends at a block boundary at most
    ``LOOKBACK`` blocks before one of its ``cache_control`` breakpoints, writes the prefix up to
    its last breakpoint, and pays full price for the rest. Tokens are approximated as
    ``len(json) // 4`` per block; entries never expire."""

    LOOKBACK: Final = 20

    def __init__(self) -> None:
        self.entries: set[str] = set()
        #: The usage reported for every request, in order.
        self.log: list[dict[str, int]] = []

    def account(self, body: JSON) -> dict[str, int]:
        units = _cache_units(body)
        h = hashlib.sha256()
        prefixes: list[str] = []
        ends: list[int] = []
        total = 0
        for raw, _ in units:
            h.update(hashlib.sha256(raw).digest())
            prefixes.append(h.hexdigest())
            total += max(1, len(raw) // 4)
            ends.append(total)
        marks = [i for i, (_, marked) in enumerate(units) if marked]
        hit = -1
        for b in marks:
            for j in range(b, max(-1, b - self.LOOKBACK - 1), -1):
                if prefixes[j] in self.entries:
                    hit = max(hit, j)
                    break
        read = ends[hit] if hit >= 0 else 0
        last = marks[-1] if marks else -1
        written = ends[last] - read if last > hit else 0
        for b in marks:
            self.entries.add(prefixes[b])
        usage = {
            "input_tokens": total - read - written,
            "cache_read_input_tokens": read,
            "cache_creation_input_tokens": written,
        }
        self.log.append(usage)
        return usage


# ---------------------------------------------------------------------------------------------
# The server

_MODELS: Final = (
    ("claude-opus-4-5", "Claude Opus 4.5", "2025-11-24T00:00:00Z"),
    ("claude-haiku-4-5", "Claude Haiku 4.5", "2025-10-15T00:00:00Z"),
    ("claude-sonnet-4-5", "Claude Sonnet 4.5", "2025-09-29T00:00:00Z"),
    ("claude-opus-4-1", "Claude Opus 4.1", "2025-08-05T00:00:00Z"),
)


def _models_listing() -> JSON:
    data = [
        {"type": "model", "id": m, "display_name": name, "created_at": created}
        for m, name, created in _MODELS
    ]
    return {"data": data, "has_more": False, "first_id": data[0]["id"], "last_id": data[-1]["id"]}


@dataclass
class RecordedRequest:
    path: str
    headers: dict[str, str]  # lower-cased names
    json: Any  # parsed body; None when it was not JSON
    status: int = 0  # reply status (200 for streams, even faulted ones); 0 = nothing sent


class FakeAnthropic:
    """The fake upstream. Replies come from ``script`` (FIFO), then ``responder``, then
    ``Reply([text("ok")])``. Rejected requests (401/400) consume nothing."""

    def __init__(
        self,
        *,
        adaptive_only_models: tuple[str, ...] = DEFAULT_ADAPTIVE_ONLY,
        chunk_size: int = 7,
        cache_simulation: bool = False,
    ) -> None:
        self.adaptive_only_models = adaptive_only_models
        self.chunk_size = chunk_size
        #: Set with ``cache_simulation``: reply usage comes from the simulated prompt cache.
        self.cache: PrefixCache | None = PrefixCache() if cache_simulation else None
        self.signer = Signer()
        self.requests: list[RecordedRequest] = []
        self.script: collections.deque[Reply | ErrorReply | StreamFault] = collections.deque()
        self.responder: Responder | None = None
        self.rejections: list[str] = []
        self.closed_connections: list[float] = []
        self.base_url = ""
        self._runner: web.AppRunner | None = None

    def sign(self, thinking: str) -> str:
        """The signature this fake gives (and accepts for) ``thinking``."""
        return self.signer.sign(thinking)

    def validate(self, body: Any, betas: Iterable[str] = ()) -> str | None:
        return validate(
            body, signer=self.signer, adaptive_only_models=self.adaptive_only_models, betas=betas
        )

    async def start(self) -> str:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        # handler_cancellation: a client disconnect cancels the handler (seen by "hang").
        self._runner = web.AppRunner(
            app, handler_cancellation=True, access_log=None, shutdown_timeout=0.25
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.base_url = f"http://127.0.0.1:{port}"
        return self.base_url

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    def _next(self, body: JSON) -> Reply | ErrorReply | StreamFault:
        if self.script:
            return self.script.popleft()
        if self.responder is not None:
            return self.responder(body)
        return Reply([text("ok")])

    def _error(self, reply: ErrorReply) -> web.Response:
        request_id = _rand("req_")
        if reply.status == 400:
            self.rejections.append(reply.message)
        body = _encoder.encode(error_body(reply.type, reply.message, request_id))
        headers = {"request-id": request_id, **reply.headers}
        return web.Response(
            status=reply.status, body=body, content_type="application/json", headers=headers
        )

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path.rstrip("/")
        if request.method == "GET" and path.endswith("/v1/models"):
            return self._precheck(request) or web.json_response(_models_listing())
        if request.method != "POST" or not path.endswith("/v1/messages"):
            return self._error(ErrorReply(404, "not_found_error", "Not found"))
        headers = {k.lower(): v for k, v in request.headers.items()}
        record = RecordedRequest(request.path, headers, None)
        self.requests.append(record)
        try:
            response = await self._messages(request, record)
        except asyncio.CancelledError:  # aiohttp cancels the handler when the client goes away
            self.closed_connections.append(asyncio.get_running_loop().time())
            raise
        record.status = response.status
        return response

    def _precheck(self, request: web.Request) -> web.Response | None:
        auth = request.headers.get("authorization", "")
        if not request.headers.get("x-api-key") and not auth.startswith("Bearer "):
            msg = "x-api-key header is required"
            return self._error(ErrorReply(401, "authentication_error", msg))
        if not request.headers.get("anthropic-version"):
            msg = "anthropic-version: header is required"
            return self._error(ErrorReply(400, "invalid_request_error", msg))
        return None

    async def _messages(self, request: web.Request, record: RecordedRequest) -> web.StreamResponse:
        rejected = self._precheck(request)
        if rejected is not None:
            return rejected
        try:
            body = record.json = msgspec.json.decode(await request.read())
        except msgspec.DecodeError:
            return self._error(ErrorReply(400, "invalid_request_error", "Invalid JSON body"))
        betas = [b.strip() for b in request.headers.get("anthropic-beta", "").split(",")]
        problem = self.validate(body, betas)
        if problem is not None:
            return self._error(ErrorReply(400, "invalid_request_error", problem))
        reply = self._next(body)
        if isinstance(reply, ErrorReply):
            return self._error(reply)
        fault = reply if isinstance(reply, StreamFault) else None
        message = reply.reply if isinstance(reply, StreamFault) else reply
        if self.cache is not None:
            usage = {**message.usage, **self.cache.account(body)}
            message = dataclasses.replace(message, usage=usage)
        if body.get("stream"):
            record.status = 200  # sent with the headers, even if the stream is then cut
            return await self._stream(request, body["model"], message, fault)
        if fault is not None:
            if fault.kind == "hang":
                await asyncio.Event().wait()  # until the client disconnects (cancellation)
            status = ERROR_STATUS.get(fault.error_type, 500)
            text_ = _ERROR_TEXT.get(fault.error_type, fault.error_type)
            return self._error(ErrorReply(status, fault.error_type, text_))
        out = message_json(message, body["model"], self.signer, _rand("msg_"))
        return web.json_response(out, headers={"request-id": _rand("req_")})

    async def _stream(
        self, request: web.Request, model: str, reply: Reply, fault: StreamFault | None
    ) -> web.StreamResponse:
        response = web.StreamResponse(headers={"request-id": _rand("req_")})
        response.headers["content-type"] = "text/event-stream; charset=utf-8"
        response.headers["cache-control"] = "no-cache"
        await response.prepare(request)
        msg_id = _rand("msg_")
        events = stream_events(reply, model, self.signer, chunk_size=self.chunk_size, msg_id=msg_id)
        if fault is not None:
            events = events[: fault.after_events]
        try:
            for i, (name, data) in enumerate(events):  # one write per event: real chunking
                if reply.delays.get(i):
                    await asyncio.sleep(reply.delays[i])
                await response.write(sse_frame(name, data))
            kind = fault.kind if fault is not None else None
            if kind == "error_event" and fault is not None:
                message = _ERROR_TEXT.get(fault.error_type, fault.error_type)
                error = {"type": fault.error_type, "message": message}
                await response.write(sse_frame("error", {"type": "error", "error": error}))
            elif kind == "hang":
                await asyncio.Event().wait()  # until the client disconnects (cancellation)
            elif kind == "reset" and request.transport is not None:
                request.transport.abort()  # no terminating chunk: the client sees a broken body
                return response
            await response.write_eof()
        except ConnectionError:  # a write hit a connection the client already closed
            self.closed_connections.append(asyncio.get_running_loop().time())
        return response
