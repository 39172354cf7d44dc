"""A scripted OpenAI Responses API server for end-to-end tests.

``FakeResponsesServer`` listens on 127.0.0.1, records every request it receives and answers each
``POST .../responses`` with the next scripted reply, streamed as Server-Sent Events following the
event lifecycle of the Responses API (``response.created`` -> ``response.in_progress`` -> per item
``output_item.added`` / item events / ``output_item.done`` -> one terminal event).  Requests
without ``"stream": true`` get the final Response object as JSON instead, as at OpenAI.  Anything
else (``GET /models``, WebSocket upgrade attempts on ``GET .../responses``, ...) is recorded and
answered with 404.

Usage::

    async with FakeResponsesServer(
        [reply(function_call("exec_command", {"cmd": "echo hi"})), reply(text_message("done"))]
    ) as server:
        ...  # point a client at server.base_url
        assert server.responses_requests[1].items_of_type("function_call_output")

A script entry is either a ``ScriptedReply`` or a callable that receives the ``RecordedRequest``
and returns one (for replies that depend on the request).  When the script is exhausted the server
answers with ``default`` if given, else HTTP 500 (and counts it in ``exhausted``).

``strict=True`` makes it behave like the real OpenAI API for a gateway under test: every request
is checked by ``validate_request`` (unknown parameters, limits, tool names, input item shapes,
call/output pairing, reasoning items replayed with ``store: false``) and refused with OpenAI's
400 (recorded in ``rejections``) instead of being answered; a key is required (401);
``encrypted_content`` is sent only when ``include`` asks for it, and replayed reasoning must carry
one this server issued; ``GET .../models`` and ``POST .../responses/input_tokens`` are served.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gzip
import itertools
import json
import re
import socket
import time
import uuid
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal, NoReturn, Self, TypeAlias

from aiohttp import web

JSONDict: TypeAlias = dict[str, Any]
Terminal: TypeAlias = Literal["completed", "incomplete", "failed", "error", "none"]


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
    ``incomplete_reason``), ``failed`` (with ``error``), ``error`` (a top-level ``error`` event
    with ``error``'s code and message) or ``none`` (the stream just ends). ``cut_after`` keeps
    only that many events of the stream (a connection that ends mid-item).
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
    cut_after: int | None = None


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
    elif scripted.terminal == "error":
        events.append({"type": "error", "param": None, **scripted.error})
    if scripted.cut_after is not None:
        events = events[: scripted.cut_after]
    for sequence_number, event in enumerate(events):
        event["sequence_number"] = sequence_number
    return events


def encode_sse(event: JSONDict) -> bytes:
    """``event: <type>\\ndata: <json>\\n\\n``."""
    data = json.dumps(event, separators=(",", ":"))
    return f"event: {event['type']}\ndata: {data}\n\n".encode()


# --------------------------------------------------------------------------------------------------
# Validation (strict mode): what the real API refuses, with its wording where it is known


_TOP_LEVEL = frozenset(
    {
        "model", "input", "instructions", "tools", "tool_choice", "parallel_tool_calls",
        "max_output_tokens", "temperature", "top_p", "reasoning", "include", "store", "stream",
        "text", "metadata", "user", "safety_identifier", "prompt_cache_key", "service_tier",
        "truncation", "previous_response_id", "conversation", "prompt", "background",
        "top_logprobs", "max_tool_calls", "stream_options", "prompt_cache_retention",
    }
)  # fmt: skip
#: ``POST /v1/responses/input_tokens`` (openai-python ``input_token_count_params``).
COUNT_FIELDS = frozenset(
    {
        "model", "input", "instructions", "tools", "tool_choice", "parallel_tool_calls",
        "reasoning", "text", "truncation", "conversation", "previous_response_id", "personality",
    }
)  # fmt: skip
_FUNCTION_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh")
_SUMMARIES = ("auto", "concise", "detailed")
_INCLUDES = (
    "reasoning.encrypted_content", "message.output_text.logprobs", "file_search_call.results",
    "web_search_call.action.sources", "message.input_image.image_url",
    "computer_call_output.output.image_url", "code_interpreter_call.outputs",
)  # fmt: skip
_TIERS = ("auto", "default", "flex", "scale", "priority")
_INPUT_PARTS = ("input_text", "input_image", "input_file")
_OUTPUT_PARTS = ("output_text", "refusal")


class _Refused(Exception):
    pass


def _refuse(message: str) -> NoReturn:
    raise _Refused(message)


def _unknown(param: str) -> NoReturn:
    _refuse(f"Unknown parameter: '{param}'.")


def _check_part(part: Any, role: str, where: str) -> None:
    if not isinstance(part, dict):
        _refuse(f"Invalid type for '{where}': expected an object.")
    allowed = _OUTPUT_PARTS if role == "assistant" else _INPUT_PARTS
    ptype = part.get("type")
    if ptype not in allowed:
        _refuse(
            f"Invalid value: '{ptype}'. Supported values are: "
            + ", ".join(f"'{a}'" for a in allowed)
            + "."
        )
    if ptype in ("input_text", "output_text") and not isinstance(part.get("text"), str):
        _refuse(f"Missing required parameter: '{where}.text'.")
    if ptype == "input_image" and not (part.get("image_url") or part.get("file_id")):
        _refuse(f"Missing required parameter: '{where}.image_url'.")
    if ptype == "input_file" and not (
        part.get("file_data") or part.get("file_url") or part.get("file_id")
    ):
        _refuse(f"Missing required parameter: '{where}.file_data'.")


def _check_output(output: Any, where: str) -> None:
    if isinstance(output, str):
        return
    if not isinstance(output, list):
        _refuse(f"Invalid type for '{where}': expected a string or an array.")
    for k, part in enumerate(output):
        _check_part(part, "user", f"{where}[{k}]")


def _check_items(body: JSONDict, issued: Iterable[str]) -> None:
    items = body.get("input")
    if isinstance(items, str):
        return
    if not isinstance(items, list):
        _refuse("Invalid type for 'input': expected a string or an array.")
    stateless = body.get("store") is False
    known = set(issued)
    calls: dict[str, int] = {}
    answered: set[str] = set()
    for i, item in enumerate(items):
        where = f"input[{i}]"
        if not isinstance(item, dict):
            _refuse(f"Invalid type for '{where}': expected an object.")
        itype = item.get("type", "message")
        if stateless and item.get("id") is not None:
            _refuse(
                f"Item with id '{item['id']}' not found. Items are not persisted when `store` "
                "is set to false. Try again with `store` set to true, or remove this item from "
                "your input."
            )
        if itype == "message":
            role = item.get("role")
            if role not in ("user", "assistant", "system", "developer"):
                _refuse(
                    f"Invalid value: '{role}'. Supported values are: 'assistant', 'system', "
                    "'developer', and 'user'."
                )
            content = item.get("content")
            if isinstance(content, list):
                for k, part in enumerate(content):
                    _check_part(part, str(role), f"{where}.content[{k}]")
            elif not isinstance(content, str):
                _refuse(f"Missing required parameter: '{where}.content'.")
        elif itype == "function_call":
            for key in ("call_id", "name", "arguments"):
                if not isinstance(item.get(key), str):
                    _refuse(f"Missing required parameter: '{where}.{key}'.")
            calls[item["call_id"]] = i
        elif itype == "function_call_output":
            call_id = item.get("call_id")
            if call_id not in calls:
                _refuse(f"No tool call found for function call output with call_id {call_id}.")
            answered.add(str(call_id))
            _check_output(item.get("output"), f"{where}.output")
        elif itype == "reasoning":
            if not isinstance(item.get("summary"), list):
                _refuse(f"Missing required parameter: '{where}.summary'.")
            content = item.get("encrypted_content")
            if stateless and content is None:
                _refuse(f"Missing required parameter: '{where}.encrypted_content'.")
            if content is not None and content not in known:
                _refuse(f"The encrypted content for item {where} could not be verified.")
        else:
            _refuse(
                f"Invalid value: '{itype}'. Supported values are: 'message', "
                "'function_call', 'function_call_output', 'reasoning', ...."
            )
    for call_id in calls:
        if call_id not in answered:
            _refuse(f"No tool output found for function call {call_id}.")


def _check_tools(body: JSONDict) -> set[str]:
    names: set[str] = set()
    for i, tool in enumerate(body.get("tools") or []):
        if not isinstance(tool, dict) or tool.get("type") != "function":
            continue  # hosted tools: not modelled here
        name = tool.get("name")
        if not isinstance(name, str) or not _FUNCTION_NAME.fullmatch(name):
            _refuse(
                f"Invalid 'tools[{i}].name': string does not match pattern. Expected a string "
                "that matches the pattern '^[a-zA-Z0-9_-]+$' (at most 64 characters)."
            )
        if name in names:
            _refuse(f"Duplicate tool name: '{name}'.")
        if not isinstance(tool.get("parameters", {}), dict):
            _refuse(f"Invalid type for 'tools[{i}].parameters': expected an object.")
        names.add(name)
    return names


def _check_choice(body: JSONDict, names: set[str]) -> None:
    choice = body.get("tool_choice")
    if choice is None or choice in ("auto", "none", "required"):
        return
    if not isinstance(choice, dict) or choice.get("type") != "function":
        _refuse(f"Invalid value for 'tool_choice': {choice!r}.")
    if choice.get("name") not in names:
        _refuse(f"Tool choice '{choice.get('name')}' not found in 'tools' parameter.")


def validate_request(
    body: Any, *, issued: Iterable[str] = (), count_tokens: bool = False
) -> str | None:
    """The 400 message the real API would give ``body``, or None. ``issued``: the
    ``encrypted_content`` values this server handed out (the only ones it accepts back)."""
    try:
        if not isinstance(body, dict):
            _refuse("We could not parse the JSON body of your request.")
        for key in body:
            if key not in (COUNT_FIELDS if count_tokens else _TOP_LEVEL):
                _unknown(key)
        if not isinstance(body.get("model"), str):
            _refuse("Missing required parameter: 'model'.")
        tokens = body.get("max_output_tokens")
        if tokens is not None and (not isinstance(tokens, int) or tokens < 16):
            _refuse(
                "Invalid 'max_output_tokens': integer below minimum value. Expected a value >= "
                f"16, but got {tokens} instead."
            )
        for key, high in (("temperature", 2), ("top_p", 1)):
            value = body.get(key)
            if value is not None and not 0 <= value <= high:
                _refuse(f"Invalid '{key}': expected a number between 0 and {high}.")
        safety = body.get("safety_identifier")
        if safety is not None and (not isinstance(safety, str) or len(safety) > 64):
            _refuse(
                "Invalid 'safety_identifier': string too long. Expected a string with maximum "
                f"length 64, but got a string with length {len(str(safety))} instead."
            )
        reasoning = body.get("reasoning")
        if reasoning is not None:
            if reasoning.get("effort") not in (None, *_EFFORTS):
                _refuse(
                    f"Invalid value: '{reasoning['effort']}'. Supported values are: "
                    + ", ".join(f"'{e}'" for e in _EFFORTS)
                    + "."
                )
            if reasoning.get("summary") not in (None, *_SUMMARIES):
                _refuse(f"Invalid value: '{reasoning['summary']}' for 'reasoning.summary'.")
        for value in body.get("include") or []:
            if value not in _INCLUDES:
                _refuse(f"Invalid value: '{value}' for 'include'.")
        if body.get("service_tier") not in (None, *_TIERS):
            _refuse(f"Invalid value: '{body['service_tier']}' for 'service_tier'.")
        if "stream" in body and not isinstance(body["stream"], bool):
            _refuse("Invalid type for 'stream': expected a boolean.")
        names = _check_tools(body)
        _check_choice(body, names)
        _check_items(body, issued)
    except _Refused as e:
        return str(e)
    return None


MODELS: tuple[str, ...] = ("gpt-5.5", "gpt-5.5-mini", "o4-mini")


def models_listing() -> JSONDict:
    """``GET /v1/models`` as OpenAI answers it."""
    return {
        "object": "list",
        "data": [
            {"id": m, "object": "model", "created": 1_767_225_600 + i, "owned_by": "openai"}
            for i, m in enumerate(MODELS)
        ],
    }


def count_input_tokens(body: JSONDict) -> int:
    """A stable stand-in for the tokenizer: one token per four bytes of the JSON body."""
    return max(1, len(json.dumps(body, separators=(",", ":"))) // 4)


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
        strict: bool = False,
    ) -> None:
        self._script: deque[ScriptEntry] = deque(script)
        self.strict = strict
        #: 400 messages given to requests refused by ``validate_request`` (strict mode).
        self.rejections: list[str] = []
        #: ``encrypted_content`` values sent in reasoning items (strict mode accepts only these).
        self.issued: set[str] = set()
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

    def _as_requested(self, scripted: ScriptedReply, body: JSONDict) -> ScriptedReply:
        """Reasoning items carry ``encrypted_content`` only when ``include`` asks for it; the
        values sent are remembered (a replay must carry one of them)."""
        wanted = "reasoning.encrypted_content" in (body.get("include") or [])
        output: list[JSONDict] = []
        for item in scripted.output:
            if item.get("type") == "reasoning":
                item = dict(item)
                if not wanted:
                    item.pop("encrypted_content", None)
                elif item.get("encrypted_content"):
                    self.issued.add(str(item["encrypted_content"]))
            output.append(item)
        return dataclasses.replace(scripted, output=output)

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

    def _openai_error(
        self, status: int, message: str, *, code: str | None = None, headers: Any = None
    ) -> web.Response:
        if status == 400:
            self.rejections.append(message)
        error = {"message": message, "type": "invalid_request_error", "param": None, "code": code}
        return web.json_response({"error": error}, status=status, headers=headers)

    def _strict_checks(
        self, request: web.Request, recorded: RecordedRequest
    ) -> web.Response | None:
        auth = recorded.header("authorization") or ""
        if not auth.startswith("Bearer ") or not auth[7:].strip():
            return self._openai_error(
                401,
                "You didn't provide an API key. You need to provide your API key in an "
                "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
            )
        if request.method == "GET" and request.path.endswith("/models"):
            return web.json_response(models_listing())
        if request.method == "POST" and request.path.endswith("/responses/input_tokens"):
            problem = validate_request(recorded.body, issued=self.issued, count_tokens=True)
            if problem is not None:
                return self._openai_error(400, problem)
            return web.json_response(
                {
                    "object": "response.input_tokens",
                    "input_tokens": count_input_tokens(recorded.json),
                }
            )
        if request.method == "POST" and request.path.endswith("/responses"):
            problem = validate_request(recorded.body, issued=self.issued)
            if problem is not None:
                return self._openai_error(400, problem)
        return None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        recorded = await self._record(request)
        if self.strict:
            answered = self._strict_checks(request, recorded)
            if answered is not None:
                return answered
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
        if self.strict:
            scripted = self._as_requested(scripted, recorded.json)
        events = build_events(scripted, model=model, request=recorded.json)
        self.sent_events.append(events)
        if recorded.json.get("stream") is not True:  # absent means JSON, as at OpenAI
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
