"""Anthropic Messages wire types, shared by every route that talks to (or presents) Messages.

Lenient where the provider owns the schema: unknown fields are ignored, unknown event, block and
delta types are recognised as such so a translator can skip and count them. Decoders are built
once, at import.

Stream events (https://docs.claude.com/en/api/messages-streaming)::

    message_start → (content_block_start → content_block_delta* → content_block_stop)*
                  → message_delta+ → message_stop          with ping anywhere, error possible
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import msgspec

from llmproxy.contract import Usage
from llmproxy.errors import UpstreamProtocolError, UpstreamStatusError

__all__ = [
    "EVENT_TYPES",
    "BlockStart",
    "BlockStop",
    "Delta",
    "ErrorEvent",
    "MessageDelta",
    "MessageStart",
    "StreamUsage",
    "decode_error_body",
    "decode_event",
    "read_event",
    "refuses_signature",
    "stream_error",
    "upstream_status_error",
]


class StreamUsage(msgspec.Struct, gc=False):
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_creation_input_tokens: int | None = None
    cache_read_input_tokens: int | None = None
    output_tokens_details: dict[str, Any] | None = None
    server_tool_use: dict[str, Any] | None = None
    service_tier: str | None = None


def merge_usage(into: StreamUsage, update: StreamUsage) -> None:
    """Stream usage is cumulative: a ``message_delta``'s counts override ``message_start``'s
    where present (the Anthropic SDK's accumulator does the same)."""
    for f in StreamUsage.__struct_fields__:
        value = getattr(update, f)
        if value is not None:
            setattr(into, f, value)


def thinking_tokens(u: StreamUsage) -> int:
    """Reasoning tokens (``output_tokens_details.thinking_tokens``; 0 when not reported)."""
    return int((u.output_tokens_details or {}).get("thinking_tokens") or 0)


def neutral_usage(u: StreamUsage) -> Usage | None:
    """The gateway's neutral token counts for metrics and the request log; None before the
    upstream reported any."""
    if u.input_tokens is None and u.output_tokens is None:
        return None
    return Usage(
        input=u.input_tokens or 0,
        output=u.output_tokens or 0,
        cache_read=u.cache_read_input_tokens or 0,
        cache_write=u.cache_creation_input_tokens or 0,
        reasoning=thinking_tokens(u),
    )


class StartMessage(msgspec.Struct, gc=False):
    id: str = ""
    model: str = ""
    usage: StreamUsage | None = None


class MessageStart(msgspec.Struct, tag="message_start", gc=False):
    message: StartMessage


class BlockStart(msgspec.Struct, tag="content_block_start", gc=False):
    index: int
    #: Kept raw: block types grow (server tools, containers); the translator decodes what it
    #: knows by ``type``.
    content_block: dict[str, Any]


class Delta(msgspec.Struct, tag="content_block_delta", gc=False):
    index: int
    delta: dict[str, Any]


class BlockStop(msgspec.Struct, tag="content_block_stop", gc=False):
    index: int


class MessageDeltaBody(msgspec.Struct, gc=False):
    stop_reason: str | None = None
    stop_sequence: str | None = None
    stop_details: dict[str, Any] | None = None


class MessageDelta(msgspec.Struct, tag="message_delta", gc=False):
    delta: MessageDeltaBody
    usage: StreamUsage | None = None


class MessageStop(msgspec.Struct, tag="message_stop", gc=False):
    pass


class Ping(msgspec.Struct, tag="ping", gc=False):
    pass


class ErrorDetail(msgspec.Struct, gc=False):
    type: str = "api_error"
    message: str = ""


class ErrorEvent(msgspec.Struct, tag="error", gc=False):
    error: ErrorDetail = msgspec.field(default_factory=ErrorDetail)


Event = (
    MessageStart | BlockStart | Delta | BlockStop | MessageDelta | MessageStop | Ping | ErrorEvent
)

EVENT_TYPES: Final = frozenset(
    {
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
        "ping",
        "error",
    }
)

_event_decoder: Final = msgspec.json.Decoder(Event)


def decode_event(data: str | bytes) -> Event:
    """Decode one SSE ``data`` payload. Raises ``msgspec.DecodeError`` or ``ValidationError``
    (unknown ``type`` included); callers check ``EVENT_TYPES`` first to skip unknown types."""
    return _event_decoder.decode(data)


def _peek_type(data: str) -> str | None:
    try:
        value = msgspec.json.decode(data)
    except msgspec.DecodeError:
        return None
    if isinstance(value, dict):
        t = value.get("type")
        return t if isinstance(t, str) else None
    return None


def read_event(name: str, data: str) -> Event | None:
    """One upstream SSE event (its ``event`` name and ``data``) for a stream translator: the
    typed event, or None for one to skip and count (an unknown event or delta type). Raises
    ``UpstreamProtocolError`` for a known event it cannot read."""
    if name == "message" or name not in EVENT_TYPES:
        # Anthropic always names its events; fall back to the payload's type.
        name = _peek_type(data) or name
        if name not in EVENT_TYPES:
            return None
    try:
        return _event_decoder.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError) as e:
        if name == "content_block_delta":
            return None  # a delta type this version does not know
        raise UpstreamProtocolError(f"unreadable upstream {name} event: {e}") from None


def stream_error(ev: ErrorEvent) -> UpstreamStatusError:
    """An ``error`` event inside the stream, with the HTTP status Anthropic documents for its
    type (``overloaded_error`` -> 529)."""
    return UpstreamStatusError(
        ev.error.message or "the upstream reported an error",
        upstream_status=STATUS_BY_ERROR_TYPE.get(ev.error.type, 500),
        error_type=ev.error.type,
        in_stream=True,
    )


class ErrorBody(msgspec.Struct):
    error: ErrorDetail = msgspec.field(default_factory=ErrorDetail)
    request_id: str | None = None


_error_decoder: Final = msgspec.json.Decoder(ErrorBody)

#: The HTTP status Anthropic documents for each error type (used for in-stream errors).
STATUS_BY_ERROR_TYPE: Final = {
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


def decode_error_body(body: bytes) -> ErrorBody | None:
    """An Anthropic error body, or None when the upstream sent something else (HTML, text)."""
    try:
        return _error_decoder.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


def upstream_status_error(
    status: int, headers: Mapping[str, str], body: bytes
) -> UpstreamStatusError:
    parsed = decode_error_body(body)
    if parsed is not None and parsed.error.message:
        message, etype = parsed.error.message, parsed.error.type
        rid = parsed.request_id or headers.get("request-id")
    else:
        message = f"the upstream answered HTTP {status}"
        etype, rid = None, headers.get("request-id")
    return UpstreamStatusError(
        message,
        upstream_status=status,
        error_type=etype,
        retry_after=headers.get("retry-after"),
        upstream_request_id=rid,
    )


# -- output: what a route presenting Messages sends its client (codex2claude, chat2claude) -------
#
# Strict and complete: the Anthropic SDKs build typed objects from these, and Claude Code
# indexes ``content`` by the events' ``index``. Blocks and deltas are tagged unions on ``type``.
# Error bodies: ``{"type": "error", "error": {"type", "message"}, "request_id"}`` (reference §5.3).


class OutputTokensDetailsOut(msgspec.Struct, gc=False):
    thinking_tokens: int


class UsageOut(msgspec.Struct, gc=False):
    """``usage`` of a Message (cumulative in ``message_delta``). ``input_tokens`` excludes cache
    reads and writes (reference §5.1)."""

    input_tokens: int
    output_tokens: int
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0
    output_tokens_details: OutputTokensDetailsOut | None = None


class _BlockOut(msgspec.Struct, tag_field="type", gc=False):
    pass


class TextBlockOut(_BlockOut, tag="text"):
    text: str


class ThinkingBlockOut(_BlockOut, tag="thinking"):
    thinking: str
    signature: str


class RedactedThinkingBlockOut(_BlockOut, tag="redacted_thinking"):
    data: str


class ToolUseBlockOut(_BlockOut, tag="tool_use"):
    id: str
    name: str
    input: dict[str, Any]


ContentBlockOut = TextBlockOut | ThinkingBlockOut | RedactedThinkingBlockOut | ToolUseBlockOut


class MessageOut(msgspec.Struct, tag_field="type", tag="message", gc=False):
    """A complete Message (the non-streaming reply, and ``message_start``'s snapshot)."""

    id: str
    role: str
    model: str
    content: list[ContentBlockOut]
    stop_reason: str | None
    stop_sequence: str | None
    usage: UsageOut


class _DeltaOut(msgspec.Struct, tag_field="type", gc=False):
    pass


class TextDeltaOut(_DeltaOut, tag="text_delta"):
    text: str


class InputJsonDeltaOut(_DeltaOut, tag="input_json_delta"):
    partial_json: str


class ThinkingDeltaOut(_DeltaOut, tag="thinking_delta"):
    thinking: str


class SignatureDeltaOut(_DeltaOut, tag="signature_delta"):
    signature: str


DeltaOut = TextDeltaOut | InputJsonDeltaOut | ThinkingDeltaOut | SignatureDeltaOut


class StopOut(msgspec.Struct, gc=False):
    """``message_delta.delta``."""

    stop_reason: str | None
    stop_sequence: str | None = None


class _EventOut(msgspec.Struct, tag_field="type", gc=False):
    pass


class MessageStartOut(_EventOut, tag="message_start"):
    message: MessageOut


class BlockStartOut(_EventOut, tag="content_block_start"):
    index: int
    content_block: ContentBlockOut


class BlockDeltaOut(_EventOut, tag="content_block_delta"):
    index: int
    delta: DeltaOut


class BlockStopOut(_EventOut, tag="content_block_stop"):
    index: int


class MessageDeltaOut(_EventOut, tag="message_delta"):
    delta: StopOut
    usage: UsageOut


class MessageStopOut(_EventOut, tag="message_stop"):
    pass


class PingOut(_EventOut, tag="ping"):
    pass


class ErrorEventOut(_EventOut, tag="error"):
    """The in-stream failure event; the stream ends after it (no ``message_stop``)."""

    error: ErrorDetail


EventOut = (
    MessageStartOut
    | BlockStartOut
    | BlockDeltaOut
    | BlockStopOut
    | MessageDeltaOut
    | MessageStopOut
    | PingOut
    | ErrorEventOut
)


class ErrorBodyOut(msgspec.Struct, tag_field="type", tag="error", omit_defaults=True):
    error: ErrorDetail
    request_id: str | None = None


#: The error type Anthropic uses for an HTTP status (the inverse of ``STATUS_BY_ERROR_TYPE``).
ERROR_TYPE_BY_STATUS: Final = {status: etype for etype, status in STATUS_BY_ERROR_TYPE.items()}

_encode_out: Final = msgspec.json.Encoder().encode


def encode_out(value: MessageOut | EventOut | ErrorBodyOut) -> bytes:
    return _encode_out(value)


def error_type_for_status(status: int) -> str:
    """Anthropic's error ``type`` for an HTTP status it may not document itself."""
    if status in ERROR_TYPE_BY_STATUS:
        return ERROR_TYPE_BY_STATUS[status]
    return "api_error" if status >= 500 else "invalid_request_error"


def error_body(etype: str, message: str, request_id: str | None = None) -> bytes:
    """``{"type":"error","error":{"type","message"}[,"request_id"]}``."""
    return _encode_out(ErrorBodyOut(ErrorDetail(type=etype, message=message), request_id))


__all__ += [  # the output section's names, kept beside their definitions
    "ERROR_TYPE_BY_STATUS",
    "BlockDeltaOut",
    "BlockStartOut",
    "BlockStopOut",
    "ContentBlockOut",
    "DeltaOut",
    "ErrorBodyOut",
    "ErrorEventOut",
    "EventOut",
    "InputJsonDeltaOut",
    "MessageDeltaOut",
    "MessageOut",
    "MessageStartOut",
    "MessageStopOut",
    "OutputTokensDetailsOut",
    "PingOut",
    "RedactedThinkingBlockOut",
    "SignatureDeltaOut",
    "StopOut",
    "TextBlockOut",
    "TextDeltaOut",
    "ThinkingBlockOut",
    "ThinkingDeltaOut",
    "ToolUseBlockOut",
    "UsageOut",
    "encode_out",
    "error_body",
    "error_type_for_status",
]


def refuses_signature(status: int, body: bytes) -> bool:
    """The upstream refused a replayed thinking signature (400 whose message names
    ``signature``): the conversation came from another model, provider or reasoning key."""
    if status != 400:
        return False
    parsed = decode_error_body(body)
    return parsed is not None and "signature" in parsed.error.message.lower()
