"""A scripted OpenAI Responses API server for end-to-end tests.

``FakeResponsesServer`` listens on 127.0.0.1, records every request it receives and answers each
``POST .../responses`` with the next scripted reply, streamed as Server-Sent Events following the
event lifecycle of the Responses API (``response.created`` -> ``response.in_progress`` -> per item
``output_item.added`` / item events / ``output_item.done`` -> one terminal event).  Requests with
``"stream": false`` get the final Response object as JSON instead.  Anything else (``GET /models``,
WebSocket upgrade attempts on ``GET .../responses``, ...) is recorded and answered with 404.

Usage::

    async with FakeResponsesServer(
        [reply(function_call("exec_command", {"cmd": "echo hi"})), reply(text_message("done"))]
    ) as server:
        ...  # point a client at server.base_url
        assert server.responses_requests[1].items_of_type("function_call_output")

A script entry is either a ``ScriptedReply`` or a callable that receives the ``RecordedRequest``
and returns one (for replies that depend on the request).  When the script is exhausted the server
answers with ``default`` if given, else HTTP 500 (and counts it in ``exhausted``).
"""

from __future__ import annotations

import asyncio
import gzip
import itertools
import json
import socket
import time
import uuid
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal, Self, TypeAlias

from aiohttp import web

JSONDict: TypeAlias = dict[str, Any]
Terminal: TypeAlias = Literal["completed", "incomplete", "failed", "none"]


def _new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:24]}"


# --------------------------------------------------------------------------------------------------
# Output item builders (final item shapes, as sent in response.output_item.done)


def text_message(text: str, *, item_id: str | None = None, phase: str | None = None) -> JSONDict:
    """An assistant ``message`` item with a single ``output_text`` part."""
    item: JSONDict = {
        "id": item_id or _new_id("msg"),
        "type": "message",
        "role": "assistant",
        "status": "completed",
        "content": [{"type": "output_text", "text": text, "annotations": []}],
    }
    if phase is not None:
        item["phase"] = phase
    return item


def function_call(
    name: str,
    arguments: str | Mapping[str, Any],
    *,
    call_id: str | None = None,
    namespace: str | None = None,
    item_id: str | None = None,
) -> JSONDict:
    """A ``function_call`` item; ``arguments`` may be a mapping (JSON-encoded here) or a string."""
    args = arguments if isinstance(arguments, str) else json.dumps(dict(arguments))
    item: JSONDict = {
        "id": item_id or _new_id("fc"),
        "type": "function_call",
        "status": "completed",
        "call_id": call_id or _new_id("call"),
        "name": name,
        "arguments": args,
    }
    if namespace is not None:
        item["namespace"] = namespace
    return item


def custom_tool_call(
    name: str,
    input: str,
    *,
    call_id: str | None = None,
    namespace: str | None = None,
    item_id: str | None = None,
) -> JSONDict:
    """A ``custom_tool_call`` item (freeform tools such as ``apply_patch``)."""
    item: JSONDict = {
        "id": item_id or _new_id("ctc"),
        "type": "custom_tool_call",
        "status": "completed",
        "call_id": call_id or _new_id("call"),
        "name": name,
        "input": input,
    }
    if namespace is not None:
        item["namespace"] = namespace
    return item


def reasoning(
    summary: str,
    *,
    encrypted_content: str | None = "fake-encrypted-reasoning",
    item_id: str | None = None,
) -> JSONDict:
    """A ``reasoning`` item with one summary part (and optional ``encrypted_content``)."""
    item: JSONDict = {
        "id": item_id or _new_id("rs"),
        "type": "reasoning",
        "status": "completed",
        "summary": [{"type": "summary_text", "text": summary}] if summary else [],
    }
    if encrypted_content is not None:
        item["encrypted_content"] = encrypted_content
    return item


# --------------------------------------------------------------------------------------------------
# Script


def default_usage() -> JSONDict:
    return {
        "input_tokens": 100,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": 20,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 120,
    }


@dataclass
class ScriptedReply:
    """One scripted answer to a ``POST .../responses``.

    ``terminal`` chooses the last event: ``completed``, ``incomplete`` (with
    ``incomplete_reason``), ``failed`` (with ``error``) or ``none`` (the stream just ends).
    A ``status`` other than 200 answers with that status and ``error_body`` instead of a stream.
    ``event_delay`` sleeps between SSE events.
    """

    output: list[JSONDict] = field(default_factory=list)
    terminal: Terminal = "completed"
    error: JSONDict = field(
        default_factory=lambda: {"code": "server_error", "message": "scripted failure"}
    )
    incomplete_reason: str = "max_output_tokens"
    usage: JSONDict | None = field(default_factory=default_usage)
    status: int = 200
    error_body: JSONDict | None = None
    headers: dict[str, str] = field(default_factory=dict)
    event_delay: float = 0.0
    response_id: str | None = None


def reply(*output: JSONDict, **kwargs: Any) -> ScriptedReply:
    """Shorthand: ``reply(text_message("hi"))``; keyword arguments go to ``ScriptedReply``."""
    return ScriptedReply(output=list(output), **kwargs)


ScriptEntry: TypeAlias = "ScriptedReply | Callable[[RecordedRequest], ScriptedReply]"


@dataclass(frozen=True)
class RecordedRequest:
    """A request the fake server received."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    raw_body: bytes
    body: Any

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        for key, value in self.headers.items():
            if key.lower() == lowered:
                return value
        return None

    @property
    def json(self) -> JSONDict:
        """The JSON body as a dict (empty if the body was not a JSON object)."""
        return self.body if isinstance(self.body, dict) else {}

    @property
    def input_items(self) -> list[JSONDict]:
        items = self.json.get("input")
        if isinstance(items, list):
            return [item for item in items if isinstance(item, dict)]
        return []

    def items_of_type(self, item_type: str) -> list[JSONDict]:
        return [item for item in self.input_items if item.get("type") == item_type]

    @property
    def tools(self) -> list[JSONDict]:
        """Top-level ``tools`` plus tools delivered in ``additional_tools`` input items."""
        tools: list[JSONDict] = [t for t in self.json.get("tools") or [] if isinstance(t, dict)]
        for item in self.items_of_type("additional_tools"):
            tools.extend(t for t in item.get("tools") or [] if isinstance(t, dict))
        return tools


def flatten_tools(tools: Iterable[JSONDict]) -> dict[str, JSONDict]:
    """Map tool names to tool definitions; tools inside a ``namespace`` are named ``ns.name``."""
    flat: dict[str, JSONDict] = {}
    for tool in tools:
        name = tool.get("name") or tool.get("type") or "?"
        if tool.get("type") == "namespace":
            for inner in flatten_tools(tool.get("tools") or []).items():
                flat[f"{name}.{inner[0]}"] = inner[1]
        else:
            flat[str(name)] = tool
    return flat


# --------------------------------------------------------------------------------------------------
# Event generation


def response_object(
    *,
    response_id: str,
    model: str,
    status: str,
    output: list[JSONDict],
    usage: JSONDict | None,
    request: JSONDict | None = None,
    error: JSONDict | None = None,
    incomplete_details: JSONDict | None = None,
    created_at: int | None = None,
) -> JSONDict:
    """A full ``Response`` snapshot: every field the SDK types require, echoing the request."""
    req = request or {}
    created = created_at if created_at is not None else int(time.time())
    obj: JSONDict = {
        "id": response_id,
        "object": "response",
        "created_at": created,
        "status": status,
        "model": model,
        "output": output,
        "parallel_tool_calls": req.get("parallel_tool_calls", True),
        "tool_choice": req.get("tool_choice", "auto"),
        "tools": req.get("tools", []),
        "instructions": req.get("instructions"),
        "metadata": req.get("metadata") or {},
        "reasoning": req.get("reasoning"),
        "text": req.get("text") or {"format": {"type": "text"}},
        "store": req.get("store", False),
        "temperature": req.get("temperature"),
        "top_p": req.get("top_p"),
        "max_output_tokens": req.get("max_output_tokens"),
        "previous_response_id": req.get("previous_response_id"),
        "truncation": "disabled",
        "error": error,
        "incomplete_details": incomplete_details,
        "usage": usage,
    }
    if status == "completed":
        obj["completed_at"] = int(time.time())
    return obj


def _chunks(text: str, parts: int = 2) -> list[str]:
    if len(text) < parts:
        return [text] if text else []
    size = -(-len(text) // parts)
    return [text[i : i + size] for i in range(0, len(text), size)]


def _item_events(index: int, item: JSONDict) -> list[JSONDict]:
    """``output_item.added`` .. ``output_item.done`` for one final item."""
    item_type = item.get("type")
    item_id = item.get("id", "")
    events: list[JSONDict] = []
    if item_type == "message":
        events.append(
            {
                "type": "response.output_item.added",
                "output_index": index,
                "item": {**item, "status": "in_progress", "content": []},
            }
        )
        for content_index, part in enumerate(item.get("content", [])):
            text = str(part.get("text", ""))
            loc = {"item_id": item_id, "output_index": index, "content_index": content_index}
            events.append(
                {
                    "type": "response.content_part.added",
                    **loc,
                    "part": {"type": "output_text", "text": "", "annotations": []},
                }
            )
            for delta in _chunks(text):
                events.append(
                    {"type": "response.output_text.delta", **loc, "delta": delta, "logprobs": []}
                )
            events.append(
                {"type": "response.output_text.done", **loc, "text": text, "logprobs": []}
            )
            events.append({"type": "response.content_part.done", **loc, "part": part})
    elif item_type == "reasoning":
        events.append(
            {
                "type": "response.output_item.added",
                "output_index": index,
                "item": {
                    "id": item_id,
                    "type": "reasoning",
                    "status": "in_progress",
                    "summary": [],
                },
            }
        )
        for summary_index, part in enumerate(item.get("summary", [])):
            text = str(part.get("text", ""))
            loc = {"item_id": item_id, "output_index": index, "summary_index": summary_index}
            events.append(
                {
                    "type": "response.reasoning_summary_part.added",
                    **loc,
                    "part": {"type": "summary_text", "text": ""},
                }
            )
            for delta in _chunks(text):
                events.append(
                    {"type": "response.reasoning_summary_text.delta", **loc, "delta": delta}
                )
            events.append({"type": "response.reasoning_summary_text.done", **loc, "text": text})
            events.append(
                {
                    "type": "response.reasoning_summary_part.done",
                    **loc,
                    "part": {"type": "summary_text", "text": text},
                }
            )
    elif item_type == "function_call":
        arguments = str(item.get("arguments", ""))
        events.append(
            {
                "type": "response.output_item.added",
                "output_index": index,
                "item": {**item, "status": "in_progress", "arguments": ""},
            }
        )
        loc = {"item_id": item_id, "output_index": index}
        for delta in _chunks(arguments):
            events.append({"type": "response.function_call_arguments.delta", **loc, "delta": delta})
        events.append(
            {
                "type": "response.function_call_arguments.done",
                **loc,
                "name": item.get("name"),
                "arguments": arguments,
            }
        )
    elif item_type == "custom_tool_call":
        tool_input = str(item.get("input", ""))
        events.append(
            {
                "type": "response.output_item.added",
                "output_index": index,
                "item": {**item, "status": "in_progress", "input": ""},
            }
        )
        loc = {"item_id": item_id, "output_index": index, "call_id": item.get("call_id")}
        for delta in _chunks(tool_input):
            events.append({"type": "response.custom_tool_call_input.delta", **loc, "delta": delta})
        events.append({"type": "response.custom_tool_call_input.done", **loc, "input": tool_input})
    else:
        events.append({"type": "response.output_item.added", "output_index": index, "item": item})
    events.append({"type": "response.output_item.done", "output_index": index, "item": item})
    return events


def build_events(
    scripted: ScriptedReply, *, model: str, request: JSONDict | None = None
) -> list[JSONDict]:
    """The full SSE event list (with ``sequence_number``) for one scripted reply."""
    response_id = scripted.response_id or _new_id("resp")
    created_at = int(time.time())

    def snapshot(status: str, output: list[JSONDict], **extra: Any) -> JSONDict:
        return response_object(
            response_id=response_id,
            model=model,
            status=status,
            output=output,
            request=request,
            created_at=created_at,
            **extra,
        )

    events: list[JSONDict] = [
        {"type": "response.created", "response": snapshot("in_progress", [], usage=None)},
        {"type": "response.in_progress", "response": snapshot("in_progress", [], usage=None)},
    ]
    for index, item in enumerate(scripted.output):
        events.extend(_item_events(index, item))
    output = list(scripted.output)
    if scripted.terminal == "completed":
        events.append(
            {
                "type": "response.completed",
                "response": snapshot("completed", output, usage=scripted.usage),
            }
        )
    elif scripted.terminal == "incomplete":
        events.append(
            {
                "type": "response.incomplete",
                "response": snapshot(
                    "incomplete",
                    output,
                    usage=scripted.usage,
                    incomplete_details={"reason": scripted.incomplete_reason},
                ),
            }
        )
    elif scripted.terminal == "failed":
        events.append(
            {
                "type": "response.failed",
                "response": snapshot("failed", output, usage=None, error=scripted.error),
            }
        )
    for sequence_number, event in enumerate(events):
        event["sequence_number"] = sequence_number
    return events


def encode_sse(event: JSONDict) -> bytes:
    """``event: <type>\\ndata: <json>\\n\\n``."""
    data = json.dumps(event, separators=(",", ":"))
    return f"event: {event['type']}\ndata: {data}\n\n".encode()


# --------------------------------------------------------------------------------------------------
# Server


def _decode_body(raw: bytes, encoding: str | None) -> bytes:
    if not raw or not encoding:
        return raw
    enc = encoding.strip().lower()
    if enc == "gzip":
        return gzip.decompress(raw)
    if enc == "deflate":
        return zlib.decompress(raw)
    return raw  # e.g. zstd: left undecoded (``body`` will be None)


class FakeResponsesServer:
    """Scripted Responses API server on 127.0.0.1 (see module docstring)."""

    def __init__(
        self,
        script: Iterable[ScriptEntry] = (),
        *,
        default: ScriptEntry | None = None,
        prefix: str = "/v1",
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self._script: deque[ScriptEntry] = deque(script)
        self.default = default
        self.prefix = "/" + prefix.strip("/") if prefix.strip("/") else ""
        self.host = host
        self._port = port
        self.requests: list[RecordedRequest] = []
        self.sent_events: list[list[JSONDict]] = []
        self.exhausted = 0
        self.disconnects = 0
        self._runner: web.AppRunner | None = None
        self._counter = itertools.count(1)

    # -- script ------------------------------------------------------------------------------

    def enqueue(self, *entries: ScriptEntry) -> None:
        self._script.extend(entries)

    @property
    def remaining(self) -> int:
        return len(self._script)

    @property
    def responses_requests(self) -> list[RecordedRequest]:
        """Recorded ``POST .../responses`` requests, in order."""
        return [r for r in self.requests if r.method == "POST" and r.path.endswith("/responses")]

    @property
    def other_requests(self) -> list[RecordedRequest]:
        """Everything recorded that was not a ``POST .../responses``."""
        return [
            r for r in self.requests if not (r.method == "POST" and r.path.endswith("/responses"))
        ]

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def port(self) -> int:
        return self._port

    @property
    def origin(self) -> str:
        return f"http://{self.host}:{self._port}"

    @property
    def base_url(self) -> str:
        """What a client uses as its base URL (it appends ``/responses``)."""
        return f"{self.origin}{self.prefix}"

    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self._port))
        self._port = int(sock.getsockname()[1])
        site = web.SockSite(self._runner, sock)
        await site.start()

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- handling ----------------------------------------------------------------------------

    async def _record(self, request: web.Request) -> RecordedRequest:
        raw = await request.read()
        decoded = _decode_body(raw, request.headers.get("Content-Encoding"))
        body: Any = None
        if decoded:
            try:
                body = json.loads(decoded)
            except ValueError:
                body = None
        recorded = RecordedRequest(
            method=request.method,
            path=request.path,
            query=dict(request.query),
            headers=dict(request.headers),
            raw_body=raw,
            body=body,
        )
        self.requests.append(recorded)
        return recorded

    def _next_reply(self, recorded: RecordedRequest) -> ScriptedReply | None:
        entry: ScriptEntry | None
        if self._script:
            entry = self._script.popleft()
        else:
            self.exhausted += 1
            entry = self.default
        if entry is None:
            return None
        return entry if isinstance(entry, ScriptedReply) else entry(recorded)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        recorded = await self._record(request)
        if request.method != "POST" or not request.path.endswith("/responses"):
            return web.json_response(
                {
                    "error": {
                        "message": f"fake server: no route for {request.method} {request.path}",
                        "type": "invalid_request_error",
                        "param": None,
                        "code": None,
                    }
                },
                status=404,
            )
        scripted = self._next_reply(recorded)
        if scripted is None:
            return web.json_response(
                {
                    "error": {
                        "message": "fake server: script exhausted",
                        "type": "server_error",
                        "param": None,
                        "code": None,
                    }
                },
                status=500,
            )
        request_id = f"req_fake_{next(self._counter)}"
        headers = {"x-request-id": request_id, **scripted.headers}
        if scripted.status != 200:
            body = scripted.error_body or {
                "error": {
                    "message": "scripted error",
                    "type": "server_error",
                    "param": None,
                    "code": None,
                }
            }
            return web.json_response(body, status=scripted.status, headers=headers)
        model = str(recorded.json.get("model") or "fake-model")
        events = build_events(scripted, model=model, request=recorded.json)
        self.sent_events.append(events)
        if recorded.json.get("stream") is False:
            final = events[-1].get("response") if scripted.terminal != "none" else None
            return web.json_response(final or events[-1], headers=headers)
        response = web.StreamResponse(
            status=200,
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache",
                **headers,
            },
        )
        try:
            await response.prepare(request)
            for event in events:
                if scripted.event_delay:
                    await asyncio.sleep(scripted.event_delay)
                await response.write(encode_sse(event))
            await response.write_eof()
        except ConnectionResetError:
            # The client gave up (idle timeout, killed process); not an error of the fake.
            self.disconnects += 1
        return response
