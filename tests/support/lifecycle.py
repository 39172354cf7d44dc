"""A strict checker for OpenAI Responses event streams, as a Responses client sees them.

``check_responses_stream(events)`` takes the parsed ``data`` object of every SSE event, in order;
``check_responses_sse(raw)`` takes the raw bytes of a whole stream, also checks the framing (every
event is named and its name equals the data's ``type``; no ``[DONE]``; no unterminated event) and
returns the parsed events. Both raise ``AssertionError`` naming the event (position, type and
``sequence_number``) and the rule it broke.

The rules, from the protocol reference (claude2codex-protocol.md):

* §3.1: ``sequence_number`` is an integer, 0 on the first event and strictly increasing; no event
  has a truthy top-level ``error`` key (openai-python raises ``APIError`` on one).
* §3.3.1: ``response.created`` first, then ``response.in_progress``; ``created`` carries
  ``output: []``; every snapshot carries the same ``response.id``.
* §3.3.2 and §3.5 (Codex keeps one "active item"): items are added one at a time, with
  ``output_index`` = the number of items added so far, and each is done before the next is added;
  every item event names the open item (``item_id`` and ``output_index``); nothing for an item
  follows its ``output_item.done``.
* §3.3.3: ``content_part.added`` (content_index = parts so far, an empty ``output_text``) before
  any ``output_text.delta`` for it, then ``output_text.done`` -> ``content_part.done``; texts equal
  the concatenated deltas; no ``refusal`` parts anywhere (they break Codex's message parsing);
  ``output_text.annotation.added`` comes before the part's ``output_text.done`` with
  ``annotation_index`` = annotations so far, and the done part and item carry exactly those.
* §3.3.4: ``reasoning_summary_part.added`` -> ``reasoning_summary_text.delta``* (with
  ``summary_index``) -> ``reasoning_summary_text.done`` -> ``reasoning_summary_part.done``.
* §3.3.5 and §3.4(c): ``function_call_arguments.*`` only for ``function_call`` items,
  ``custom_tool_call_input.*`` only for ``custom_tool_call`` items; their ``.done`` comes before
  the item's ``output_item.done``; the final arguments / input equal the concatenated deltas
  (when no delta was sent the ``.done`` value stands alone: §6.9 sends ``"{}"`` for a call
  without input).
* §6.11: added items deserialize for Codex (``message``: ``role`` and ``content: []``;
  ``reasoning``: ``summary: []``; ``function_call``: ``name``, ``arguments: ""``, ``call_id``;
  ``custom_tool_call``: ``call_id``, ``name``, ``input: ""``), and so do done items; the done item
  is the final form (parts, summary, arguments, input as streamed).
* §3.3.6: exactly one terminal event (``response.completed`` | ``response.incomplete`` |
  ``response.failed``), last, optionally preceded by an ``error`` event only when it is
  ``failed``; its ``response.status`` matches; its ``response.output`` equals the done items in
  ``output_index`` order. Every added item is done unless the terminal is ``response.failed``.
* §3.5 and §6.7: ``completed`` has ``completed_at`` and integer ``usage`` with
  ``input_tokens_details.cached_tokens`` and ``output_tokens_details.reasoning_tokens``,
  ``total_tokens = input_tokens + output_tokens`` (the same shape is required of any non-null
  usage); ``incomplete`` has ``incomplete_details.reason`` in the SDK's enum; ``failed`` has
  ``error: {code, message}``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, NoReturn

from llmproxy.sse import SSEDecoder

__all__ = ["check_responses_sse", "check_responses_stream", "parse_responses_sse"]

_SNAPSHOTS: Final = frozenset({"response.created", "response.in_progress", "response.queued"})
_TERMINAL: Final = {
    "response.completed": "completed",
    "response.incomplete": "incomplete",
    "response.failed": "failed",
}
_INCOMPLETE_REASONS: Final = frozenset({"max_output_tokens", "content_filter"})
#: Item-scoped events (they carry ``item_id`` and ``output_index``) -> the item type they need.
_ITEM_EVENTS: Final[dict[str, str | None]] = {
    "response.content_part.added": "message",
    "response.content_part.done": "message",
    "response.output_text.delta": "message",
    "response.output_text.done": "message",
    "response.output_text.annotation.added": "message",
    "response.refusal.delta": "message",
    "response.refusal.done": "message",
    "response.function_call_arguments.delta": "function_call",
    "response.function_call_arguments.done": "function_call",
    "response.custom_tool_call_input.delta": "custom_tool_call",
    "response.custom_tool_call_input.done": "custom_tool_call",
    "response.reasoning_summary_part.added": "reasoning",
    "response.reasoning_summary_part.done": "reasoning",
    "response.reasoning_summary_text.delta": "reasoning",
    "response.reasoning_summary_text.done": "reasoning",
    "response.reasoning_text.delta": "reasoning",
    "response.reasoning_text.done": "reasoning",
    "response.web_search_call.in_progress": "web_search_call",
    "response.web_search_call.searching": "web_search_call",
    "response.web_search_call.completed": "web_search_call",
}
#: The event that finishes a tool call's streamed input, before its ``output_item.done``.
_FINAL_EVENT: Final = {
    "function_call": "response.function_call_arguments.done",
    "custom_tool_call": "response.custom_tool_call_input.done",
}
_KNOWN: Final = frozenset(
    {
        *_SNAPSHOTS,
        *_TERMINAL,
        *_ITEM_EVENTS,
        "response.output_item.added",
        "response.output_item.done",
        "error",
    }
)


def _fail(where: str, message: str) -> NoReturn:
    raise AssertionError(f"{where}: {message}")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _field(obj: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if key not in obj:
        _fail(where, f"missing {key!r}")
    value = obj[key]
    if kind is int:
        if not _is_int(value):
            _fail(where, f"{key!r} must be an integer, got {value!r}")
    elif not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        _fail(where, f"{key!r} has the wrong type: {value!r}")
    return value


@dataclass
class _Part:
    """A streamed text: a message content part, a summary part or a reasoning_text part."""

    text: str = ""
    text_done: bool = False
    done: bool = False
    annotations: list[Any] = field(default_factory=list)


@dataclass
class _Item:
    index: int
    id: str
    type: str
    added: Mapping[str, Any]
    done: Mapping[str, Any] | None = None
    parts: list[_Part] = field(default_factory=list)
    summary: list[_Part] = field(default_factory=list)
    reasoning_text: dict[int, _Part] = field(default_factory=dict)
    #: function_call arguments / custom_tool_call input, as streamed.
    streamed: str = ""
    deltas: int = 0
    final: str | None = None


def _check_usage(usage: object, where: str) -> None:
    if not isinstance(usage, Mapping):
        _fail(where, f"usage must be an object, got {usage!r}")
    w = f"{where} usage"
    inp = _field(usage, "input_tokens", int, w)
    out = _field(usage, "output_tokens", int, w)
    total = _field(usage, "total_tokens", int, w)
    in_details = _field(usage, "input_tokens_details", Mapping, w)
    cached = _field(in_details, "cached_tokens", int, f"{w}.input_tokens_details")
    out_details = _field(usage, "output_tokens_details", Mapping, w)
    reasoning = _field(out_details, "reasoning_tokens", int, f"{w}.output_tokens_details")
    if min(inp, out, cached, reasoning) < 0:
        _fail(w, f"negative token count in {usage!r}")
    if total != inp + out:
        _fail(w, f"total_tokens {total} != input_tokens {inp} + output_tokens {out}")
    if cached > inp:
        _fail(w, f"cached_tokens {cached} exceeds input_tokens {inp}")
    if reasoning > out:
        _fail(w, f"reasoning_tokens {reasoning} exceeds output_tokens {out}")


def _check_item_shape(item: object, where: str, *, added: bool) -> Mapping[str, Any]:
    """The item deserializes as a Codex ``ResponseItem`` (reference §3.5, §6.11)."""
    if not isinstance(item, Mapping):
        _fail(where, f"item must be an object, got {item!r}")
    itype = _field(item, "type", str, where)
    iid = _field(item, "id", str, where)
    if not iid:
        _fail(where, "item id is empty")
    status = item.get("status")
    if added and status not in (None, "in_progress"):
        _fail(where, f"an added item has status {status!r}, expected 'in_progress'")
    finals = (
        ("completed", "incomplete", "failed")
        if itype == "web_search_call"
        else (
            "completed",
            "incomplete",
        )
    )
    if not added and status not in (None, *finals):
        _fail(where, f"a done item has status {status!r}")
    if itype == "message":
        _field(item, "role", str, where)
        content = _field(item, "content", list, where)
        if added and content:
            _fail(where, f"an added message must have content [], got {content!r}")
        for k, part in enumerate(content):
            if not isinstance(part, Mapping):
                _fail(where, f"content[{k}] is not an object")
            if part.get("type") == "refusal":
                _fail(where, f"content[{k}] is a refusal part (Codex cannot parse it)")
            if part.get("type") != "output_text":
                _fail(where, f"content[{k}] has type {part.get('type')!r}")
            _field(part, "text", str, f"{where} content[{k}]")
            _field(part, "annotations", list, f"{where} content[{k}]")
    elif itype == "reasoning":
        summary = _field(item, "summary", list, where)
        if added and summary:
            _fail(where, f"an added reasoning item must have summary [], got {summary!r}")
        for k, part in enumerate(summary):
            if not isinstance(part, Mapping) or part.get("type") != "summary_text":
                _fail(where, f"summary[{k}] is not a summary_text part: {part!r}")
            _field(part, "text", str, f"{where} summary[{k}]")
        enc = item.get("encrypted_content")
        if enc is not None and not isinstance(enc, str):
            _fail(where, f"encrypted_content must be a string, got {enc!r}")
    elif itype == "function_call":
        _field(item, "name", str, where)
        _field(item, "call_id", str, where)
        arguments = _field(item, "arguments", str, where)
        if added and arguments != "":
            _fail(where, f'an added function_call must have arguments "", got {arguments!r}')
    elif itype == "custom_tool_call":
        _field(item, "name", str, where)
        _field(item, "call_id", str, where)
        text = _field(item, "input", str, where)
        if added and text != "":
            _fail(where, f'an added custom_tool_call must have input "", got {text!r}')
    elif itype == "local_shell_call":
        if status is None:
            _fail(where, "a local_shell_call needs a status")
        action = _field(item, "action", Mapping, where)
        if action.get("type") != "exec" or not isinstance(action.get("command"), list):
            _fail(where, f"local_shell_call action must be an exec with a command: {action!r}")
    elif itype == "web_search_call" and not added:
        _field(item, "action", Mapping, where)
    return item


class _Checker:
    def __init__(self) -> None:
        self.items: list[_Item] = []
        self.open: _Item | None = None
        self.response_id: str | None = None
        self.terminal: str | None = None

    # -- helpers --------------------------------------------------------------------------------

    def _target(self, ev: Mapping[str, Any], etype: str, where: str) -> _Item:
        item_id = _field(ev, "item_id", str, where)
        idx = _field(ev, "output_index", int, where)
        if not 0 <= idx < len(self.items):
            _fail(where, f"output_index {idx} names no added item ({len(self.items)} added)")
        item: _Item = self.items[idx]
        if item.id != item_id:
            _fail(where, f"item_id {item_id!r} != id {item.id!r} of the item at {idx}")
        if item.done is not None:
            _fail(where, f"event for item {item_id!r} after its output_item.done")
        if self.open is None or self.open.index != idx:
            _fail(where, f"event for item {item_id!r}, which is not the open item")
        need = _ITEM_EVENTS[etype]
        if need is not None and item.type != need:
            _fail(where, f"{etype} for a {item.type} item {item_id!r} (only for {need} items)")
        return item

    @staticmethod
    def _part(parts: list[_Part], k: int, what: str, where: str) -> _Part:
        if not 0 <= k < len(parts):
            _fail(where, f"{what} {k} was never added ({len(parts)} added)")
        part = parts[k]
        if part.done:
            _fail(where, f"{what} {k} is already done")
        return part

    def _snapshot(self, ev: Mapping[str, Any], where: str) -> Mapping[str, Any]:
        resp: Mapping[str, Any] = _field(ev, "response", Mapping, where)
        rid = _field(resp, "id", str, where + " response")
        if self.response_id is None:
            self.response_id = rid
        elif rid != self.response_id:
            _fail(where, f"response.id {rid!r} != {self.response_id!r} of response.created")
        return resp

    # -- events ---------------------------------------------------------------------------------

    def event(self, i: int, ev: Mapping[str, Any]) -> None:
        etype = ev.get("type")
        seq = ev.get("sequence_number")
        where = f"event #{i} ({etype}, sequence_number {seq})"
        if not isinstance(etype, str):
            _fail(where, "event has no string type")
        if etype not in _KNOWN:
            _fail(where, f"unknown event type {etype!r}")
        if ev.get("error"):
            _fail(where, f"top-level truthy 'error' key: {ev['error']!r} (openai-python raises)")
        if self.terminal is not None:
            _fail(where, f"event after the terminal {self.terminal}")
        if i == 0 and etype != "response.created":
            _fail(where, "the first event must be response.created")
        if i == 1 and etype != "response.in_progress":
            _fail(where, "the second event must be response.in_progress")

        if etype in _SNAPSHOTS:
            resp = self._snapshot(ev, where)
            if etype == "response.created":
                if i != 0:
                    _fail(where, "response.created after the first event")
                if resp.get("output") != []:
                    _fail(
                        where, f"response.created must carry output [], got {resp.get('output')!r}"
                    )
            status = resp.get("status")
            if status not in ("in_progress", "queued"):
                _fail(where, f"snapshot status {status!r}, expected 'in_progress'")
            return
        if etype in _TERMINAL:
            self._terminal(ev, etype, where)
            return
        if etype == "error":
            _field(ev, "message", str, where)
            return
        if etype == "response.output_item.added":
            self._added(ev, where)
            return
        if etype == "response.output_item.done":
            self._done(ev, where)
            return
        self._item_event(ev, etype, where)

    def _added(self, ev: Mapping[str, Any], where: str) -> None:
        idx = _field(ev, "output_index", int, where)
        if idx != len(self.items):
            _fail(where, f"output_index {idx}, expected {len(self.items)} (items added so far)")
        if self.open is not None:
            _fail(where, f"item added while item {self.open.id!r} is still open")
        item = _check_item_shape(ev.get("item"), where, added=True)
        if any(it.id == item["id"] for it in self.items):
            _fail(where, f"duplicate item id {item['id']!r}")
        self.open = _Item(idx, item["id"], item["type"], item)
        self.items.append(self.open)

    def _done(self, ev: Mapping[str, Any], where: str) -> None:
        idx = _field(ev, "output_index", int, where)
        if not 0 <= idx < len(self.items):
            _fail(where, f"output_index {idx} names no added item")
        it: _Item = self.items[idx]
        if it.done is not None:
            _fail(where, f"item {it.id!r} is done twice")
        if self.open is None or self.open.index != idx:
            _fail(where, f"item {it.id!r} is not the open item")
        item = _check_item_shape(ev.get("item"), where, added=False)
        if item["id"] != it.id or item["type"] != it.type:
            _fail(where, f"done item {item['type']} {item['id']!r} != added {it.type} {it.id!r}")
        if it.type == "message":
            if item["role"] != it.added["role"]:
                _fail(where, f"role changed from {it.added['role']!r} to {item['role']!r}")
            content = item["content"]
            if len(content) != len(it.parts):
                _fail(where, f"{len(content)} content parts, {len(it.parts)} were streamed")
            for k, (part, streamed) in enumerate(zip(content, it.parts, strict=True)):
                if not streamed.done:
                    _fail(where, f"content part {k} never got content_part.done")
                if part["text"] != streamed.text:
                    _fail(where, f"content[{k}].text {part['text']!r} != deltas {streamed.text!r}")
                if part["annotations"] != streamed.annotations:
                    _fail(where, f"content[{k}].annotations != those added while streaming")
        elif it.type == "reasoning":
            summary = item["summary"]
            if len(summary) != len(it.summary):
                _fail(where, f"{len(summary)} summary parts, {len(it.summary)} were streamed")
            for k, (part, streamed) in enumerate(zip(summary, it.summary, strict=True)):
                if not streamed.done:
                    _fail(where, f"summary part {k} never got reasoning_summary_part.done")
                if part["text"] != streamed.text:
                    _fail(where, f"summary[{k}].text {part['text']!r} != deltas {streamed.text!r}")
            for k, streamed in it.reasoning_text.items():
                content = item.get("content")
                if not isinstance(content, list) or k >= len(content):
                    _fail(where, f"reasoning_text {k} was streamed but is not in content")
                if content[k].get("text") != streamed.text:
                    _fail(where, f"content[{k}].text != reasoning_text deltas {streamed.text!r}")
        elif it.type in ("function_call", "custom_tool_call"):
            key = "arguments" if it.type == "function_call" else "input"
            for same in ("call_id", "name"):
                if item[same] != it.added[same]:
                    _fail(where, f"{same} changed from {it.added[same]!r} to {item[same]!r}")
            if it.final is None:
                done_ev = _FINAL_EVENT[it.type]
                _fail(where, f"output_item.done without a preceding {done_ev}")
            if item[key] != it.final:
                _fail(where, f"item {key} {item[key]!r} != the .done event's {it.final!r}")
        it.done = item
        self.open = None

    def _item_event(self, ev: Mapping[str, Any], etype: str, where: str) -> None:
        it = self._target(ev, etype, where)
        kind = etype.removeprefix("response.")
        if kind in ("refusal.delta", "refusal.done"):
            _fail(where, "refusal events are not allowed (Codex cannot parse refusal parts)")
        if kind == "content_part.added":
            k = _field(ev, "content_index", int, where)
            if k != len(it.parts):
                _fail(where, f"content_index {k}, expected {len(it.parts)} (parts so far)")
            part = _field(ev, "part", Mapping, where)
            if part.get("type") == "refusal":
                _fail(where, "refusal content part (Codex cannot parse it)")
            if part.get("type") != "output_text" or part.get("text") != "":
                _fail(where, f"the added part must be an empty output_text, got {part!r}")
            _field(part, "annotations", list, where + " part")
            it.parts.append(_Part())
        elif kind in ("output_text.delta", "output_text.done", "output_text.annotation.added"):
            p = self._part(it.parts, _field(ev, "content_index", int, where), "content part", where)
            if p.text_done:
                _fail(where, "text event after output_text.done for this part")
            if kind == "output_text.annotation.added":
                n = _field(ev, "annotation_index", int, where)
                if n != len(p.annotations):
                    _fail(where, f"annotation_index {n}, expected {len(p.annotations)}")
                note = _field(ev, "annotation", Mapping, where)
                if not isinstance(note.get("type"), str):
                    _fail(where, f"annotation without a type: {note!r}")
                p.annotations.append(note)
            elif kind == "output_text.delta":
                p.text += _field(ev, "delta", str, where)
                _field(ev, "logprobs", list, where)
            elif kind == "output_text.done":
                text = _field(ev, "text", str, where)
                _field(ev, "logprobs", list, where)
                if text != p.text:
                    _fail(where, f"text {text!r} != concatenated deltas {p.text!r}")
                p.text_done = True
        elif kind == "content_part.done":
            p = self._part(it.parts, _field(ev, "content_index", int, where), "content part", where)
            part = _field(ev, "part", Mapping, where)
            if part.get("type") != "output_text":
                _fail(where, f"part type {part.get('type')!r}")
            if not p.text_done:
                _fail(where, "content_part.done before output_text.done")
            if part.get("text") != p.text:
                _fail(where, f"part text {part.get('text')!r} != concatenated deltas {p.text!r}")
            if part.get("annotations") != p.annotations:
                _fail(where, f"part annotations {part.get('annotations')!r} != those added")
            p.done = True
        elif kind == "reasoning_summary_part.added":
            s = _field(ev, "summary_index", int, where)
            if s != len(it.summary):
                _fail(where, f"summary_index {s}, expected {len(it.summary)} (parts so far)")
            part = _field(ev, "part", Mapping, where)
            if part.get("type") != "summary_text" or part.get("text") != "":
                _fail(where, f"the added part must be an empty summary_text, got {part!r}")
            it.summary.append(_Part())
        elif kind in ("reasoning_summary_text.delta", "reasoning_summary_text.done"):
            s = _field(ev, "summary_index", int, where)
            p = self._part(it.summary, s, "summary part", where)
            if p.text_done:
                _fail(where, "summary text event after reasoning_summary_text.done")
            if kind.endswith("delta"):
                p.text += _field(ev, "delta", str, where)
            else:
                text = _field(ev, "text", str, where)
                if text != p.text:
                    _fail(where, f"text {text!r} != concatenated deltas {p.text!r}")
                p.text_done = True
        elif kind == "reasoning_summary_part.done":
            p = self._part(it.summary, _field(ev, "summary_index", int, where), "summary", where)
            part = _field(ev, "part", Mapping, where)
            if not p.text_done:
                _fail(where, "reasoning_summary_part.done before reasoning_summary_text.done")
            if part.get("type") != "summary_text" or part.get("text") != p.text:
                _fail(where, f"part {part!r} != concatenated deltas {p.text!r}")
            p.done = True
        elif kind in ("reasoning_text.delta", "reasoning_text.done"):
            k = _field(ev, "content_index", int, where)
            p = it.reasoning_text.setdefault(k, _Part())
            if p.text_done:
                _fail(where, "reasoning_text event after reasoning_text.done")
            if kind.endswith("delta"):
                p.text += _field(ev, "delta", str, where)
            else:
                text = _field(ev, "text", str, where)
                if text != p.text:
                    _fail(where, f"text {text!r} != concatenated deltas {p.text!r}")
                p.text_done = True
        elif kind in (
            "function_call_arguments.delta",
            "function_call_arguments.done",
            "custom_tool_call_input.delta",
            "custom_tool_call_input.done",
        ):
            key = "arguments" if kind.startswith("function_call") else "input"
            if it.final is not None:
                _fail(where, f"{etype} after the {key} were done")
            if kind.endswith("delta"):
                it.streamed += _field(ev, "delta", str, where)
                it.deltas += 1
            else:
                final = _field(ev, key, str, where)
                if it.deltas and final != it.streamed:
                    _fail(where, f"{key} {final!r} != concatenated deltas {it.streamed!r}")
                name = ev.get("name")
                if name is not None and name != it.added["name"]:
                    _fail(where, f"name {name!r} != the item's {it.added['name']!r}")
                it.final = final
        # web_search_call.* events need nothing beyond the target checks.

    def _terminal(self, ev: Mapping[str, Any], etype: str, where: str) -> None:
        resp = self._snapshot(ev, where)
        want = _TERMINAL[etype]
        if resp.get("status") != want:
            _fail(where, f"response.status {resp.get('status')!r}, expected {want!r}")
        done = [it.done for it in self.items if it.done is not None]
        if etype != "response.failed":
            pending = [it.id for it in self.items if it.done is None]
            if pending:
                _fail(where, f"items added but never done: {pending}")
        output = _field(resp, "output", list, where + " response")
        if output != done:
            _fail(
                where,
                "response.output differs from the done items in output_index order:\n"
                f"  output: {output!r}\n  done:   {done!r}",
            )
        usage = resp.get("usage")
        if etype == "response.completed":
            completed_at = resp.get("completed_at")
            if not isinstance(completed_at, int | float) or isinstance(completed_at, bool):
                _fail(where, f"completed_at must be a number, got {completed_at!r}")
            if usage is None:
                _fail(where, "response.completed without usage")
        if usage is not None:
            _check_usage(usage, where)
        if etype == "response.incomplete":
            details = _field(resp, "incomplete_details", Mapping, where + " response")
            if details.get("reason") not in _INCOMPLETE_REASONS:
                _fail(where, f"incomplete_details.reason {details.get('reason')!r}")
        if etype == "response.failed":
            error = _field(resp, "error", Mapping, where + " response")
            _field(error, "code", str, where + " response.error")
            _field(error, "message", str, where + " response.error")
        self.terminal = etype


def check_responses_stream(events: Sequence[Mapping[str, Any]]) -> None:
    """Assert that ``events`` (each SSE event's parsed ``data``) is a valid Responses stream."""
    if not events:
        raise AssertionError("the stream has no events")
    last_seq = -1
    for i, ev in enumerate(events):
        if not isinstance(ev, Mapping):
            raise AssertionError(f"event #{i}: data is not a JSON object: {ev!r}")
        seq = ev.get("sequence_number")
        where = f"event #{i} ({ev.get('type')}, sequence_number {seq})"
        if not isinstance(seq, int) or isinstance(seq, bool):
            _fail(where, "sequence_number must be an integer")
        if i == 0 and seq != 0:
            _fail(where, "sequence_number must start at 0")
        if seq <= last_seq:
            _fail(where, f"sequence_number not strictly increasing (previous {last_seq})")
        last_seq = seq
        if ev.get("type") == "error":
            nxt = events[i + 1].get("type") if i + 1 < len(events) else None
            if nxt != "response.failed":
                _fail(where, f"an error event must directly precede response.failed, not {nxt}")
    checker = _Checker()
    for i, ev in enumerate(events):
        checker.event(i, ev)
    if checker.terminal is None:
        raise AssertionError(
            "the stream ended without a terminal event "
            "(response.completed | response.incomplete | response.failed)"
        )


def parse_responses_sse(raw: bytes) -> list[dict[str, Any]]:
    """Parse a whole Responses SSE body, checking the framing rules of reference §3.1."""
    decoder = SSEDecoder()
    frames = decoder.feed(raw)
    frames.extend(decoder.close())
    if decoder.pending:
        raise AssertionError("the stream ends inside an unterminated event")
    events: list[dict[str, Any]] = []
    for i, frame in enumerate(frames):
        where = f"SSE event #{i} (event: {frame.event})"
        if frame.data.strip() == "[DONE]":
            _fail(where, "a [DONE] sentinel (Responses streams have none)")
        try:
            data = json.loads(frame.data)
        except json.JSONDecodeError as e:
            _fail(where, f"data is not JSON ({e}): {frame.data[:200]!r}")
        if not isinstance(data, dict):
            _fail(where, f"data is not a JSON object: {frame.data[:200]!r}")
        if frame.event == "message":
            _fail(where, "the event is unnamed (every event needs an event: line)")
        if frame.event != data.get("type"):
            _fail(where, f"event name {frame.event!r} != data type {data.get('type')!r}")
        events.append(data)
    return events


def check_responses_sse(raw: bytes) -> list[dict[str, Any]]:
    """``parse_responses_sse`` then ``check_responses_stream``; returns the parsed events."""
    events = parse_responses_sse(raw)
    check_responses_stream(events)
    return events
