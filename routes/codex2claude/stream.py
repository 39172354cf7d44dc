"""OpenAI Responses SSE -> Anthropic Messages SSE, sans-IO.

Theory of operation. One ``MessagesStream`` per upstream stream; ``phase`` is the whole state
machine, ``open_block`` the one content block being streamed (Anthropic streams blocks one at
a time, indexed by their position in ``content``):

=============  ===========================================  =================================
phase          on                                           goes to
=============  ===========================================  =================================
``idle``       any event / heartbeat: emits                 ``open`` (then handles the event)
               ``message_start``
``open``       output items: blocks are started, streamed   ``open``
               and stopped in upstream order
``open``       ``response.completed`` / ``.incomplete``:    ``done``
               closes the open block, emits
               ``message_delta`` (stop_reason, usage) and
               ``message_stop``
``open``       ``response.failed``, ``error``, ``close()``  ``done``
               before a terminal event, ``fail()``: emits
               ``event: error`` (never ``message_stop``)
``done``       nothing more is emitted; feeding raises
=============  ===========================================  =================================

Blocks follow the upstream items: each ``output_text`` (or ``refusal``) content part of a
``message`` item -> a ``text`` block; a ``reasoning`` item -> a ``thinking`` block whose text is
the reasoning summary (and raw reasoning text, where an upstream sends it) and whose
``signature_delta`` carries the item (reasoning.py) -- only when the client enabled thinking;
a ``function_call`` -> a ``tool_use`` block streaming its arguments as ``input_json_delta``.
``stop_reason``: ``tool_use`` when a tool was called, ``max_tokens`` for an incomplete
``max_output_tokens`` reply, ``refusal`` for a refusal part or ``content_filter``, else
``end_turn``. Heartbeats are ``ping`` events. Unknown event and item types (web search calls,
MCP items, ...) are skipped and counted (``skipped``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final, Literal, assert_never

import msgspec

from llmproxy.contract import ClientEvent, Usage
from llmproxy.dialects import anthropic as A
from llmproxy.dialects import responses as R
from llmproxy.errors import GatewayError, UpstreamProtocolError, UpstreamStatusError
from llmproxy.sse import SSEEvent
from routes.codex2claude.errors import classify, status_for_code
from routes.codex2claude.reasoning import seal_signature
from routes.codex2claude.request import ToolNames

__all__ = ["MessagesStream"]

_SUMMARY_SEPARATOR: Final = "\n\n"


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:24]}"


@dataclass(slots=True)
class _Block:
    """A content block being streamed (or, once stopped, kept for the non-streaming reply)."""

    kind: Literal["text", "thinking", "tool_use"]
    index: int
    #: The upstream item (and content part) it comes from.
    item_id: str
    part: int = 0
    text: list[str] = field(default_factory=list)
    #: tool_use
    call_id: str = ""
    name: str = ""
    streamed_args: bool = False
    #: thinking
    signature: str = ""
    summary_parts: int = 0


@dataclass(slots=True)
class _Item:
    """An upstream output item the translator follows."""

    kind: Literal["message", "reasoning", "function_call", "hidden"]
    #: Blocks started for it, by content part (message) or 0 (reasoning, function_call).
    blocks: dict[int, _Block] = field(default_factory=dict)


class MessagesStream:
    """Translate one upstream stream. ``tools`` maps function names back; ``thinking`` says
    whether the client enabled thinking (reasoning items are shown only then)."""

    def __init__(
        self,
        *,
        model: str,
        upstream_model: str,
        tools: ToolNames,
        thinking: bool,
        ids: Callable[[str], str] = new_id,
    ) -> None:
        self.phase: Literal["idle", "open", "done"] = "idle"
        self._model = model
        self._upstream_model = upstream_model
        self._tools = tools
        self._thinking = thinking
        self._ids = ids
        self.message_id: Final = ids("msg")
        self._items: dict[str, _Item] = {}
        self._blocks: list[_Block] = []
        self.open_block: _Block | None = None
        self._refused = False
        self._usage: R.UsageIn | None = None
        self.stop_reason: str | None = None
        self._error: GatewayError | None = None
        self._skipped = 0
        self.final: A.MessageOut | None = None

    def __repr__(self) -> str:
        ob = self.open_block
        return (
            f"MessagesStream(phase={self.phase!r}, blocks={len(self._blocks)}, "
            f"open_block={None if ob is None else (ob.index, ob.kind)}, items={len(self._items)}, "
            f"stop_reason={self.stop_reason!r}, skipped={self._skipped})"
        )

    # -- the StreamTranslator protocol ----------------------------------------------------------

    @property
    def done(self) -> bool:
        return self.phase == "done"

    @property
    def error(self) -> GatewayError | None:
        return self._error

    @property
    def skipped(self) -> int:
        return self._skipped

    @property
    def incomplete(self) -> bool:
        return self.done and self.error is None and self.stop_reason == "max_tokens"

    @property
    def usage(self) -> Usage | None:
        u = self._usage
        if u is None:
            return None
        cached, written = _cache_counts(u)
        return Usage(
            input=max(0, u.input_tokens - cached - written),
            output=u.output_tokens,
            cache_read=cached,
            cache_write=written,
            reasoning=int((u.output_tokens_details or {}).get("reasoning_tokens") or 0),
        )

    def feed(self, event: SSEEvent) -> list[ClientEvent]:
        if self.phase == "done":
            raise RuntimeError("MessagesStream.feed() after the terminal event")
        name = event.event
        if name not in R.EVENT_TYPES_IN:
            # Responses names every event; a nameless one says its type in the payload.
            name = _peek_type(event.data) or name
            if name not in R.EVENT_TYPES_IN:
                self._skipped += 1
                return []
        try:
            ev = R.decode_event_in(event.data)
        except (msgspec.DecodeError, msgspec.ValidationError) as e:
            return self.fail(UpstreamProtocolError(f"unreadable upstream {name} event: {e}"))
        out: list[ClientEvent] = []
        self._open(out)
        match ev:
            case R.CreatedIn() | R.QueuedIn() | R.InProgressIn():
                pass
            case R.ItemAddedIn():
                self._on_item_added(ev.item, out)
            case R.PartAddedIn():
                self._on_part_added(ev, out)
            case R.TextDeltaIn():
                self._text(ev.item_id, ev.content_index, ev.delta, out)
            case R.RefusalDeltaIn():
                self._refused = True
                self._text(ev.item_id, ev.content_index, ev.delta, out)
            case R.TextDoneIn():
                self._text_done(ev.item_id, ev.content_index, ev.text, out)
            case R.RefusalDoneIn():
                self._refused = True
                self._text_done(ev.item_id, ev.content_index, ev.refusal, out)
            case R.PartDoneIn():
                self._stop_part(ev.item_id, ev.content_index, out)
            case R.SummaryPartAddedIn():
                self._on_summary_part(ev.item_id, out)
            case R.SummaryTextDeltaIn() | R.ReasoningTextDeltaIn():
                self._thinking_text(ev.item_id, ev.delta, out)
            case R.SummaryTextDoneIn() | R.SummaryPartDoneIn() | R.ReasoningTextDoneIn():
                pass  # the deltas carried the text
            case R.ArgumentsDoneIn():
                self._arguments_done(ev.item_id, ev.arguments, out)
            case R.ArgumentsDeltaIn():
                self._arguments(ev.item_id, ev.delta, out)
            case R.ItemDoneIn():
                self._on_item_done(ev.item, out)
            case R.CompletedIn():
                self._finish(ev.response, None, out)
            case R.IncompleteIn():
                reason = ev.response.incomplete_details
                self._finish(ev.response, reason.reason if reason else None, out)
            case R.FailedIn():
                err = ev.response.error or R.ErrorIn()
                if ev.response.usage is not None:
                    self._usage = ev.response.usage
                self._fail(_status_error(err.code, err.message), out)
            case R.ErrorEventIn():
                self._fail(_status_error(ev.code, ev.message), out)
            case _:
                assert_never(ev)
        return out

    def heartbeat(self) -> list[ClientEvent]:
        if self.phase == "done":
            return []
        out: list[ClientEvent] = []
        self._open(out)
        self._emit(out, A.PingOut())
        return out

    def close(self) -> list[ClientEvent]:
        if self.phase == "done":
            return []
        return self.fail(
            UpstreamProtocolError("the upstream stream ended before its terminal event")
        )

    def fail(self, error: GatewayError) -> list[ClientEvent]:
        if self.phase == "done":
            return []
        out: list[ClientEvent] = []
        self._open(out)
        self._fail(error, out)
        return out

    # -- internals -----------------------------------------------------------------------------

    def _emit(self, out: list[ClientEvent], ev: A.EventOut) -> None:
        out.append(ClientEvent(ev.__struct_config__.tag, A.encode_out(ev)))  # type: ignore[arg-type]

    def _open(self, out: list[ClientEvent]) -> None:
        if self.phase != "idle":
            return
        self.phase = "open"
        start = A.MessageOut(
            id=self.message_id,
            role="assistant",
            model=self._model,
            content=[],
            stop_reason=None,
            stop_sequence=None,
            usage=A.UsageOut(input_tokens=0, output_tokens=0),
        )
        self._emit(out, A.MessageStartOut(start))

    def _item(self, item_id: str, kind: Literal["message", "reasoning", "function_call"]) -> _Item:
        """The followed item ``item_id``; an upstream that skipped ``output_item.added`` gets
        one on first use."""
        item = self._items.get(item_id)
        if item is None:
            item = self._items[item_id] = _Item(kind)
        return item

    def _start(self, block: _Block, start: A.ContentBlockOut, out: list[ClientEvent]) -> None:
        self._stop_open(out)
        if self.done:
            return
        self._blocks.append(block)
        self.open_block = block
        self._emit(out, A.BlockStartOut(block.index, start))

    def _stop_open(self, out: list[ClientEvent], *, cut: bool = False) -> None:
        """Stop the open block. A tool call whose streamed input is not a JSON object fails the
        stream instead (a client must never run a mangled call), unless ``cut``: an output
        limit stopped it mid-input, which Anthropic presents as it is, with ``max_tokens``."""
        block = self.open_block
        if block is None:
            return
        if block.kind == "tool_use" and not cut and not _is_object("".join(block.text)):
            self._fail(
                UpstreamProtocolError(
                    f"the upstream's arguments for tool call {block.call_id!r} are not a JSON "
                    "object"
                ),
                out,
            )
            return
        if block.kind == "thinking":
            self._emit(
                out, A.BlockDeltaOut(block.index, A.SignatureDeltaOut(signature=block.signature))
            )
        self.open_block = None
        self._emit(out, A.BlockStopOut(block.index))

    def _on_item_added(self, raw: dict[str, Any], out: list[ClientEvent]) -> None:
        item = R.item_in(raw)
        if item is None or not item.id:
            self._skipped += 1
            if item is None:
                self._items[str(raw.get("id") or "")] = _Item("hidden")
            return
        match item:
            case R.MessageItemIn():
                self._item(item.id, "message")
            case R.ReasoningItemIn():
                if not self._thinking:
                    self._items[item.id] = _Item("hidden")
                    return
                followed = self._item(item.id, "reasoning")
                self._start_thinking(item.id, followed, out)
            case R.FunctionCallItemIn():
                followed = self._item(item.id, "function_call")
                self._start_tool_use(item, followed, out)
            case R.CustomToolCallItemIn():
                # This route offers only function tools; a freeform call cannot be presented.
                self._items[item.id] = _Item("hidden")
                self._skipped += 1

    def _start_thinking(self, item_id: str, followed: _Item, out: list[ClientEvent]) -> None:
        block = _Block("thinking", len(self._blocks), item_id)
        followed.blocks[0] = block
        self._start(block, A.ThinkingBlockOut(thinking="", signature=""), out)

    def _start_tool_use(
        self, item: R.FunctionCallItemIn, followed: _Item, out: list[ClientEvent]
    ) -> None:
        block = _Block(
            "tool_use",
            len(self._blocks),
            item.id,
            call_id=item.call_id or self._ids("toolu"),
            name=self._tools.client(item.name),
        )
        followed.blocks[0] = block
        self._start(block, A.ToolUseBlockOut(id=block.call_id, name=block.name, input={}), out)

    def _on_part_added(self, ev: R.PartAddedIn, out: list[ClientEvent]) -> None:
        item = self._items.get(ev.item_id)
        if item is not None and item.kind != "message":
            self._skipped += 1
            return
        if ev.part.get("type") == "refusal":
            self._refused = True
        self._text_block(ev.item_id, ev.content_index, out)

    def _text_block(self, item_id: str, part: int, out: list[ClientEvent]) -> _Block | None:
        item = self._item(item_id, "message")
        if item.kind != "message":
            return None
        block = item.blocks.get(part)
        if block is None:
            block = item.blocks[part] = _Block("text", len(self._blocks), item_id, part=part)
            self._start(block, A.TextBlockOut(text=""), out)
        return None if self.done else block

    def _text(self, item_id: str, part: int, delta: str, out: list[ClientEvent]) -> None:
        block = self._text_block(item_id, part, out)
        if block is None or not delta:
            return
        if block is not self.open_block:
            self._skipped += 1  # a delta for a block already stopped: cannot be presented
            return
        block.text.append(delta)
        self._emit(out, A.BlockDeltaOut(block.index, A.TextDeltaOut(text=delta)))

    def _text_done(self, item_id: str, part: int, text: str, out: list[ClientEvent]) -> None:
        """The part's final text: whatever the deltas did not carry is sent now (an upstream
        that sends only ``.done`` events still yields the whole text)."""
        block = self._text_block(item_id, part, out)
        if block is None:
            return
        streamed = "".join(block.text)
        if text.startswith(streamed) and len(text) > len(streamed):
            self._text(item_id, part, text[len(streamed) :], out)

    def _stop_part(self, item_id: str, part: int, out: list[ClientEvent]) -> None:
        item = self._items.get(item_id)
        block = item.blocks.get(part) if item is not None else None
        if block is not None and block is self.open_block:
            self._stop_open(out)

    def _on_summary_part(self, item_id: str, out: list[ClientEvent]) -> None:
        block = self._thinking_block(item_id)
        if block is None:
            return
        block.summary_parts += 1
        if block.summary_parts > 1 and block.text:
            self._thinking_text(item_id, _SUMMARY_SEPARATOR, out)

    def _thinking_block(self, item_id: str) -> _Block | None:
        item = self._items.get(item_id)
        if item is None or item.kind != "reasoning":
            return None
        return item.blocks.get(0)

    def _thinking_text(self, item_id: str, delta: str, out: list[ClientEvent]) -> None:
        block = self._thinking_block(item_id)
        if block is None or not delta or block is not self.open_block:
            return
        block.text.append(delta)
        self._emit(out, A.BlockDeltaOut(block.index, A.ThinkingDeltaOut(thinking=delta)))

    def _arguments(self, item_id: str, delta: str, out: list[ClientEvent]) -> None:
        item = self._items.get(item_id)
        block = item.blocks.get(0) if item is not None and item.kind == "function_call" else None
        if block is None or not delta or block is not self.open_block:
            return
        block.text.append(delta)
        block.streamed_args = True
        self._emit(out, A.BlockDeltaOut(block.index, A.InputJsonDeltaOut(partial_json=delta)))

    def _arguments_done(self, item_id: str, arguments: str, out: list[ClientEvent]) -> None:
        item = self._items.get(item_id)
        block = item.blocks.get(0) if item is not None and item.kind == "function_call" else None
        if block is not None and not block.streamed_args:
            self._arguments(item_id, arguments, out)

    def _on_item_done(self, raw: dict[str, Any], out: list[ClientEvent]) -> None:
        item = R.item_in(raw)
        if item is None or not item.id:
            return  # skipped (and counted) when it was added
        followed = self._items.get(item.id)
        if followed is not None and followed.kind == "hidden":
            return
        match item:
            case R.MessageItemIn():
                # Parts an upstream never streamed arrive whole with the item.
                for k, part in enumerate(item.content):
                    text = part.get("text") if part.get("type") == "output_text" else None
                    if part.get("type") == "refusal":
                        self._refused = True
                        text = part.get("refusal")
                    if isinstance(text, str):
                        self._text_done(item.id, k, text, out)
                    self._stop_part(item.id, k, out)
            case R.ReasoningItemIn():
                if not self._thinking:
                    return
                if followed is None:
                    followed = self._item(item.id, "reasoning")
                    self._start_thinking(item.id, followed, out)
                block = followed.blocks[0]
                if not block.text:
                    summary = [str(s.get("text") or "") for s in item.summary]
                    self._thinking_text(
                        item.id, _SUMMARY_SEPARATOR.join(s for s in summary if s), out
                    )
                block.signature = seal_signature(
                    self._upstream_model, item.id, item.encrypted_content
                )
                if block is self.open_block:
                    self._stop_open(out)
            case R.FunctionCallItemIn():
                if followed is None:
                    followed = self._item(item.id, "function_call")
                    self._start_tool_use(item, followed, out)
                block = followed.blocks[0]
                if not block.streamed_args and item.arguments:
                    self._arguments(item.id, item.arguments, out)
                if block is self.open_block:
                    self._stop_open(out)
            case R.CustomToolCallItemIn():
                pass

    # -- endings ---------------------------------------------------------------------------------

    def _finish(
        self, response: R.ResponseIn, incomplete: str | None, out: list[ClientEvent]
    ) -> None:
        # Items the upstream never announced (a server that sends only the final Response)
        # are presented now, whole, in their order.
        for raw in response.output:
            if str(raw.get("id") or "") not in self._items:
                self._on_item_added(raw, out)
                self._on_item_done(raw, out)
                if self.done:
                    return
        self._stop_open(out, cut=incomplete is not None)
        if self.done:
            return
        if response.usage is not None:
            self._usage = response.usage
        if incomplete == "content_filter" or self._refused:
            reason = "refusal"
        elif incomplete is not None:
            reason = "max_tokens"  # max_output_tokens, and anything else that cut the reply
        elif any(b.kind == "tool_use" for b in self._blocks):
            reason = "tool_use"
        else:
            reason = "end_turn"
        self.stop_reason = reason
        usage = self._usage_out()
        self._emit(out, A.MessageDeltaOut(A.StopOut(stop_reason=reason), usage))
        self._emit(out, A.MessageStopOut())
        self.final = A.MessageOut(
            id=self.message_id,
            role="assistant",
            model=self._model,
            content=[_final_block(b) for b in self._blocks],
            stop_reason=reason,
            stop_sequence=None,
            usage=usage,
        )
        self.phase = "done"

    def _usage_out(self) -> A.UsageOut:
        u = self._usage
        if u is None:
            return A.UsageOut(input_tokens=0, output_tokens=0)
        cached, written = _cache_counts(u)
        reasoning = int((u.output_tokens_details or {}).get("reasoning_tokens") or 0)
        return A.UsageOut(
            input_tokens=max(0, u.input_tokens - cached - written),
            output_tokens=u.output_tokens,
            cache_creation_input_tokens=written,
            cache_read_input_tokens=cached,
            output_tokens_details=A.OutputTokensDetailsOut(thinking_tokens=reasoning),
        )

    def _fail(self, error: GatewayError, out: list[ClientEvent]) -> None:
        self._error = error
        # A block cut mid-way is left unstopped: the error event ends the message, and a
        # client must not act on a half-streamed tool call.
        self.open_block = None
        _, etype, message = classify(error)
        self._emit(out, A.ErrorEventOut(A.ErrorDetail(type=etype, message=message)))
        self.phase = "done"


def _cache_counts(u: R.UsageIn) -> tuple[int, int]:
    details = u.input_tokens_details or {}
    return (
        int(details.get("cached_tokens") or 0),
        int(details.get("cache_write_tokens") or 0),
    )


def _status_error(code: str | None, message: str | None) -> UpstreamStatusError:
    return UpstreamStatusError(
        message or "the upstream reported an error",
        upstream_status=status_for_code(code),
        error_type=code,
        in_stream=True,
    )


def _final_block(block: _Block) -> A.ContentBlockOut:
    text = "".join(block.text)
    if block.kind == "text":
        return A.TextBlockOut(text=text)
    if block.kind == "thinking":
        return A.ThinkingBlockOut(thinking=text, signature=block.signature)
    return A.ToolUseBlockOut(id=block.call_id, name=block.name, input=_json_object(text))


def _is_object(text: str) -> bool:
    """Empty (a call without input) or a JSON object."""
    if not text:
        return True
    try:
        return isinstance(msgspec.json.decode(text), dict)
    except msgspec.DecodeError:
        return False


def _json_object(text: str) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = msgspec.json.decode(text)
    except msgspec.DecodeError:
        return {}  # arguments cut off (max tokens): nothing usable
    return value if isinstance(value, dict) else {}


def _peek_type(data: str) -> str | None:
    try:
        value = msgspec.json.decode(data)
    except msgspec.DecodeError:
        return None
    if isinstance(value, dict):
        t = value.get("type")
        return t if isinstance(t, str) else None
    return None
