"""Anthropic Messages SSE -> OpenAI Responses SSE, sans-IO.

Theory of operation. One ``ResponsesStream`` per upstream stream; ``phase`` is the whole state
machine, the rest is bookkeeping for the open items:

=============  ==========================================  =================================
phase          on                                          goes to
=============  ==========================================  =================================
``idle``       any event / heartbeat: emits                ``open`` (then handles the event)
               ``response.created`` + ``in_progress``
``open``       content blocks: items are added, streamed   ``open``
               and finished in upstream order
``open``       ``message_stop``: closes the open message,  ``done``
               emits completed / incomplete
``open``       ``error`` event, ``close()`` before         ``done``
               ``message_stop``, ``fail()``: emits failed
``done``       nothing more is emitted; feeding raises
=============  ==========================================  =================================

Output items follow the upstream blocks: ``thinking``/``redacted_thinking`` -> one
``reasoning`` item each (its thinking sealed in ``encrypted_content``); consecutive ``text``
blocks -> one ``message`` item with one ``output_text`` part per block; ``tool_use`` ->
``function_call`` or ``custom_tool_call`` by the request's tool map. ``output_index`` is the
item's position in ``response.output``; ``sequence_number`` counts every event from 0.
Unknown event, block and delta types are skipped and counted (``skipped``).
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import msgspec

from llmproxy.contract import ClientEvent, Usage
from llmproxy.dialects import anthropic as A
from llmproxy.dialects import responses as R
from llmproxy.errors import GatewayError, UpstreamProtocolError, UpstreamStatusError
from llmproxy.sse import SSEEvent
from routes.claude2codex.errors import failure_code
from routes.claude2codex.reasoning import Envelope
from routes.claude2codex.tools import ROOT_NAMESPACE, ToolMap

__all__ = ["ResponseTemplate", "ResponsesStream"]

_encode: Final = msgspec.json.Encoder().encode
_EMPTY: Final[list[Any]] = []


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


@dataclass(slots=True)
class ResponseTemplate:
    """The request-side fields every Response snapshot of this stream carries."""

    model: str
    created_at: int
    echo: Any  # request.Echo; typed loosely to keep this module free of request parsing
    max_output_tokens: int | None = None
    parallel_tool_calls: bool = True
    temperature: float | None = None
    top_p: float | None = None
    prompt_cache_key: str | None = None
    safety_identifier: str | None = None
    user: str | None = None
    store: bool = False
    truncation: str = "disabled"
    service_tier: str | None = None


@dataclass(slots=True)
class _Block:
    kind: Literal["message", "reasoning", "redacted", "function", "custom", "skip"]
    output_index: int
    item_id: str
    content_index: int = 0
    parts: list[str] = field(default_factory=list)
    signature: str = ""
    data: str = ""
    call_id: str = ""
    name: str = ""
    namespace: str | None = None


@dataclass(slots=True)
class _Message:
    """The open assistant message item: consecutive text blocks share it."""

    item_id: str
    output_index: int
    texts: list[str] = field(default_factory=list)


class ResponsesStream:
    """Translate one upstream stream. Build with the request's tool map and template."""

    def __init__(
        self,
        template: ResponseTemplate,
        tools: ToolMap,
        envelope: Envelope,
        upstream_model: str,
        *,
        summaries: bool,
        ids: Callable[[str], str] = new_id,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.phase: Literal["idle", "open", "done"] = "idle"
        self._t = template
        self._tools = tools
        self._envelope = envelope
        self._model = upstream_model
        self._summaries = summaries
        self._ids = ids
        self._clock = clock
        self._seq = 0
        self.response_id: Final = ids("resp")
        self._items: dict[int, R.OutputItem] = {}
        self._blocks: dict[int, _Block] = {}
        self._message: _Message | None = None
        self._next_index = 0
        self._usage = A.StreamUsage()
        self.stop_reason: str | None = None
        self.stop_details: dict[str, Any] | None = None
        self._error: GatewayError | None = None
        self._skipped = 0
        self.final: R.Response | None = None

    def __repr__(self) -> str:
        return (
            f"ResponsesStream(phase={self.phase!r}, seq={self._seq}, items={len(self.output)}, "
            f"open_blocks={sorted(self._blocks)}, message_open={self._message is not None}, "
            f"stop_reason={self.stop_reason!r}, skipped={self._skipped})"
        )

    @property
    def output(self) -> list[R.OutputItem]:
        """Finished items in ``output_index`` order."""
        return [self._items[i] for i in sorted(self._items)]

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
    def usage(self) -> Usage | None:
        u = self._usage
        if u.input_tokens is None and u.output_tokens is None:
            return None
        details = u.output_tokens_details or {}
        return Usage(
            input=u.input_tokens or 0,
            output=u.output_tokens or 0,
            cache_read=u.cache_read_input_tokens or 0,
            cache_write=u.cache_creation_input_tokens or 0,
            reasoning=int(details.get("thinking_tokens") or 0),
        )

    def feed(self, event: SSEEvent) -> list[ClientEvent]:
        if self.phase == "done":
            raise RuntimeError("ResponsesStream.feed() after the terminal event")
        name = event.event
        if name == "message" or name not in A.EVENT_TYPES:
            # Anthropic always names its events; fall back to the payload's type.
            name = _peek_type(event.data) or name
            if name not in A.EVENT_TYPES:
                self._skipped += 1
                return []
        try:
            ev = A.decode_event(event.data)
        except (msgspec.DecodeError, msgspec.ValidationError) as e:
            if name == "content_block_delta":
                self._skipped += 1  # a delta type this version does not know
                return []
            return self.fail(UpstreamProtocolError(f"unreadable upstream {name} event: {e}"))
        out: list[ClientEvent] = []
        self._open(out)
        match ev:
            case A.Delta():
                self._on_delta(ev, out)
            case A.BlockStart():
                self._on_block_start(ev, out)
            case A.BlockStop():
                self._on_block_stop(ev, out)
            case A.MessageStart():
                if ev.message.usage is not None:
                    self._merge_usage(ev.message.usage)
            case A.MessageDelta():
                self.stop_reason = ev.delta.stop_reason or self.stop_reason
                self.stop_details = ev.delta.stop_details or self.stop_details
                if ev.usage is not None:
                    self._merge_usage(ev.usage)
            case A.MessageStop():
                self._finish(out)
            case A.Ping():
                pass
            case A.ErrorEvent():
                err = UpstreamStatusError(
                    ev.error.message or "the upstream reported an error",
                    upstream_status=A.STATUS_BY_ERROR_TYPE.get(ev.error.type, 500),
                    error_type=ev.error.type,
                    in_stream=True,
                )
                self._fail(err, out)
        return out

    def heartbeat(self) -> list[ClientEvent]:
        if self.phase == "done":
            return []
        out: list[ClientEvent] = []
        if self.phase == "idle":
            self._open(out)
        else:
            self._emit(out, R.ResponseInProgress(self._next_seq(), self._snapshot("in_progress")))
        return out

    def close(self) -> list[ClientEvent]:
        if self.phase == "done":
            return []
        return self.fail(
            UpstreamProtocolError("the upstream stream ended before its message_stop event")
        )

    def fail(self, error: GatewayError) -> list[ClientEvent]:
        if self.phase == "done":
            return []
        out: list[ClientEvent] = []
        self._open(out)
        self._fail(error, out)
        return out

    # -- internals -----------------------------------------------------------------------------

    def _next_seq(self) -> int:
        s = self._seq
        self._seq = s + 1
        return s

    def _emit(self, out: list[ClientEvent], ev: R.StreamEvent) -> None:
        out.append(ClientEvent(ev.__struct_config__.tag, _encode(ev)))  # type: ignore[arg-type]

    def _open(self, out: list[ClientEvent]) -> None:
        if self.phase != "idle":
            return
        self.phase = "open"
        snap = self._snapshot("in_progress")
        self._emit(out, R.ResponseCreated(self._next_seq(), snap))
        self._emit(out, R.ResponseInProgress(self._next_seq(), snap))

    def _merge_usage(self, u: A.StreamUsage) -> None:
        # message_delta usage is cumulative and overrides message_start where present.
        mine = self._usage
        for f in A.StreamUsage.__struct_fields__:
            value = getattr(u, f)
            if value is not None:
                setattr(mine, f, value)

    def _response_usage(self) -> R.ResponseUsage:
        u = self._usage
        cache_read = u.cache_read_input_tokens or 0
        cache_write = u.cache_creation_input_tokens or 0
        input_tokens = (u.input_tokens or 0) + cache_read + cache_write
        output_tokens = u.output_tokens or 0
        details = u.output_tokens_details or {}
        reasoning = int(details.get("thinking_tokens") or 0)
        return R.ResponseUsage(
            input_tokens=input_tokens,
            input_tokens_details=R.InputTokensDetails(
                cached_tokens=cache_read, cache_write_tokens=cache_write
            ),
            output_tokens=output_tokens,
            output_tokens_details=R.OutputTokensDetails(reasoning_tokens=reasoning),
            total_tokens=input_tokens + output_tokens,
        )

    def _snapshot(self, status: str, **extra: Any) -> R.Response:
        t = self._t
        e = t.echo
        return R.Response(
            id=self.response_id,
            created_at=t.created_at,
            status=status,
            model=t.model,
            output=self.output if status != "in_progress" else [],
            instructions=e.instructions,
            tools=e.tools,
            tool_choice=e.tool_choice,
            reasoning=e.reasoning,
            text=e.text,
            metadata=e.metadata,
            max_output_tokens=t.max_output_tokens,
            parallel_tool_calls=t.parallel_tool_calls,
            temperature=t.temperature,
            top_p=t.top_p,
            prompt_cache_key=t.prompt_cache_key,
            safety_identifier=t.safety_identifier,
            user=t.user,
            store=t.store,
            truncation=t.truncation,
            service_tier=t.service_tier,
            **extra,
        )

    # -- blocks ----------------------------------------------------------------------------------

    def _new_item(self, prefix: str) -> tuple[int, str]:
        idx = self._next_index
        self._next_index = idx + 1
        return idx, self._ids(prefix)

    def _close_message(self, out: list[ClientEvent], status: R.ItemStatus = "completed") -> None:
        msg = self._message
        if msg is None:
            return
        self._message = None
        item = R.MessageItem(
            id=msg.item_id,
            status=status,
            role="assistant",
            content=[R.OutputText(text=t, annotations=[], logprobs=[]) for t in msg.texts],
        )
        self._items[msg.output_index] = item
        self._emit(out, R.OutputItemDone(self._next_seq(), msg.output_index, item))

    def _on_block_start(self, ev: A.BlockStart, out: list[ClientEvent]) -> None:
        # Anthropic streams one block at a time. A block that starts while others are still
        # open (a broken upstream) first closes them, so items never interleave.
        for index in sorted(self._blocks):
            self._on_block_stop(A.BlockStop(index=index), out)
        cb = ev.content_block
        btype = cb.get("type")
        if btype == "text":
            msg = self._message
            if msg is None:
                idx, iid = self._new_item("msg")
                msg = self._message = _Message(iid, idx)
                self._emit(
                    out,
                    R.OutputItemAdded(
                        self._next_seq(),
                        idx,
                        R.MessageItem(id=iid, status="in_progress", role="assistant", content=[]),
                    ),
                )
            k = len(msg.texts)
            msg.texts.append("")
            block = _Block("message", msg.output_index, msg.item_id, content_index=k)
            initial = cb.get("text") or ""
            self._blocks[ev.index] = block
            self._emit(
                out,
                R.ContentPartAdded(
                    self._next_seq(),
                    msg.item_id,
                    msg.output_index,
                    k,
                    R.OutputText(text="", annotations=[], logprobs=[]),
                ),
            )
            if initial:
                self._text(block, initial, out)
            return
        self._close_message(out)
        if btype in ("thinking", "redacted_thinking"):
            idx, iid = self._new_item("rs")
            kind: Literal["reasoning", "redacted"] = (
                "reasoning" if btype == "thinking" else "redacted"
            )
            block = _Block(kind, idx, iid)
            if kind == "redacted":
                block.data = str(cb.get("data") or "")
            else:
                block.signature = str(cb.get("signature") or "")
            self._blocks[ev.index] = block
            self._emit(
                out,
                R.OutputItemAdded(
                    self._next_seq(),
                    idx,
                    R.ReasoningItem(id=iid, summary=[], status="in_progress"),
                ),
            )
            if kind == "reasoning" and self._summaries:
                self._emit(
                    out,
                    R.ReasoningSummaryPartAdded(
                        self._next_seq(), iid, idx, 0, R.SummaryText(text="")
                    ),
                )
            initial = cb.get("thinking")
            if kind == "reasoning" and isinstance(initial, str) and initial:
                self._thinking(block, initial, out)
        elif btype == "tool_use":
            spec = self._tools.lookup(str(cb.get("name") or ""))
            call_id = str(cb.get("id") or self._ids("call"))
            ns = spec.namespace if spec.namespace != ROOT_NAMESPACE else None
            if spec.kind == "custom":
                idx, iid = self._new_item("ctc")
                block = _Block("custom", idx, iid, call_id=call_id, name=spec.name, namespace=ns)
                added: R.OutputItem = R.CustomToolCallItem(
                    id=iid,
                    call_id=call_id,
                    name=spec.name,
                    input="",
                    status="in_progress",
                    namespace=ns,
                )
            else:
                idx, iid = self._new_item("fc")
                block = _Block("function", idx, iid, call_id=call_id, name=spec.name, namespace=ns)
                added = R.FunctionCallItem(
                    id=iid,
                    call_id=call_id,
                    name=spec.name,
                    arguments="",
                    status="in_progress",
                    namespace=ns,
                )
            initial_input = cb.get("input")
            if isinstance(initial_input, dict) and initial_input:
                block.parts.append(_encode(initial_input).decode())
            self._blocks[ev.index] = block
            self._emit(out, R.OutputItemAdded(self._next_seq(), idx, added))
        else:
            # Server tools, containers, newer block types: not presented by this route.
            self._blocks[ev.index] = _Block("skip", -1, "")
            self._skipped += 1

    def _text(self, block: _Block, text: str, out: list[ClientEvent]) -> None:
        msg = self._message
        assert msg is not None
        assert msg.item_id == block.item_id
        msg.texts[block.content_index] += text
        self._emit(
            out,
            R.OutputTextDelta(
                self._next_seq(),
                block.item_id,
                block.output_index,
                block.content_index,
                text,
                _EMPTY,
            ),
        )

    def _thinking(self, block: _Block, text: str, out: list[ClientEvent]) -> None:
        block.parts.append(text)
        if self._summaries:
            self._emit(
                out,
                R.ReasoningSummaryTextDelta(
                    self._next_seq(), block.item_id, block.output_index, 0, text
                ),
            )

    def _on_delta(self, ev: A.Delta, out: list[ClientEvent]) -> None:
        block = self._blocks.get(ev.index)
        d = ev.delta
        dtype = d.get("type")
        if block is None:
            self._skipped += 1
            return
        if block.kind == "skip":
            return
        if dtype == "text_delta" and block.kind == "message":
            text = d.get("text")
            if isinstance(text, str) and text:
                self._text(block, text, out)
        elif dtype == "input_json_delta" and block.kind in ("function", "custom"):
            partial = d.get("partial_json")
            if isinstance(partial, str) and partial:
                block.parts.append(partial)
                if block.kind == "function":
                    self._emit(
                        out,
                        R.FunctionCallArgumentsDelta(
                            self._next_seq(), block.item_id, block.output_index, partial
                        ),
                    )
        elif dtype == "thinking_delta" and block.kind == "reasoning":
            text = d.get("thinking")
            if isinstance(text, str) and text:
                self._thinking(block, text, out)
        elif dtype == "signature_delta" and block.kind == "reasoning":
            block.signature = str(d.get("signature") or "")
        else:
            self._skipped += 1  # citations (not presented by this route), unknown deltas

    def _on_block_stop(self, ev: A.BlockStop, out: list[ClientEvent]) -> None:
        block = self._blocks.pop(ev.index, None)
        if block is None or block.kind == "skip":
            return
        seq = self._next_seq
        if block.kind == "message":
            msg = self._message
            if msg is None or msg.item_id != block.item_id:
                return  # its message item was already closed
            text = msg.texts[block.content_index]
            self._emit(
                out,
                R.OutputTextDone(
                    seq(), block.item_id, block.output_index, block.content_index, text, _EMPTY
                ),
            )
            self._emit(
                out,
                R.ContentPartDone(
                    seq(),
                    block.item_id,
                    block.output_index,
                    block.content_index,
                    R.OutputText(text=text, annotations=[], logprobs=[]),
                ),
            )
            return  # the message item stays open for a following text block
        item: R.OutputItem
        if block.kind in ("reasoning", "redacted"):
            thinking = "".join(block.parts)
            if block.kind == "reasoning":
                sealed = {"type": "thinking", "thinking": thinking, "signature": block.signature}
            else:
                sealed = {"type": "redacted_thinking", "data": block.data}
            summary: list[R.SummaryText] = []
            if block.kind == "reasoning" and self._summaries:
                self._emit(
                    out,
                    R.ReasoningSummaryTextDone(
                        seq(), block.item_id, block.output_index, 0, thinking
                    ),
                )
                part = R.SummaryText(text=thinking)
                self._emit(
                    out,
                    R.ReasoningSummaryPartDone(seq(), block.item_id, block.output_index, 0, part),
                )
                summary = [part]
            item = R.ReasoningItem(
                id=block.item_id,
                summary=summary,
                status="completed",
                encrypted_content=self._envelope.seal(self._model, [sealed]),
            )
        elif block.kind == "function":
            arguments = "".join(block.parts) or "{}"
            status: R.ItemStatus = "completed" if _is_json_object(arguments) else "incomplete"
            self._emit(
                out,
                R.FunctionCallArgumentsDone(
                    seq(), block.item_id, block.output_index, block.name, arguments
                ),
            )
            item = R.FunctionCallItem(
                id=block.item_id,
                call_id=block.call_id,
                name=block.name,
                arguments=arguments,
                status=status,
                namespace=block.namespace,
            )
        else:  # custom
            raw = "".join(block.parts) or "{}"
            value = _custom_input(raw)
            status = "completed" if value is not None else "incomplete"
            text = value if value is not None else _partial_custom_input(raw)
            if text:
                self._emit(
                    out,
                    R.CustomToolCallInputDelta(seq(), block.item_id, block.output_index, text),
                )
            self._emit(
                out, R.CustomToolCallInputDone(seq(), block.item_id, block.output_index, text)
            )
            item = R.CustomToolCallItem(
                id=block.item_id,
                call_id=block.call_id,
                name=block.name,
                input=text,
                status=status,
                namespace=block.namespace,
            )
        self._items[block.output_index] = item
        self._emit(out, R.OutputItemDone(seq(), block.output_index, item))

    # -- endings ---------------------------------------------------------------------------------

    def _finish(self, out: list[ClientEvent]) -> None:
        reason = self.stop_reason
        incomplete: str | None = None
        if reason in ("max_tokens", "model_context_window_exceeded"):
            incomplete = "max_output_tokens"
        # Blocks the upstream never stopped are closed as they are.
        for index in sorted(self._blocks):
            self._on_block_stop(A.BlockStop(index=index), out)
        self._close_message(out, "incomplete" if incomplete else "completed")
        if reason == "refusal":
            # The model declined. Codex shows only output_text of completed responses (a
            # refusal part or an incomplete response would be an error it retries), so the
            # refusal becomes a visible message and the response completes.
            details = self.stop_details or {}
            explanation = details.get("explanation")
            self._text_item(
                explanation
                if isinstance(explanation, str) and explanation
                else "The model declined to answer this request.",
                out,
            )
        now = int(self._clock())
        if incomplete is None:
            resp = self._snapshot("completed", usage=self._response_usage(), completed_at=now)
            self._emit(out, R.ResponseCompleted(self._next_seq(), resp))
        else:
            resp = self._snapshot(
                "incomplete",
                usage=self._response_usage(),
                incomplete_details=R.IncompleteDetails(reason=incomplete),
            )
            self._emit(out, R.ResponseIncomplete(self._next_seq(), resp))
        self.final = resp
        self.phase = "done"

    def _text_item(self, text: str, out: list[ClientEvent]) -> None:
        """A whole message item with one text part, with every event a streamed one has."""
        self._on_block_start(
            A.BlockStart(index=-1, content_block={"type": "text", "text": ""}), out
        )
        block = self._blocks[-1]
        self._text(block, text, out)
        self._on_block_stop(A.BlockStop(index=-1), out)
        self._close_message(out)

    def _fail(self, error: GatewayError, out: list[ClientEvent]) -> None:
        self._error = error
        for index in sorted(self._blocks):
            blk = self._blocks[index]
            if blk.kind in ("function", "custom"):
                continue  # never hand out a tool call whose input was cut off
            if blk.kind == "reasoning" and not blk.signature:
                continue  # unsigned thinking could never be sent back to the upstream
            self._on_block_stop(A.BlockStop(index=index), out)
        self._blocks.clear()
        self._close_message(out, "incomplete")
        code, message = failure_code(error)
        resp = self._snapshot(
            "failed",
            usage=self._response_usage() if self.usage is not None else None,
            error=R.ResponseError(code=code, message=message),
        )
        self._emit(out, R.ResponseFailed(self._next_seq(), resp))
        self.final = resp
        self.phase = "done"


def _peek_type(data: str) -> str | None:
    try:
        value = msgspec.json.decode(data)
    except msgspec.DecodeError:
        return None
    if isinstance(value, dict):
        t = value.get("type")
        return t if isinstance(t, str) else None
    return None


def _is_json_object(text: str) -> bool:
    try:
        return isinstance(msgspec.json.decode(text), dict)
    except msgspec.DecodeError:
        return False


def _custom_input(raw: str) -> str | None:
    try:
        value = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        return None
    if isinstance(value, dict):
        inner = value.get("input")
        if isinstance(inner, str):
            return inner
        if len(value) == 1:  # a model that named the single field differently
            only = next(iter(value.values()))
            if isinstance(only, str):
                return only
    return None


_PARTIAL_INPUT: Final = re.compile(r'^\s*\{\s*"input"\s*:\s*"')


def _partial_custom_input(raw: str) -> str:
    """The decodable prefix of a custom tool's ``input`` string cut off mid-JSON (max tokens):
    what the model wrote so far, never the JSON wrapper."""
    m = _PARTIAL_INPUT.match(raw)
    if m is None:
        return ""
    body = raw[m.end() :]
    for cut in range(len(body), max(len(body) - 8, -1), -1):
        try:
            value = msgspec.json.decode(('"' + body[:cut] + '"').encode())
        except msgspec.DecodeError:
            continue
        if isinstance(value, str):
            return value
    return ""
