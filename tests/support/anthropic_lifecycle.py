"""A strict checker for Anthropic Messages event streams, as an Anthropic client sees them.

``check_messages_stream(events)`` takes the parsed ``data`` object of every SSE event, in order;
``check_messages_sse(raw)`` takes the raw bytes of a whole stream, also checks the framing (every
event is named and its name equals the data's ``type``: the Anthropic SDKs skip unnamed events)
and returns the parsed events. Both raise ``AssertionError`` naming the event (position and type)
and the rule it broke.

The rules, from the protocol reference (claude2codex-protocol.md §5.1, §5.2) and what the
Anthropic SDK's ``accumulate_event`` and Claude Code rely on:

* ``message_start`` first, with a complete Message (``id``, ``type: "message"``, ``role:
  "assistant"``, ``model``, ``content: []``, ``stop_reason: null``, integer ``usage``);
* content blocks one at a time: ``content_block_start`` with ``index`` = the number of blocks
  started so far (the SDK appends, then indexes ``content[index]``), deltas for the open block
  only, ``content_block_stop`` for it before the next block starts;
* delta types match the block: ``text_delta`` for ``text``, ``input_json_delta`` for
  ``tool_use`` (the concatenated ``partial_json`` is a JSON object, or empty), ``thinking_delta``
  and one ``signature_delta`` (before the stop) for ``thinking``; ``redacted_thinking`` has none;
* a successful end: ``message_delta`` (``stop_reason`` in the SDK's enum, integer cumulative
  ``usage`` with ``output_tokens``) then ``message_stop``, last, with every block stopped;
  ``stop_reason: "tool_use"`` exactly when a ``tool_use`` block was sent;
* a failed end: one ``error`` event (``error: {type, message}``), last, and never a
  ``message_stop`` (a client must not take a broken reply for a complete one);
* ``ping`` may appear anywhere after ``message_start``; nothing follows the terminal event.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, NoReturn

from llmproxy.sse import SSEDecoder

__all__ = [
    "Block",
    "Checked",
    "check_messages_sse",
    "check_messages_stream",
    "parse_messages_sse",
]

STOP_REASONS: Final = frozenset(
    {
        "end_turn",
        "max_tokens",
        "stop_sequence",
        "tool_use",
        "pause_turn",
        "refusal",
        "model_context_window_exceeded",
    }
)
ERROR_TYPES: Final = frozenset(
    {
        "invalid_request_error",
        "authentication_error",
        "billing_error",
        "permission_error",
        "not_found_error",
        "request_too_large",
        "rate_limit_error",
        "api_error",
        "timeout_error",
        "overloaded_error",
    }
)
_DELTA_FOR: Final = {
    "text": frozenset({"text_delta", "citations_delta"}),
    "tool_use": frozenset({"input_json_delta"}),
    "thinking": frozenset({"thinking_delta", "signature_delta"}),
    "redacted_thinking": frozenset(),
}


def _fail(where: str, message: str) -> NoReturn:
    raise AssertionError(f"{where}: {message}")


def _int(obj: Mapping[str, Any], key: str, where: str) -> int:
    value = obj.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        _fail(where, f"{key!r} must be a non-negative integer, got {value!r}")
    return value


def _check_usage(usage: object, where: str, *, cumulative: bool = False) -> None:
    """``message_start`` usage needs input and output counts; ``message_delta``'s (cumulative)
    needs ``output_tokens`` and may leave the others out or null."""
    if not isinstance(usage, Mapping):
        _fail(where, f"usage must be an object, got {usage!r}")
    _int(usage, "output_tokens", where + " usage")
    for key in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"):
        if usage.get(key) is not None or (key == "input_tokens" and not cumulative):
            _int(usage, key, where + " usage")


@dataclass
class Block:
    """One content block as the client assembled it."""

    type: str
    start: Mapping[str, Any]
    text: str = ""
    partial_json: str = ""
    signature: str | None = None
    stopped: bool = False
    deltas: list[str] = field(default_factory=list)


@dataclass
class _Checker:
    blocks: list[Block] = field(default_factory=list)
    open: Block | None = None
    started: bool = False
    stop_reason: str | None = None
    delta_seen: bool = False
    terminal: str | None = None

    def event(self, i: int, ev: Mapping[str, Any]) -> None:
        etype = ev.get("type")
        where = f"event #{i} ({etype})"
        if self.terminal is not None:
            _fail(where, f"an event after the terminal {self.terminal}")
        if not self.started and etype not in ("message_start", "error"):
            _fail(where, "the first event must be message_start")
        match etype:
            case "message_start":
                self._message_start(ev, where)
            case "content_block_start":
                self._block_start(ev, where)
            case "content_block_delta":
                self._delta(ev, where)
            case "content_block_stop":
                self._block_stop(ev, where)
            case "message_delta":
                self._message_delta(ev, where)
            case "message_stop":
                if not self.delta_seen:
                    _fail(where, "message_stop without a message_delta")
                if self.open is not None:
                    _fail(where, f"block {self.open.start} was never stopped")
                self.terminal = "message_stop"
            case "ping":
                pass
            case "error":
                error = ev.get("error")
                if not isinstance(error, Mapping):
                    _fail(where, "an error event needs an error object")
                if error.get("type") not in ERROR_TYPES:
                    _fail(where, f"unknown error type {error.get('type')!r}")
                if not isinstance(error.get("message"), str):
                    _fail(where, "the error needs a message")
                self.terminal = "error"
            case _:
                _fail(where, f"unknown event type {etype!r}")

    def _message_start(self, ev: Mapping[str, Any], where: str) -> None:
        if self.started:
            _fail(where, "a second message_start")
        self.started = True
        msg = ev.get("message")
        if not isinstance(msg, Mapping):
            _fail(where, "message_start needs a message")
        for key, value in (("type", "message"), ("role", "assistant")):
            if msg.get(key) != value:
                _fail(where, f"message.{key} must be {value!r}, got {msg.get(key)!r}")
        for key in ("id", "model"):
            if not isinstance(msg.get(key), str) or not msg[key]:
                _fail(where, f"message.{key} must be a non-empty string")
        if msg.get("content") != []:
            _fail(where, f"message.content must be [], got {msg.get('content')!r}")
        if msg.get("stop_reason") is not None:
            _fail(where, "message.stop_reason must be null in message_start")
        _check_usage(msg.get("usage"), where)

    def _block_start(self, ev: Mapping[str, Any], where: str) -> None:
        if self.open is not None:
            _fail(where, f"a block starts while block {len(self.blocks) - 1} is still open")
        if self.delta_seen:
            _fail(where, "a block after message_delta")
        index = ev.get("index")
        if index != len(self.blocks):
            _fail(where, f"index {index!r}, expected {len(self.blocks)} (blocks so far)")
        block = ev.get("content_block")
        if not isinstance(block, Mapping) or block.get("type") not in _DELTA_FOR:
            _fail(where, f"unknown content block {block!r}")
        btype = block["type"]
        if btype == "text" and block.get("text") != "":
            _fail(where, "a text block starts empty")
        if btype == "thinking" and (block.get("thinking") != "" or block.get("signature") != ""):
            _fail(where, "a thinking block starts with empty thinking and signature")
        if btype == "tool_use":
            for key in ("id", "name"):
                if not isinstance(block.get(key), str) or not block[key]:
                    _fail(where, f"tool_use.{key} must be a non-empty string")
            if block.get("input") != {}:
                _fail(where, "a tool_use block starts with input {}")
        if btype == "redacted_thinking" and not isinstance(block.get("data"), str):
            _fail(where, "redacted_thinking needs data")
        self.open = Block(btype, block)
        self.blocks.append(self.open)

    def _delta(self, ev: Mapping[str, Any], where: str) -> None:
        block = self._target(ev, where)
        delta = ev.get("delta")
        if not isinstance(delta, Mapping):
            _fail(where, "a delta event needs a delta object")
        dtype = delta.get("type")
        if dtype not in _DELTA_FOR[block.type]:
            _fail(where, f"{dtype!r} delta for a {block.type} block")
        block.deltas.append(str(dtype))
        if dtype == "text_delta":
            block.text += _str(delta, "text", where)
        elif dtype == "input_json_delta":
            block.partial_json += _str(delta, "partial_json", where)
        elif dtype == "thinking_delta":
            if block.signature is not None:
                _fail(where, "thinking after the signature")
            block.text += _str(delta, "thinking", where)
        elif dtype == "signature_delta":
            if block.signature is not None:
                _fail(where, "a second signature_delta")
            block.signature = _str(delta, "signature", where)

    def _block_stop(self, ev: Mapping[str, Any], where: str) -> None:
        block = self._target(ev, where)
        if block.type == "thinking" and block.signature is None:
            _fail(where, "a thinking block stopped without its signature_delta")
        block.stopped = True
        self.open = None

    def _target(self, ev: Mapping[str, Any], where: str) -> Block:
        index = ev.get("index")
        if self.open is None or index != len(self.blocks) - 1:
            _fail(where, f"index {index!r} is not the open block")
        return self.open

    def _message_delta(self, ev: Mapping[str, Any], where: str) -> None:
        if self.open is not None:
            _fail(where, "message_delta while a block is open")
        delta = ev.get("delta")
        if not isinstance(delta, Mapping):
            _fail(where, "message_delta needs a delta")
        reason = delta.get("stop_reason")
        if reason not in STOP_REASONS:
            _fail(where, f"stop_reason {reason!r} is not one of {sorted(STOP_REASONS)}")
        has_tool = any(b.type == "tool_use" for b in self.blocks)
        if reason == "tool_use" and not has_tool:
            _fail(where, "stop_reason 'tool_use' without a tool_use block")
        if has_tool and reason not in ("tool_use", "max_tokens", "refusal", "pause_turn"):
            _fail(where, f"stop_reason {reason!r} after a tool_use block")
        if "stop_sequence" not in delta:
            _fail(where, "message_delta.delta needs stop_sequence (null)")
        for k, block in enumerate(self.blocks):
            if block.type != "tool_use" or not block.partial_json:
                continue
            try:
                value = json.loads(block.partial_json)
            except ValueError as e:
                # Only max_tokens may cut the last tool call's input short.
                if reason == "max_tokens" and k == len(self.blocks) - 1:
                    continue
                _fail(where, f"block {k}: tool input {block.partial_json!r} is not JSON: {e}")
            if not isinstance(value, dict):
                _fail(where, f"block {k}: tool input {block.partial_json!r} is not an object")
        _check_usage(ev.get("usage"), where, cumulative=True)
        self.stop_reason = reason
        self.delta_seen = True


def _str(obj: Mapping[str, Any], key: str, where: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str):
        _fail(where, f"{key!r} must be a string, got {value!r}")
    return value


@dataclass
class Checked:
    """What a valid stream said."""

    events: list[dict[str, Any]]
    blocks: list[Block]
    stop_reason: str | None
    terminal: str


def check_messages_stream(events: Sequence[Mapping[str, Any]]) -> Checked:
    """Assert that ``events`` (each SSE event's parsed ``data``) is a valid Messages stream."""
    if not events:
        raise AssertionError("the stream has no events")
    checker = _Checker()
    for i, ev in enumerate(events):
        if not isinstance(ev, Mapping):
            raise AssertionError(f"event #{i}: data is not a JSON object: {ev!r}")
        checker.event(i, ev)
    if checker.terminal is None:
        raise AssertionError("the stream ended without message_stop or an error event")
    return Checked([dict(e) for e in events], checker.blocks, checker.stop_reason, checker.terminal)


def parse_messages_sse(raw: bytes) -> list[dict[str, Any]]:
    decoder = SSEDecoder()
    frames = decoder.feed(raw)
    frames.extend(decoder.close())
    if decoder.pending:
        raise AssertionError("the stream ends inside an unterminated event")
    events: list[dict[str, Any]] = []
    for i, frame in enumerate(frames):
        where = f"SSE event #{i} (event: {frame.event})"
        try:
            data = json.loads(frame.data)
        except ValueError as e:
            _fail(where, f"data is not JSON ({e}): {frame.data[:200]!r}")
        if not isinstance(data, dict):
            _fail(where, f"data is not a JSON object: {frame.data[:200]!r}")
        if frame.event == "message":
            _fail(where, "the event is unnamed (the Anthropic SDKs skip unnamed events)")
        if frame.event != data.get("type"):
            _fail(where, f"event name {frame.event!r} != data type {data.get('type')!r}")
        events.append(data)
    return events


def check_messages_sse(raw: bytes) -> Checked:
    """``parse_messages_sse`` then ``check_messages_stream``."""
    return check_messages_stream(parse_messages_sse(raw))
