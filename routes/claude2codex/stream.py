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

A ``pause_turn`` stop (a long server-tool turn that Anthropic paused) is not an ending when
the exchange gave a ``resume`` factory: the open items are finished, the translator stays
``open`` and ``continuation()`` hands the core the request that continues the turn (the
original request with this turn's content appended as an assistant message). The core sends
it and feeds the new upstream stream to the same translator, so the client sees one
uninterrupted response; usage adds up over the continued streams.

Output items follow the upstream blocks: ``thinking``/``redacted_thinking`` -> one
``reasoning`` item each (its thinking sealed in ``encrypted_content``); consecutive ``text``
blocks -> one ``message`` item with one ``output_text`` part per block, web-search citations
as ``url_citation`` annotations on the part (``response.output_text.annotation.added`` before
the part's ``output_text.done``); ``tool_use`` -> ``function_call``, ``custom_tool_call``,
``tool_search_call`` or ``local_shell_call`` by the request's tool map; ``server_tool_use``
(web search) + its ``web_search_tool_result`` -> one ``web_search_call`` item (added once the
query is known, then ``web_search_call.in_progress``, ``.searching``, ``.completed`` when the
result arrives, then done). ``output_index`` is the item's position in ``response.output``;
``sequence_number`` counts every event from 0. Unknown event, block and delta types are
skipped and counted (``skipped``).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import msgspec

from llmproxy.contract import ClientEvent, UpstreamRequest, Usage
from llmproxy.dialects import anthropic as A
from llmproxy.dialects import responses as R
from llmproxy.errors import GatewayError, UpstreamProtocolError
from llmproxy.sse import SSEEvent
from routes.claude2codex.errors import failure_code
from routes.claude2codex.reasoning import Envelope
from routes.claude2codex.tools import ROOT_NAMESPACE, ToolMap

__all__ = ["ResponseTemplate", "ResponsesStream"]

_encode: Final = msgspec.json.Encoder().encode
_EMPTY: Final[list[Any]] = []
_TEXT_DELTA: Final[str] = R.OutputTextDelta.__struct_config__.tag  # type: ignore[assignment]


def new_id(prefix: str) -> str:
    return f"{prefix}_{os.urandom(16).hex()}"


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
    #: ``web_search_call.action.sources`` was asked for (``include``).
    search_sources: bool = False


_BlockKind = Literal[
    "message",
    "reasoning",
    "redacted",
    "function",
    "custom",
    "tool_search",
    "local_shell",
    "server_tool",
    "skip",
]


@dataclass(slots=True)
class _Block:
    kind: _BlockKind
    output_index: int
    item_id: str
    content_index: int = 0
    parts: list[str] = field(default_factory=list)
    signature: str = ""
    data: str = ""
    call_id: str = ""
    name: str = ""
    namespace: str | None = None
    #: The upstream's own tool name (for replaying the block in a continuation).
    upstream_name: str = ""
    #: Raw citations of a text block, in upstream order.
    citations: list[dict[str, Any]] = field(default_factory=list)


@dataclass(slots=True)
class _Message:
    """The open assistant message item: consecutive text blocks share it."""

    item_id: str
    output_index: int
    #: One list of delta pieces per text part, joined when read (appending every delta to one
    #: growing string would copy the whole text again for each delta: quadratic).
    texts: list[list[str]] = field(default_factory=list)
    annotations: list[list[R.UrlCitation]] = field(default_factory=list)


@dataclass(slots=True)
class _Search:
    """A web search item added and waiting for its ``web_search_tool_result``."""

    item_id: str
    output_index: int
    tool_use_id: str
    query: str


#: Makes the request that continues a paused turn, given this turn's content so far.
Resume = Callable[[list[dict[str, Any]]], UpstreamRequest]


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
        resume: Resume | None = None,
        quiet: bool = False,
    ) -> None:
        self.phase: Literal["idle", "open", "done"] = "idle"
        #: For a client that did not ask to stream: only ``final`` matters, so no event is
        #: encoded (``feed`` and friends return empty lists).
        self._quiet = quiet
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
        self._search: _Search | None = None
        self._resume = resume
        #: This turn's content in Anthropic's shape, kept only when it may be continued.
        self._content: list[dict[str, Any]] = []
        #: Usage of the streams already finished by a pause (continuations add up).
        self._usage_done = A.StreamUsage()
        self._pending: UpstreamRequest | None = None
        self.paused = False
        self.pauses = 0

    def __repr__(self) -> str:
        return (
            f"ResponsesStream(phase={self.phase!r}, seq={self._seq}, items={len(self.output)}, "
            f"open_blocks={sorted(self._blocks)}, message_open={self._message is not None}, "
            f"search_open={self._search is not None}, paused={self.paused}, "
            f"pauses={self.pauses}, stop_reason={self.stop_reason!r}, skipped={self._skipped})"
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
    def incomplete(self) -> bool:
        return self.final is not None and self.final.status == "incomplete"

    @property
    def usage(self) -> Usage | None:
        return A.neutral_usage(self._total_usage())

    def continuation(self) -> UpstreamRequest | None:
        """After a paused upstream turn: the request that continues it (once), else None."""
        pending, self._pending = self._pending, None
        return pending

    def feed(self, event: SSEEvent) -> list[ClientEvent]:
        if self.phase == "done":
            raise RuntimeError("ResponsesStream.feed() after the terminal event")
        try:
            ev = A.read_event(event.event, event.data)
        except UpstreamProtocolError as e:
            return self.fail(e)
        if ev is None:
            self._skipped += 1  # an event or delta type this version does not know
            return []
        if type(ev) is A.Delta and self.phase == "open":
            # Fast path for nearly every upstream event, a text delta of the open message:
            # exactly what _on_delta and _text do with it, minus their calls and checks.
            d = ev.delta
            block = self._blocks.get(ev.index)
            msg = self._message
            text = d.get("text")
            if (
                block is not None
                and block.kind == "message"
                and d.get("type") == "text_delta"
                and isinstance(text, str)
                and text
                and msg is not None
                and msg.item_id == block.item_id
            ):
                msg.texts[block.content_index].append(text)
                seq = self._seq
                self._seq = seq + 1
                if self._quiet:
                    return []
                delta = R.OutputTextDelta(
                    seq, block.item_id, block.output_index, block.content_index, text, _EMPTY
                )
                return [ClientEvent(_TEXT_DELTA, _encode(delta))]
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
                    A.merge_usage(self._usage, ev.message.usage)
            case A.MessageDelta():
                self.stop_reason = ev.delta.stop_reason or self.stop_reason
                self.stop_details = ev.delta.stop_details or self.stop_details
                if ev.usage is not None:
                    A.merge_usage(self._usage, ev.usage)
            case A.MessageStop():
                if self.stop_reason == "pause_turn" and self._resume is not None:
                    self._pause(out)
                else:
                    self._finish(out)
            case A.Ping():
                pass
            case A.ErrorEvent():
                self._fail(A.stream_error(ev), out)
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
        if self.paused:
            # Paused, and not continued (the core's continuation limit): what the model did
            # so far is complete in itself.
            out: list[ClientEvent] = []
            self._finish(out)
            return out
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
        if self._quiet:
            return
        out.append(ClientEvent(ev.__struct_config__.tag, _encode(ev)))  # type: ignore[arg-type]

    def _open(self, out: list[ClientEvent]) -> None:
        if self.phase != "idle":
            return
        self.phase = "open"
        snap = self._snapshot("in_progress")
        self._emit(out, R.ResponseCreated(self._next_seq(), snap))
        self._emit(out, R.ResponseInProgress(self._next_seq(), snap))

    def _total_usage(self) -> A.StreamUsage:
        """This stream's usage plus that of the streams a pause ended (counts add up)."""
        if not self.pauses:
            return self._usage
        done, cur = self._usage_done, self._usage
        total = A.StreamUsage()
        for f in (
            "input_tokens",
            "output_tokens",
            "cache_creation_input_tokens",
            "cache_read_input_tokens",
        ):
            a, b = getattr(done, f), getattr(cur, f)
            setattr(total, f, None if a is None and b is None else (a or 0) + (b or 0))
        thinking = A.thinking_tokens(done) + A.thinking_tokens(cur)
        total.output_tokens_details = {"thinking_tokens": thinking}
        return total

    def _response_usage(self) -> R.ResponseUsage:
        u = self._total_usage()
        cache_read = u.cache_read_input_tokens or 0
        cache_write = u.cache_creation_input_tokens or 0
        input_tokens = (u.input_tokens or 0) + cache_read + cache_write
        output_tokens = u.output_tokens or 0
        reasoning = A.thinking_tokens(u)
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

    def _record(self, block: dict[str, Any]) -> None:
        """Keep an upstream block of this turn for a continuation (only when one may come)."""
        if self._resume is not None:
            self._content.append(block)

    def _close_message(self, out: list[ClientEvent], status: R.ItemStatus = "completed") -> None:
        msg = self._message
        if msg is None:
            return
        self._message = None
        item = R.MessageItem(
            id=msg.item_id,
            status=status,
            role="assistant",
            content=[
                R.OutputText(text="".join(t), annotations=list(a), logprobs=[])
                for t, a in zip(msg.texts, msg.annotations, strict=True)
            ],
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
        if btype == "web_search_tool_result":
            self._record(cb)
            self._search_result(cb, out)
            self._blocks[ev.index] = _Block("skip", -1, "")
            return
        # A search whose result never came is over once anything else starts.
        self._close_search(out)
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
            msg.texts.append([])
            msg.annotations.append([])
            block = _Block("message", msg.output_index, msg.item_id, content_index=k)
            initial = cb.get("text") or ""
            citations = cb.get("citations")
            if isinstance(citations, list):
                block.citations.extend(c for c in citations if isinstance(c, dict))
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
            self._tool_use_start(ev.index, cb, out)
        elif btype == "server_tool_use":
            # Added once its input (the query) is complete: see _on_block_stop.
            block = _Block(
                "server_tool",
                -1,
                "",
                call_id=str(cb.get("id") or ""),
                upstream_name=str(cb.get("name") or ""),
            )
            initial_input = cb.get("input")
            if isinstance(initial_input, dict) and initial_input:
                block.parts.append(_encode(initial_input).decode())
            self._blocks[ev.index] = block
        else:
            # Containers, other server-tool results, newer block types: not presented by this
            # route (kept for a continuation when they are complete results).
            if isinstance(btype, str) and btype.endswith("_tool_result"):
                self._record(cb)
            self._blocks[ev.index] = _Block("skip", -1, "")
            self._skipped += 1

    def _tool_use_start(self, index: int, cb: dict[str, Any], out: list[ClientEvent]) -> None:
        upstream_name = str(cb.get("name") or "")
        spec = self._tools.lookup(upstream_name)
        call_id = str(cb.get("id") or self._ids("call"))
        ns = spec.namespace if spec.namespace != ROOT_NAMESPACE else None
        added: R.OutputItem
        if spec.kind == "custom":
            idx, iid = self._new_item("ctc")
            block = _Block("custom", idx, iid, call_id=call_id, name=spec.name, namespace=ns)
            added = R.CustomToolCallItem(
                id=iid,
                call_id=call_id,
                name=spec.name,
                input="",
                status="in_progress",
                namespace=ns,
            )
        elif spec.kind == "tool_search":
            idx, iid = self._new_item("tsc")
            block = _Block("tool_search", idx, iid, call_id=call_id, name=spec.name)
            added = R.ToolSearchCallItem(
                id=iid, call_id=call_id, execution="client", arguments={}, status="in_progress"
            )
        elif spec.kind == "local_shell":
            idx, iid = self._new_item("lsh")
            block = _Block("local_shell", idx, iid, call_id=call_id, name=spec.name)
            added = R.LocalShellCallItem(
                id=iid,
                call_id=call_id,
                status="in_progress",
                action=R.LocalShellAction(command=[], env={}),
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
        block.upstream_name = upstream_name
        initial_input = cb.get("input")
        if isinstance(initial_input, dict) and initial_input:
            block.parts.append(_encode(initial_input).decode())
        self._blocks[index] = block
        self._emit(out, R.OutputItemAdded(self._next_seq(), idx, added))

    def _text(self, block: _Block, text: str, out: list[ClientEvent]) -> None:
        msg = self._message
        assert msg is not None
        assert msg.item_id == block.item_id
        msg.texts[block.content_index].append(text)
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
        elif dtype == "input_json_delta" and block.kind in (
            "function",
            "custom",
            "tool_search",
            "local_shell",
            "server_tool",
        ):
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
        elif dtype == "citations_delta" and block.kind == "message":
            citation = d.get("citation")
            if isinstance(citation, dict):
                block.citations.append(citation)
        else:
            self._skipped += 1  # unknown deltas

    def _on_block_stop(self, ev: A.BlockStop, out: list[ClientEvent]) -> None:
        block = self._blocks.pop(ev.index, None)
        if block is None or block.kind == "skip":
            return
        seq = self._next_seq
        if block.kind == "message":
            msg = self._message
            if msg is None or msg.item_id != block.item_id:
                return  # its message item was already closed
            k = block.content_index
            pieces = msg.texts[k]
            text = "".join(pieces)
            pieces[:] = [text]
            annotations = msg.annotations[k]
            for citation in _url_citations(block.citations, len(text)):
                self._emit(
                    out,
                    R.OutputTextAnnotationAdded(
                        seq(), block.item_id, block.output_index, k, len(annotations), citation
                    ),
                )
                annotations.append(citation)
            self._emit(
                out,
                R.OutputTextDone(seq(), block.item_id, block.output_index, k, text, _EMPTY),
            )
            self._emit(
                out,
                R.ContentPartDone(
                    seq(),
                    block.item_id,
                    block.output_index,
                    k,
                    R.OutputText(text=text, annotations=list(annotations), logprobs=[]),
                ),
            )
            if text:
                raw: dict[str, Any] = {"type": "text", "text": text}
                if block.citations:
                    raw["citations"] = block.citations
                self._record(raw)
            return  # the message item stays open for a following text block
        if block.kind == "server_tool":
            self._server_tool_stop(block, out)
            return
        item: R.OutputItem
        if block.kind in ("reasoning", "redacted"):
            thinking = "".join(block.parts)
            if block.kind == "reasoning":
                sealed = {"type": "thinking", "thinking": thinking, "signature": block.signature}
            else:
                sealed = {"type": "redacted_thinking", "data": block.data}
            self._record(sealed)
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
            self._record_tool_use(block, arguments)
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
        elif block.kind == "tool_search":
            raw_input = "".join(block.parts) or "{}"
            arguments_obj = _json_object(raw_input)
            self._record_tool_use(block, raw_input)
            item = R.ToolSearchCallItem(
                id=block.item_id,
                call_id=block.call_id,
                execution="client",
                arguments=arguments_obj if arguments_obj is not None else {},
                status="completed" if arguments_obj is not None else "incomplete",
            )
        elif block.kind == "local_shell":
            raw_input = "".join(block.parts) or "{}"
            self._record_tool_use(block, raw_input)
            action, ok = _local_shell_action(_json_object(raw_input))
            item = R.LocalShellCallItem(
                id=block.item_id,
                call_id=block.call_id,
                status="completed" if ok else "incomplete",
                action=action,
            )
        else:  # custom
            raw_custom = "".join(block.parts) or "{}"
            self._record_tool_use(block, raw_custom)
            value = _custom_input(raw_custom)
            status = "completed" if value is not None else "incomplete"
            text = value if value is not None else _partial_custom_input(raw_custom)
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

    def _record_tool_use(self, block: _Block, raw_input: str) -> None:
        if self._resume is None:
            return
        value = _json_object(raw_input)
        self._record(
            {
                "type": "tool_use",
                "id": block.call_id,
                "name": block.upstream_name or block.name,
                "input": value if value is not None else {},
            }
        )

    # -- web search ------------------------------------------------------------------------------

    def _server_tool_stop(self, block: _Block, out: list[ClientEvent]) -> None:
        raw_input = "".join(block.parts) or "{}"
        tool_input = _json_object(raw_input) or {}
        self._record(
            {
                "type": "server_tool_use",
                "id": block.call_id,
                "name": block.upstream_name,
                "input": tool_input,
            }
        )
        if block.upstream_name != "web_search":
            self._skipped += 1  # web fetch, code execution, ...: not presented by this route
            return
        query = tool_input.get("query")
        idx, iid = self._new_item("ws")
        search = self._search = _Search(
            iid, idx, block.call_id, query if isinstance(query, str) else ""
        )
        item = R.WebSearchCallItem(
            id=iid, status="in_progress", action=R.WebSearchAction(query=search.query)
        )
        self._emit(out, R.OutputItemAdded(self._next_seq(), idx, item))
        self._emit(out, R.WebSearchCallInProgress(self._next_seq(), iid, idx))
        self._emit(out, R.WebSearchCallSearching(self._next_seq(), iid, idx))

    def _search_result(self, cb: dict[str, Any], out: list[ClientEvent]) -> None:
        search = self._search
        if search is None or cb.get("tool_use_id") not in (search.tool_use_id, None):
            self._close_search(out)
            self._skipped += 1  # a result for a search this stream never presented
            return
        content = cb.get("content")
        sources: list[R.WebSearchSource] | None = None
        if isinstance(content, list):
            if self._t.search_sources:
                sources = [
                    R.WebSearchSource(url=r["url"])
                    for r in content
                    if isinstance(r, dict) and isinstance(r.get("url"), str)
                ]
            self._close_search(out, "completed", sources)
        else:  # {"type": "web_search_tool_result_error", "error_code": ...}
            self._close_search(out, "failed")

    def _close_search(
        self,
        out: list[ClientEvent],
        status: str = "completed",
        sources: list[R.WebSearchSource] | None = None,
    ) -> None:
        search = self._search
        if search is None:
            return
        self._search = None
        if status == "completed":
            self._emit(
                out,
                R.WebSearchCallCompleted(self._next_seq(), search.item_id, search.output_index),
            )
        item = R.WebSearchCallItem(
            id=search.item_id,
            status=status,
            action=R.WebSearchAction(query=search.query, sources=sources),
        )
        self._items[search.output_index] = item
        self._emit(out, R.OutputItemDone(self._next_seq(), search.output_index, item))

    # -- endings ---------------------------------------------------------------------------------

    def _pause(self, out: list[ClientEvent]) -> None:
        """``pause_turn``: finish what is open (an open search keeps waiting for its result,
        which the continuation brings), add this stream's usage to the total, and prepare the
        continuation request."""
        assert self._resume is not None
        for index in sorted(self._blocks):
            self._on_block_stop(A.BlockStop(index=index), out)
        self._close_message(out)
        done, cur = self._usage_done, self._usage
        for f in (
            "input_tokens",
            "output_tokens",
            "cache_creation_input_tokens",
            "cache_read_input_tokens",
        ):
            a, b = getattr(done, f), getattr(cur, f)
            if a is not None or b is not None:
                setattr(done, f, (a or 0) + (b or 0))
        thinking = A.thinking_tokens(done) + A.thinking_tokens(cur)
        done.output_tokens_details = {"thinking_tokens": thinking}
        self._usage = A.StreamUsage()
        self.pauses += 1
        self.paused = True
        self._pending = self._resume(list(self._content))

    def _finish(self, out: list[ClientEvent]) -> None:
        self.paused = False
        reason = self.stop_reason
        incomplete: str | None = None
        if reason in ("max_tokens", "model_context_window_exceeded"):
            incomplete = "max_output_tokens"
        # Blocks the upstream never stopped are closed as they are.
        for index in sorted(self._blocks):
            self._on_block_stop(A.BlockStop(index=index), out)
        self._close_search(out)
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
        self.paused = False
        self._pending = None
        for index in sorted(self._blocks):
            blk = self._blocks[index]
            if blk.kind in ("function", "custom", "tool_search", "local_shell", "server_tool"):
                continue  # never hand out a tool call whose input was cut off
            if blk.kind == "reasoning" and not blk.signature:
                continue  # unsigned thinking could never be sent back to the upstream
            self._on_block_stop(A.BlockStop(index=index), out)
        self._blocks.clear()
        self._close_search(out, "failed")
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


def _url_citations(citations: list[dict[str, Any]], length: int) -> list[R.UrlCitation]:
    """Web-search citations of one text block as ``url_citation`` annotations spanning that
    block's part (Anthropic cites whole blocks); repeats of a source are folded."""
    out: list[R.UrlCitation] = []
    seen: set[str] = set()
    for c in citations:
        url = c.get("url")
        if c.get("type") != "web_search_result_location" or not isinstance(url, str):
            continue  # document citations (char/page/block locations): not presented
        if url in seen:
            continue
        seen.add(url)
        title = c.get("title")
        out.append(
            R.UrlCitation(
                url=url,
                title=title if isinstance(title, str) else url,
                start_index=0,
                end_index=length,
            )
        )
    return out


def _json_object(text: str) -> dict[str, Any] | None:
    try:
        value = msgspec.json.decode(text)
    except msgspec.DecodeError:
        return None
    return value if isinstance(value, dict) else None


def _local_shell_action(value: dict[str, Any] | None) -> tuple[R.LocalShellAction, bool]:
    """``local_shell`` tool input -> the exec action Codex runs, and whether it is complete."""
    if value is None or not isinstance(value.get("command"), list):
        return R.LocalShellAction(command=[], env={}), False
    command = [str(c) for c in value["command"]]
    env = value.get("env")
    timeout = value.get("timeout_ms")
    workdir = value.get("workdir")
    return (
        R.LocalShellAction(
            command=command,
            env={str(k): str(v) for k, v in env.items()} if isinstance(env, dict) else {},
            timeout_ms=timeout
            if isinstance(timeout, int) and not isinstance(timeout, bool)
            else None,
            working_directory=workdir if isinstance(workdir, str) else None,
        ),
        True,
    )


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
