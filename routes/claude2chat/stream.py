"""Anthropic Messages SSE -> OpenAI Chat Completions chunks, sans-IO.

Theory of operation. One ``ChatStream`` per upstream stream; ``phase`` is the whole state
machine, the rest is bookkeeping for the open blocks and the assembled message:

=============  ============================================  ==================================
phase          on                                            goes to
=============  ============================================  ==================================
``idle``       any event / heartbeat: emits the first chunk  ``open`` (then handles the event)
               (``delta: {"role": "assistant", "content":
               ""}``)
``idle``       ``error`` event, ``close()``, ``fail()``:     ``done`` (the core answers an
               emits nothing                                 HTTP error: nothing was sent)
``open``       content blocks: deltas in upstream order      ``open``
``open``       ``message_stop``: the finish chunk, the       ``done``
               usage chunk if asked, ``[DONE]``
``open``       ``error`` event, ``close()`` before           ``done``
               ``message_stop``, ``fail()``: ``{"error":
               {...}}`` and no ``[DONE]`` (openai-python
               raises ``APIError`` on it)
``done``       nothing more is emitted; feeding raises
=============  ============================================  ==================================

Blocks -> deltas: ``text`` -> ``content``; ``thinking`` -> ``reasoning_content`` plus
``thinking_blocks`` fragments of the block's ``index``, closed at the block's end by one fragment
whose ``signature`` is the sealed envelope (``llmproxy.envelope``) of the exact block;
``redacted_thinking`` -> one ``thinking_blocks`` entry with the sealed ``data``; ``tool_use`` ->
``tool_calls`` (``index``, ``id``, ``type``, ``function.name`` and ``arguments: ""`` first, then
argument fragments; ``"{}"`` for a call without input). Server tools, citations and unknown
types are skipped and counted (``skipped``). Heartbeats while open are chunks with an empty
delta. ``finish_reason``: ``tool_calls`` when calls were made, ``length`` for max tokens,
``content_filter`` for a refusal (with ``refusal`` text), else ``stop``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import msgspec

from llmproxy.contract import ClientEvent, Usage
from llmproxy.dialects import anthropic as A
from llmproxy.dialects import chat as C
from llmproxy.dialects.anthropic_openai import render_error
from llmproxy.envelope import Envelope
from llmproxy.errors import GatewayError, UpstreamProtocolError
from llmproxy.sse import SSEEvent
from routes.claude2chat.tools import ChatTools

__all__ = ["ChatStream", "new_id"]

_encode: Final = msgspec.json.Encoder().encode
_DONE: Final = ClientEvent(None, b"[DONE]")
REFUSED: Final = "The model declined to answer this request."


def new_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"


@dataclass(slots=True)
class _Block:
    kind: Literal["text", "thinking", "redacted", "tool", "skip"]
    #: thinking: position among the message's thinking blocks; tool: the call's index.
    index: int = -1
    parts: list[str] = field(default_factory=list)
    signature: str = ""
    data: str = ""
    #: tool: whether an argument fragment was sent.
    sent_arguments: bool = False


@dataclass(slots=True)
class _Call:
    id: str
    name: str
    arguments: list[str] = field(default_factory=list)


class ChatStream:
    """Translate one upstream stream for one Chat Completions request."""

    def __init__(
        self,
        *,
        model: str,
        created: int,
        tools: ChatTools,
        envelope: Envelope,
        upstream_model: str,
        include_usage: bool,
        completion_id: str | None = None,
    ) -> None:
        self.phase: Literal["idle", "open", "done"] = "idle"
        self.completion_id: Final = completion_id or new_id()
        self._model = model
        self._created = created
        self._tools = tools
        self._envelope = envelope
        self._upstream_model = upstream_model
        self._include_usage = include_usage
        self._blocks: dict[int, _Block] = {}
        self._content: list[str] = []
        self._reasoning: list[str] = []
        self._thinking: list[C.ThinkingEntry] = []
        self._thinking_count = 0
        self._calls: list[_Call] = []
        self._refusal: str | None = None
        self._usage = A.StreamUsage()
        self.stop_reason: str | None = None
        self.stop_details: dict[str, Any] | None = None
        self.finish_reason: C.FinishReason | None = None
        self._error: GatewayError | None = None
        self._skipped = 0
        #: The assembled reply once the stream finished normally (for non-streaming clients).
        self.final: C.ChatCompletion | None = None

    def __repr__(self) -> str:
        return (
            f"ChatStream(phase={self.phase!r}, open_blocks={sorted(self._blocks)}, "
            f"calls={len(self._calls)}, thinking_blocks={self._thinking_count}, "
            f"stop_reason={self.stop_reason!r}, finish_reason={self.finish_reason!r}, "
            f"skipped={self._skipped})"
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
        return self.phase == "done" and self.finish_reason == "length"

    @property
    def usage(self) -> Usage | None:
        return A.neutral_usage(self._usage)

    def feed(self, event: SSEEvent) -> list[ClientEvent]:
        if self.phase == "done":
            raise RuntimeError("ChatStream.feed() after the terminal event")
        try:
            ev = A.read_event(event.event, event.data)
        except UpstreamProtocolError as e:
            return self.fail(e)
        if ev is None:
            self._skipped += 1
            return []
        if isinstance(ev, A.ErrorEvent):
            return self.fail(A.stream_error(ev))
        out: list[ClientEvent] = []
        self._open(out)
        match ev:
            case A.Delta():
                self._on_delta(ev, out)
            case A.BlockStart():
                self._on_block_start(ev, out)
            case A.BlockStop():
                self._on_block_stop(ev.index, out)
            case A.MessageStart():
                if ev.message.usage is not None:
                    A.merge_usage(self._usage, ev.message.usage)
            case A.MessageDelta():
                self.stop_reason = ev.delta.stop_reason or self.stop_reason
                self.stop_details = ev.delta.stop_details or self.stop_details
                if ev.usage is not None:
                    A.merge_usage(self._usage, ev.usage)
            case A.MessageStop():
                self._finish(out)
            case A.Ping():
                pass
        return out

    def heartbeat(self) -> list[ClientEvent]:
        if self.phase == "done":
            return []
        out: list[ClientEvent] = []
        if self.phase == "idle":
            self._open(out)
        else:
            self._chunk(out, C.Delta())
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
        sent = self.phase == "open"
        self._error = error
        self.phase = "done"
        self._blocks.clear()
        if not sent:
            return []  # nothing reached the client: the core answers with an HTTP error
        return [ClientEvent(None, render_error(error).body)]

    # -- internals -------------------------------------------------------------------------------

    def _chunk(
        self, out: list[ClientEvent], delta: C.Delta, finish: C.FinishReason | None = None
    ) -> None:
        chunk = C.Chunk(
            id=self.completion_id,
            object="chat.completion.chunk",
            created=self._created,
            model=self._model,
            choices=[C.ChunkChoice(index=0, delta=delta, finish_reason=finish)],
        )
        out.append(ClientEvent(None, _encode(chunk)))

    def _open(self, out: list[ClientEvent]) -> None:
        if self.phase != "idle":
            return
        self.phase = "open"
        self._chunk(out, C.Delta(role="assistant", content=""))

    def _chat_usage(self) -> C.Usage:
        u = self._usage
        cache_read = u.cache_read_input_tokens or 0
        cache_write = u.cache_creation_input_tokens or 0
        prompt = (u.input_tokens or 0) + cache_read + cache_write
        completion = u.output_tokens or 0
        return C.Usage(
            prompt_tokens=prompt,
            completion_tokens=completion,
            total_tokens=prompt + completion,
            prompt_tokens_details=C.PromptTokensDetails(
                cached_tokens=cache_read, cache_write_tokens=cache_write
            ),
            completion_tokens_details=C.CompletionTokensDetails(
                reasoning_tokens=A.thinking_tokens(u)
            ),
        )

    # -- blocks ----------------------------------------------------------------------------------

    def _on_block_start(self, ev: A.BlockStart, out: list[ClientEvent]) -> None:
        # Anthropic streams one block at a time. A block that starts while others are still
        # open (a broken upstream) first closes them.
        for index in sorted(self._blocks):
            self._on_block_stop(index, out)
        cb = ev.content_block
        btype = cb.get("type")
        if btype == "text":
            block = self._blocks[ev.index] = _Block("text")
            initial = cb.get("text")
            if isinstance(initial, str) and initial:
                self._text(initial, out)
        elif btype == "thinking":
            block = self._blocks[ev.index] = _Block("thinking", self._thinking_count)
            self._thinking_count += 1
            block.signature = str(cb.get("signature") or "")
            if self._reasoning:
                # Thinking blocks read as one text: a paragraph break between two of them.
                self._reasoning.append("\n\n")
                self._chunk(out, C.Delta(reasoning_content="\n\n"))
            initial = cb.get("thinking")
            if isinstance(initial, str) and initial:
                self._thinking_text(block, initial, out)
        elif btype == "redacted_thinking":
            block = self._blocks[ev.index] = _Block("redacted", self._thinking_count)
            self._thinking_count += 1
            block.data = str(cb.get("data") or "")
        elif btype == "tool_use":
            call = _Call(
                id=str(cb.get("id") or f"call_{uuid.uuid4().hex[:24]}"),
                name=self._tools.client_name(str(cb.get("name") or "")),
            )
            block = self._blocks[ev.index] = _Block("tool", len(self._calls))
            self._calls.append(call)
            first = C.ToolCallDelta(
                index=block.index,
                id=call.id,
                type="function",
                function=C.FunctionDelta(name=call.name, arguments=""),
            )
            self._chunk(out, C.Delta(tool_calls=[first]))
            initial = cb.get("input")
            if isinstance(initial, dict) and initial:
                self._arguments(block, _encode(initial).decode(), out)
        else:
            # Server tools, containers, newer block types: not presented by this route.
            self._blocks[ev.index] = _Block("skip")
            self._skipped += 1

    def _text(self, text: str, out: list[ClientEvent]) -> None:
        self._content.append(text)
        self._chunk(out, C.Delta(content=text))

    def _thinking_text(self, block: _Block, text: str, out: list[ClientEvent]) -> None:
        block.parts.append(text)
        self._reasoning.append(text)
        fragment = C.ThinkingBlock(thinking=text, index=block.index)
        self._chunk(out, C.Delta(reasoning_content=text, thinking_blocks=[fragment]))

    def _arguments(self, block: _Block, fragment: str, out: list[ClientEvent]) -> None:
        self._calls[block.index].arguments.append(fragment)
        block.sent_arguments = True
        call = C.ToolCallDelta(index=block.index, function=C.FunctionDelta(arguments=fragment))
        self._chunk(out, C.Delta(tool_calls=[call]))

    def _on_delta(self, ev: A.Delta, out: list[ClientEvent]) -> None:
        block = self._blocks.get(ev.index)
        d = ev.delta
        dtype = d.get("type")
        if block is None:
            self._skipped += 1
            return
        if block.kind == "skip":
            return
        if dtype == "text_delta" and block.kind == "text":
            text = d.get("text")
            if isinstance(text, str) and text:
                self._text(text, out)
        elif dtype == "input_json_delta" and block.kind == "tool":
            partial = d.get("partial_json")
            if isinstance(partial, str) and partial:
                self._arguments(block, partial, out)
        elif dtype == "thinking_delta" and block.kind == "thinking":
            text = d.get("thinking")
            if isinstance(text, str) and text:
                self._thinking_text(block, text, out)
        elif dtype == "signature_delta" and block.kind == "thinking":
            block.signature = str(d.get("signature") or "")
        else:
            self._skipped += 1  # citations (not presented by this route), unknown deltas

    def _on_block_stop(self, index: int, out: list[ClientEvent]) -> None:
        block = self._blocks.pop(index, None)
        if block is None:
            return
        entry: C.ThinkingEntry
        if block.kind == "thinking":
            text = "".join(block.parts)
            sealed = self._envelope.seal(
                self._upstream_model,
                [{"type": "thinking", "thinking": text, "signature": block.signature}],
            )
            self._thinking.append(C.ThinkingBlock(thinking=text, signature=sealed))
            entry = C.ThinkingBlock(thinking="", signature=sealed, index=block.index)
            self._chunk(out, C.Delta(thinking_blocks=[entry]))
        elif block.kind == "redacted":
            sealed = self._envelope.seal(
                self._upstream_model, [{"type": "redacted_thinking", "data": block.data}]
            )
            self._thinking.append(C.RedactedThinkingBlock(data=sealed))
            entry = C.RedactedThinkingBlock(data=sealed, index=block.index)
            self._chunk(out, C.Delta(thinking_blocks=[entry]))
        elif block.kind == "tool" and not block.sent_arguments:
            # A call without input streams only "": its arguments must still be JSON.
            self._arguments(block, "{}", out)

    # -- the ending ------------------------------------------------------------------------------

    def _finish(self, out: list[ClientEvent]) -> None:
        # Blocks the upstream never stopped are closed as they are.
        for index in sorted(self._blocks):
            self._on_block_stop(index, out)
        reason = self.stop_reason
        finish: C.FinishReason
        if reason in ("max_tokens", "model_context_window_exceeded"):
            finish = "length"
        elif reason == "refusal":
            finish = "content_filter"
            explanation = (self.stop_details or {}).get("explanation")
            self._refusal = explanation if isinstance(explanation, str) and explanation else REFUSED
            self._chunk(out, C.Delta(refusal=self._refusal))
        elif self._calls:
            finish = "tool_calls"
        else:
            finish = "stop"
        self.finish_reason = finish
        self._chunk(out, C.Delta(), finish)
        usage = self._chat_usage()
        if self._include_usage:
            chunk = C.Chunk(
                id=self.completion_id,
                object="chat.completion.chunk",
                created=self._created,
                model=self._model,
                choices=[],
                usage=usage,
            )
            out.append(ClientEvent(None, _encode(chunk)))
        out.append(_DONE)
        self.final = self._completion(finish, usage)
        self.phase = "done"

    def _completion(self, finish: C.FinishReason, usage: C.Usage) -> C.ChatCompletion:
        content = "".join(self._content)
        calls = [
            C.ToolCall(
                id=c.id, function=C.FunctionCall(name=c.name, arguments="".join(c.arguments))
            )
            for c in self._calls
        ]
        message = C.Message(
            role="assistant",
            content=content if content or not calls else None,
            refusal=self._refusal,
            tool_calls=calls or None,
            reasoning_content="".join(self._reasoning) or None,
            thinking_blocks=list(self._thinking) or None,
        )
        return C.ChatCompletion(
            id=self.completion_id,
            created=self._created,
            model=self._model,
            choices=[C.Choice(index=0, message=message, finish_reason=finish)],
            usage=usage,
        )
