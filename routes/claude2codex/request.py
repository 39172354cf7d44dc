"""Responses request -> Anthropic Messages request. Pure: JSON in, JSON-ready dict out.

The written rule for fields (README, "claude2codex: what is translated"):

* translated: model, instructions, input, tools, tool_choice, parallel_tool_calls,
  max_output_tokens, temperature, top_p, reasoning, text.format, include, stream, user,
  safety_identifier, service_tier, metadata (echoed only), prompt_cache_key (echoed only);
* accepted and ignored (no Anthropic meaning; say so, do not guess): store, truncation
  ("disabled"/"auto"), text.verbosity, stream_options, client_metadata, max_tool_calls,
  prompt_cache_retention, prompt_cache_options, context_management, top_logprobs 0;
* refused with 400 naming the field: previous_response_id, conversation, prompt, background
  true, top_logprobs > 0, item_reference input items, ``file_id`` image/file references;
* any other unknown top-level field: ignored (clients add fields every week).

Input items become alternating user/assistant turns (consecutive same-side items merge); tool
pairing is repaired so Anthropic never sees a ``tool_use`` without its ``tool_result`` or the
reverse; thinking blocks come back from reasoning envelopes, and thinking is turned off for
the request whenever the history could not satisfy Anthropic's thinking rules.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from typing import Any, Final

import msgspec

from llmproxy.config import ModelProfile
from llmproxy.errors import BadRequest
from routes.claude2codex.reasoning import ADAPTIVE_EFFORT, BUDGET_BY_EFFORT, Envelope
from routes.claude2codex.tools import ToolMap, sanitize_id

__all__ = ["ResponsesRequest", "Translated", "decode_request", "translate_request"]

_IMAGE_TYPES: Final = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
_DATA_URL: Final = re.compile(r"^data:([\w.+-]+/[\w.+-]+)?(;[^,]*)?,(.*)$", re.DOTALL)
_EFFORTS: Final = frozenset({"none", *BUDGET_BY_EFFORT})
_MIN_BUDGET: Final = 1024
#: Output room kept beside the thinking budget when the client set no max_output_tokens.
_ANSWER_ROOM: Final = 8192
_NO_OUTPUT: Final = "(no output)"
_NOT_EXECUTED: Final = "This tool call was not executed: the conversation has no result for it."
_CONTINUE: Final = "(continue)"

#: Hosted-tool history items with nothing to replay to Anthropic (their results live on as the
#: assistant's own text): dropped.
_DROPPED_ITEMS: Final = frozenset(
    {
        "web_search_call",
        "file_search_call",
        "image_generation_call",
        "code_interpreter_call",
        "computer_call",
        "computer_call_output",
        "mcp_list_tools",
        "mcp_approval_request",
        "mcp_approval_response",
        "mcp_call",
        "tool_search_call",
        "tool_search_output",
        "local_shell_call",
        "local_shell_call_output",
        "shell_call",
        "shell_call_output",
        "apply_patch_call",
        "apply_patch_call_output",
        "compaction",
        "compaction_trigger",
    }
)


class ResponsesRequest(msgspec.Struct, kw_only=True):
    """The request fields this route reads; unknown fields are ignored by design."""

    model: str
    input: str | list[Any] = msgspec.field(default_factory=list)
    instructions: str | None = None
    tools: list[Any] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    max_output_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    reasoning: dict[str, Any] | None = None
    text: dict[str, Any] | None = None
    include: list[str] | None = None
    stream: bool | None = False
    metadata: dict[str, str] | None = None
    user: str | None = None
    safety_identifier: str | None = None
    prompt_cache_key: str | None = None
    store: bool | None = None
    service_tier: str | None = None
    truncation: str | None = None
    previous_response_id: str | None = None
    conversation: Any = None
    prompt: Any = None
    background: bool | None = None
    top_logprobs: int | None = None
    max_tool_calls: int | None = None


class Echo(msgspec.Struct):
    """The client's own bytes for the fields a Response echoes."""

    instructions: msgspec.Raw = msgspec.Raw(b"null")
    tools: msgspec.Raw = msgspec.Raw(b"[]")
    tool_choice: msgspec.Raw = msgspec.Raw(b'"auto"')
    reasoning: msgspec.Raw = msgspec.Raw(b"null")
    text: msgspec.Raw = msgspec.Raw(b"null")
    metadata: msgspec.Raw = msgspec.Raw(b"{}")


_req_decoder: Final = msgspec.json.Decoder(ResponsesRequest)
_echo_decoder: Final = msgspec.json.Decoder(Echo)
_PATH: Final = re.compile(r"at `\$\.?(.*)`$")
_MISSING: Final = re.compile(r"missing required field `([^`]+)`")


def decode_request(body: bytes) -> tuple[ResponsesRequest, Echo]:
    if not body.strip():
        raise BadRequest("the request body is empty; expected a JSON object", param="body")
    try:
        req = _req_decoder.decode(body)
        echo = _echo_decoder.decode(body)
    except msgspec.ValidationError as e:
        m = _PATH.search(str(e))
        param = m.group(1) if m else None
        if missing := _MISSING.search(str(e)):  # name the missing field itself
            param = f"{param}.{missing.group(1)}" if param else missing.group(1)
        raise BadRequest(f"invalid request: {e}", param=param) from None
    except msgspec.DecodeError as e:
        raise BadRequest(f"the request body is not valid JSON: {e}", param="body") from None
    if echo.instructions == b"":
        echo.instructions = msgspec.Raw(b"null")
    return req, echo


@dataclass(slots=True)
class Translated:
    body: dict[str, Any]
    tools: ToolMap
    upstream_model: str
    thinking: bool
    #: Why thinking was turned off although the client asked for reasoning (for the log).
    thinking_off_reason: str | None = None
    summaries: bool = False
    dropped_items: list[str] = field(default_factory=list)


@dataclass(slots=True)
class _Turn:
    role: str
    blocks: list[dict[str, Any]]


class _Builder:
    """Accumulates turns, merging consecutive blocks of the same side."""

    def __init__(self) -> None:
        self.turns: list[_Turn] = []
        self.system: list[dict[str, Any]] = []
        self.seen_conversation = False

    def add(self, role: str, block: dict[str, Any]) -> None:
        self.seen_conversation = True
        if self.turns and self.turns[-1].role == role:
            self.turns[-1].blocks.append(block)
        else:
            self.turns.append(_Turn(role, [block]))


def _text_of(content: object, param: str, *, roles_text: tuple[str, ...]) -> list[str]:
    """The texts of a system/developer message's content."""
    if isinstance(content, str):
        return [content]
    if not isinstance(content, list):
        raise BadRequest("content must be a string or an array of parts", param=param)
    out: list[str] = []
    for i, part in enumerate(content):
        if not isinstance(part, dict) or part.get("type") not in roles_text:
            raise BadRequest(
                "system and developer messages may only contain text parts",
                param=f"{param}[{i}]",
            )
        text = part.get("text")
        if not isinstance(text, str):
            raise BadRequest("a text part needs a string text", param=f"{param}[{i}].text")
        out.append(text)
    return out


def _image_block(part: dict[str, Any], param: str) -> dict[str, Any]:
    url = part.get("image_url")
    if isinstance(url, dict):  # chat-style {"url": ...}
        url = url.get("url")
    if not isinstance(url, str) or not url:
        if part.get("file_id"):
            raise BadRequest(
                "file_id images are not supported (the gateway keeps no files); send the image "
                "as a data URL or an https URL",
                param=f"{param}.file_id",
            )
        raise BadRequest("an input_image needs an image_url", param=f"{param}.image_url")
    if url.startswith("data:"):
        m = _DATA_URL.match(url)
        if not m or not (m.group(2) or "").endswith(";base64"):
            raise BadRequest("image data URLs must be base64-encoded", param=f"{param}.image_url")
        media = (m.group(1) or "").lower()
        if media == "image/jpg":
            media = "image/jpeg"
        if media not in _IMAGE_TYPES:
            raise BadRequest(
                f"unsupported image type {media or 'unknown'!r}; the upstream accepts "
                "image/jpeg, image/png, image/gif and image/webp",
                param=f"{param}.image_url",
            )
        data = m.group(3)
        try:
            base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise BadRequest(
                "the image data URL is not valid base64", param=f"{param}.image_url"
            ) from None
        return {"type": "image", "source": {"type": "base64", "media_type": media, "data": data}}
    if url.startswith("https://") or url.startswith("http://"):
        return {"type": "image", "source": {"type": "url", "url": url}}
    raise BadRequest("image_url must be a data URL or an http(s) URL", param=f"{param}.image_url")


def _file_block(part: dict[str, Any], param: str) -> dict[str, Any]:
    title = part.get("filename")
    block: dict[str, Any]
    data = part.get("file_data")
    url = part.get("file_url")
    if isinstance(data, str) and data:
        m = _DATA_URL.match(data)
        media = (m.group(1) or "").lower() if m else "application/pdf"
        payload = m.group(3) if m else data
        if media == "application/pdf":
            block = {
                "type": "document",
                "source": {"type": "base64", "media_type": "application/pdf", "data": payload},
            }
        elif media.startswith("text/"):
            try:
                text = base64.b64decode(payload).decode("utf-8")
            except (binascii.Error, ValueError):
                raise BadRequest(
                    "file_data is not valid base64 text", param=f"{param}.file_data"
                ) from None
            block = {
                "type": "document",
                "source": {"type": "text", "media_type": "text/plain", "data": text},
            }
        else:
            raise BadRequest(
                f"unsupported file type {media!r}; the upstream accepts PDF and text files",
                param=f"{param}.file_data",
            )
    elif isinstance(url, str) and url.startswith(("https://", "http://")):
        block = {"type": "document", "source": {"type": "url", "url": url}}
    elif part.get("file_id"):
        raise BadRequest(
            "file_id files are not supported (the gateway keeps no files); send file_data or "
            "file_url",
            param=f"{param}.file_id",
        )
    else:
        raise BadRequest("an input_file needs file_data or file_url", param=param)
    if isinstance(title, str) and title:
        block["title"] = title
    return block


def _content_blocks(content: object, param: str, *, assistant: bool) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content.strip() else []
    if not isinstance(content, list):
        raise BadRequest("content must be a string or an array of parts", param=param)
    blocks: list[dict[str, Any]] = []
    for i, part in enumerate(content):
        p = f"{param}[{i}]"
        if not isinstance(part, dict):
            raise BadRequest("each content part must be an object", param=p)
        ptype = part.get("type")
        if ptype in ("input_text", "output_text", "text", "summary_text"):
            text = part.get("text")
            if not isinstance(text, str):
                raise BadRequest("a text part needs a string text", param=f"{p}.text")
            if text.strip():
                blocks.append({"type": "text", "text": text})
        elif ptype == "refusal":
            text = part.get("refusal")
            if isinstance(text, str) and text.strip():
                blocks.append({"type": "text", "text": text})
        elif ptype == "input_image" and not assistant:
            blocks.append(_image_block(part, p))
        elif ptype == "input_file" and not assistant:
            blocks.append(_file_block(part, p))
        else:
            side = "assistant" if assistant else "user"
            raise BadRequest(f"unsupported content part {ptype!r} in a {side} message", param=p)
    return blocks


def _tool_result_content(output: object, param: str) -> str | list[dict[str, Any]]:
    if isinstance(output, str):
        return output if output.strip() else _NO_OUTPUT
    if isinstance(output, dict):  # legacy {"content": ..., "success": ...}
        inner = output.get("content", output.get("output"))
        if inner is not None and inner is not output:
            return _tool_result_content(inner, param)
        return msgspec.json.encode(output).decode()
    if isinstance(output, list):
        blocks = _content_blocks(output, param, assistant=False)
        return blocks or _NO_OUTPUT
    if output is None:
        return _NO_OUTPUT
    return msgspec.json.encode(output).decode()


def _parse_arguments(arguments: object) -> dict[str, Any]:
    if isinstance(arguments, dict):
        return arguments
    if not isinstance(arguments, str) or not arguments.strip():
        return {}
    try:
        value = msgspec.json.decode(arguments)
    except msgspec.DecodeError:
        # Not JSON (a model that emitted broken arguments): keep the text, do not lose it.
        return {"_raw_arguments": arguments}
    return value if isinstance(value, dict) else {"value": value}


@dataclass(slots=True)
class _Ctx:
    tools: ToolMap
    envelope: Envelope
    model: str
    reasoning_dropped: int = 0
    dropped: list[str] = field(default_factory=list)
    #: Client call_id -> the tool_use id of its latest call. Anthropic wants tool_use ids
    #: unique in the request; clients may reuse a call_id, and sanitising can collide.
    call_ids: dict[str, str] = field(default_factory=dict)
    tool_use_ids: set[str] = field(default_factory=set)


def _convert_items(items: list[Any], ctx: _Ctx, b: _Builder) -> None:
    for i, item in enumerate(items):
        p = f"input[{i}]"
        if not isinstance(item, dict):
            raise BadRequest("each input item must be an object", param=p)
        itype = item.get("type")
        if itype is None and "role" in item:
            itype = "message"
        if itype == "message":
            _convert_message(item, p, b)
        elif itype == "reasoning":
            blocks = ctx.envelope.open(item.get("encrypted_content"), ctx.model)
            if blocks is not None and any(
                b.get("type") == "thinking" and not b.get("signature") for b in blocks
            ):
                blocks = None  # unsigned thinking (a cut stream): the upstream would refuse it
            if blocks is None:
                ctx.reasoning_dropped += 1
            else:
                for block in blocks:
                    b.add("assistant", block)
        elif itype in ("function_call", "custom_tool_call"):
            call_id = item.get("call_id")
            name = item.get("name")
            if not isinstance(call_id, str) or not isinstance(name, str):
                raise BadRequest(f"a {itype} item needs call_id and name", param=p)
            ns = item.get("namespace") if isinstance(item.get("namespace"), str) else None
            if itype == "function_call":
                tool_input = _parse_arguments(item.get("arguments"))
            else:
                raw = item.get("input")
                tool_input = {"input": raw if isinstance(raw, str) else ""}
            tool_id = base_id = sanitize_id(call_id)
            n = 2
            while tool_id in ctx.tool_use_ids:
                tool_id, n = f"{base_id}_{n}", n + 1
            ctx.tool_use_ids.add(tool_id)
            ctx.call_ids[call_id] = tool_id
            b.add(
                "assistant",
                {
                    "type": "tool_use",
                    "id": tool_id,
                    "name": ctx.tools.anthropic_name(name, ns),
                    "input": tool_input,
                },
            )
        elif itype in ("function_call_output", "custom_tool_call_output"):
            call_id = item.get("call_id")
            if not isinstance(call_id, str):
                raise BadRequest(f"a {itype} item needs a call_id", param=f"{p}.call_id")
            output = item.get("output")
            result: dict[str, Any] = {
                "type": "tool_result",
                "tool_use_id": ctx.call_ids.get(call_id, sanitize_id(call_id)),
                "content": _tool_result_content(output, f"{p}.output"),
            }
            if isinstance(output, dict) and output.get("success") is False:
                result["is_error"] = True
            if call_id not in ctx.call_ids:
                # No call before it: an orphan, kept as text (its sanitised id could match
                # another call's).
                b.add("user", {"type": "text", "text": _orphan_text(result)})
            else:
                b.add("user", result)
        elif itype == "additional_tools":
            tools = item.get("tools")
            if not isinstance(tools, list):
                raise BadRequest("additional_tools needs a tools array", param=f"{p}.tools")
            for j, tool in enumerate(tools):
                ctx.tools.add(tool, f"{p}.tools[{j}]")
        elif itype == "item_reference":
            raise BadRequest(
                "item_reference needs stored responses; this gateway keeps no state, so send "
                "the full items instead",
                param=p,
                code="unsupported_parameter",
            )
        elif isinstance(itype, str) and itype in _DROPPED_ITEMS:
            ctx.dropped.append(itype)
        else:
            raise BadRequest(f"unsupported input item type {itype!r}", param=f"{p}.type")


def _convert_message(item: dict[str, Any], p: str, b: _Builder) -> None:
    role = item.get("role")
    content = item.get("content")
    if role in ("system", "developer"):
        texts = [
            t
            for t in _text_of(
                content, f"{p}.content", roles_text=("input_text", "text", "output_text")
            )
            if t.strip()
        ]
        if not b.seen_conversation:
            b.system.extend({"type": "text", "text": t} for t in texts)
        else:
            # A mid-conversation instruction: a user-side reminder keeps the turn order valid
            # and the cached prefix stable.
            for t in texts:
                b.add(
                    "user", {"type": "text", "text": f"<system-reminder>\n{t}\n</system-reminder>"}
                )
    elif role == "user":
        for block in _content_blocks(content, f"{p}.content", assistant=False):
            b.add("user", block)
        b.seen_conversation = True
    elif role == "assistant":
        for block in _content_blocks(content, f"{p}.content", assistant=True):
            b.add("assistant", block)
        b.seen_conversation = True
    else:
        raise BadRequest(
            f"unsupported role {role!r}; use user, assistant, system or developer",
            param=f"{p}.role",
        )


def _repair(turns: list[_Turn]) -> list[_Turn]:
    """Make tool pairing valid: every tool_use answered in the next user turn (tool_results
    first), every tool_result answering a tool_use of the turn right before it."""
    out: list[_Turn] = []
    for idx, turn in enumerate(turns):
        if turn.role == "user":
            prev_ids: set[str] = set()
            if out and out[-1].role == "assistant":
                prev_ids = {blk["id"] for blk in out[-1].blocks if blk.get("type") == "tool_use"}
            results: list[dict[str, Any]] = []
            others: list[dict[str, Any]] = []
            answered: set[str] = set()
            for blk in turn.blocks:
                if blk.get("type") != "tool_result":
                    others.append(blk)
                    continue
                tid = blk["tool_use_id"]
                if tid in prev_ids and tid not in answered:
                    answered.add(tid)
                    results.append(blk)
                else:
                    # An orphan (or duplicate) result: keep what it says as plain text.
                    others.append({"type": "text", "text": _orphan_text(blk)})
            missing = [i for i in _ordered_ids(out[-1]) if i not in answered] if prev_ids else []
            results.extend(_not_executed(i) for i in missing)
            blocks = results + others
            if blocks:
                out.append(_Turn("user", blocks))
        else:
            if out and out[-1].role == "assistant":  # can happen after dropping empty turns
                out[-1].blocks.extend(turn.blocks)
            else:
                out.append(_Turn("assistant", list(turn.blocks)))
            nxt = turns[idx + 1] if idx + 1 < len(turns) else None
            if nxt is None and any(blk.get("type") == "tool_use" for blk in turn.blocks):
                # The history ends on unanswered calls: answer them, so the model can go on.
                out.append(_Turn("user", [_not_executed(i) for i in _ordered_ids(out[-1])]))
    return out


def _ordered_ids(turn: _Turn) -> list[str]:
    return [blk["id"] for blk in turn.blocks if blk.get("type") == "tool_use"]


def _not_executed(tool_use_id: str) -> dict[str, Any]:
    return {
        "type": "tool_result",
        "tool_use_id": tool_use_id,
        "content": _NOT_EXECUTED,
        "is_error": True,
    }


def _orphan_text(blk: dict[str, Any]) -> str:
    content = blk.get("content")
    if isinstance(content, list):
        content = "\n".join(c.get("text", "") for c in content if c.get("type") == "text")
    return f"[result of tool call {blk['tool_use_id']}]\n{content}"


def _thinking_ok(turns: list[_Turn]) -> bool:
    """Anthropic: with thinking on, the assistant turn before the last tool_result turn (the
    current tool loop) must start with a thinking or redacted_thinking block."""
    if len(turns) < 2 or turns[-1].role != "user":
        return True
    if not any(blk.get("type") == "tool_result" for blk in turns[-1].blocks):
        return True
    last_assistant = turns[-2]
    return last_assistant.blocks[0].get("type") in ("thinking", "redacted_thinking")


def _strip_thinking(turns: list[_Turn]) -> list[_Turn]:
    out: list[_Turn] = []
    for t in turns:
        blocks = [b for b in t.blocks if b.get("type") not in ("thinking", "redacted_thinking")]
        if not blocks:
            continue
        if out and out[-1].role == t.role:
            out[-1].blocks.extend(blocks)
        else:
            out.append(_Turn(t.role, blocks))
    return out


def _tool_choice(
    choice: str | dict[str, Any] | None, tools: ToolMap, parallel: bool | None
) -> tuple[dict[str, Any] | None, bool]:
    """The Anthropic tool_choice, and whether it forces a tool (thinking must then be off)."""
    if not tools.tools:
        return None, False
    out: dict[str, Any]
    forced = False
    if choice is None or choice == "auto":
        out = {"type": "auto"}
    elif choice == "none":
        return {"type": "none"}, False
    elif choice == "required":
        out, forced = {"type": "any"}, True
    elif isinstance(choice, dict):
        ctype = choice.get("type")
        if ctype in ("function", "custom"):
            name = choice.get("name")
            if not isinstance(name, str) or (None, name) not in tools.by_client:
                raise BadRequest(
                    f"tool_choice names {name!r}, which is not among the tools",
                    param="tool_choice.name",
                )
            out, forced = {"type": "tool", "name": tools.anthropic_name(name, None)}, True
        elif ctype == "allowed_tools":
            allowed = choice.get("tools")
            if not isinstance(allowed, list) or not allowed:
                raise BadRequest("allowed_tools needs a tools array", param="tool_choice.tools")
            keep: set[str] = set()
            for t in allowed:
                if isinstance(t, dict) and isinstance(t.get("name"), str):
                    ns = t.get("namespace") if isinstance(t.get("namespace"), str) else None
                    keep.add(tools.anthropic_name(t["name"], ns))
            tools.tools = [t for t in tools.tools if t["name"] in keep]
            if not tools.tools:
                raise BadRequest(
                    "allowed_tools names none of the request's tools", param="tool_choice.tools"
                )
            if choice.get("mode") == "required":
                out, forced = {"type": "any"}, True
            else:
                out = {"type": "auto"}
        else:
            raise BadRequest(
                f"tool_choice type {ctype!r} has no equivalent on this upstream",
                param="tool_choice.type",
            )
    else:
        raise BadRequest(f"unsupported tool_choice {choice!r}", param="tool_choice")
    if parallel is False:
        out["disable_parallel_tool_use"] = True
    return out, forced


def _refuse_stateful(req: ResponsesRequest) -> None:
    if req.previous_response_id:
        raise BadRequest(
            "previous_response_id is not supported: this gateway keeps no conversation state; "
            "send the whole conversation in input (store: false)",
            param="previous_response_id",
            code="unsupported_parameter",
        )
    if req.conversation:
        raise BadRequest(
            "conversation is not supported: this gateway keeps no conversation state",
            param="conversation",
            code="unsupported_parameter",
        )
    if req.prompt:
        raise BadRequest(
            "stored prompt templates are not supported; send instructions and input",
            param="prompt",
            code="unsupported_parameter",
        )
    if req.background:
        raise BadRequest(
            "background responses are not supported (they need stored responses)",
            param="background",
            code="unsupported_parameter",
        )
    if req.top_logprobs:
        raise BadRequest(
            "logprobs are not available from this upstream",
            param="top_logprobs",
            code="unsupported_parameter",
        )


def translate_request(
    req: ResponsesRequest,
    *,
    upstream_model: str,
    profile: ModelProfile,
    envelope: Envelope,
) -> Translated:
    _refuse_stateful(req)
    tools = ToolMap()
    for i, tool in enumerate(req.tools or []):
        tools.add(tool, f"tools[{i}]")
    ctx = _Ctx(tools=tools, envelope=envelope, model=upstream_model)
    b = _Builder()
    if req.instructions and req.instructions.strip():
        b.system.append({"type": "text", "text": req.instructions})
    if isinstance(req.input, str):
        if req.input.strip():
            b.add("user", {"type": "text", "text": req.input})
    else:
        _convert_items(req.input, ctx, b)
    turns = _repair(b.turns)
    if not turns:
        raise BadRequest("input has no message with content to send", param="input")

    # -- thinking ---------------------------------------------------------------------------
    effort: str | None = None
    summaries = False
    if req.reasoning is not None:
        raw_effort = req.reasoning.get("effort")
        if raw_effort is not None and raw_effort not in _EFFORTS:
            raise BadRequest(f"unknown reasoning effort {raw_effort!r}", param="reasoning.effort")
        effort = raw_effort or "medium"
        summary = req.reasoning.get("summary") or req.reasoning.get("generate_summary")
        summaries = summary in ("auto", "concise", "detailed")
    thinking = effort not in (None, "none") and profile.thinking != "none"
    off_reason: str | None = None

    limit = profile.max_tokens_limit
    if req.max_output_tokens is not None:
        if req.max_output_tokens < 1:
            raise BadRequest("max_output_tokens must be at least 1", param="max_output_tokens")
        max_tokens = min(req.max_output_tokens, limit)
    else:
        max_tokens = min(profile.default_max_tokens, limit)

    tool_choice, forced = _tool_choice(req.tool_choice, tools, req.parallel_tool_calls)
    if thinking and forced:
        thinking, off_reason = False, "tool_choice forces a tool"
    if thinking and ctx.reasoning_dropped:
        thinking, off_reason = False, "reasoning items from elsewhere could not be restored"
    if thinking and not _thinking_ok(turns):
        thinking, off_reason = False, "the current tool loop has no thinking block"
    if thinking and turns[-1].role == "assistant":
        thinking, off_reason = False, "the input ends with an assistant prefill"

    body: dict[str, Any] = {"model": upstream_model, "max_tokens": max_tokens}
    if thinking and profile.thinking == "budget":
        assert effort is not None
        budget = BUDGET_BY_EFFORT[effort]
        if req.max_output_tokens is None and max_tokens < budget + _ANSWER_ROOM:
            max_tokens = min(limit, budget + _ANSWER_ROOM)
            body["max_tokens"] = max_tokens
        budget = min(budget, max_tokens - 1)
        if budget < _MIN_BUDGET:
            thinking, off_reason = False, "max_output_tokens leaves no room for thinking"
        else:
            body["thinking"] = {"type": "enabled", "budget_tokens": budget}
    elif thinking:
        assert effort is not None
        body["thinking"] = {"type": "adaptive"}
        body["output_config"] = {"effort": ADAPTIVE_EFFORT[effort]}
    if not thinking:
        turns = _strip_thinking(turns)
        if not turns:
            raise BadRequest("input has no message with content to send", param="input")
    if turns[0].role != "user":
        turns.insert(0, _Turn("user", [{"type": "text", "text": _CONTINUE}]))
    if turns[-1].role == "assistant":
        last = turns[-1].blocks[-1]
        if last.get("type") == "text":
            last["text"] = last["text"].rstrip()  # Anthropic refuses trailing whitespace

    if b.system:
        body["system"] = b.system
    body["messages"] = [{"role": t.role, "content": t.blocks} for t in turns]
    if tools.tools:
        body["tools"] = tools.tools
        if tool_choice is not None:
            body["tool_choice"] = tool_choice
    elif any(blk.get("type") in ("tool_use", "tool_result") for t in turns for blk in t.blocks):
        # History with tool blocks needs tools defined: declare the ones it used, unusable.
        names = sorted(
            {blk["name"] for t in turns for blk in t.blocks if blk.get("type") == "tool_use"}
        )
        body["tools"] = [
            {"name": n, "input_schema": {"type": "object", "properties": {}}} for n in names
        ] or [{"name": "unused", "input_schema": {"type": "object", "properties": {}}}]
        body["tool_choice"] = {"type": "none"}

    # -- sampling -------------------------------------------------------------------------------
    if profile.sampling:
        temperature = None if req.temperature is None else min(max(req.temperature, 0.0), 1.0)
        top_p = req.top_p
        if thinking:
            temperature = None  # only 1 is accepted with thinking; omit = 1
            if top_p is not None and top_p < 0.95:
                top_p = None
        if profile.one_sampling_param and temperature is not None and top_p is not None:
            top_p = None
        if temperature is not None:
            body["temperature"] = temperature
        if top_p is not None:
            body["top_p"] = top_p

    # -- output format ------------------------------------------------------------------------
    fmt = (req.text or {}).get("format")
    if isinstance(fmt, dict):
        ftype = fmt.get("type")
        if ftype == "json_schema":
            schema = fmt.get("schema")
            if not isinstance(schema, dict):
                raise BadRequest("json_schema format needs a schema", param="text.format.schema")
            body.setdefault("output_config", {})["format"] = {
                "type": "json_schema",
                "schema": schema,
            }
        elif ftype == "json_object":
            body.setdefault("system", []).append(
                {
                    "type": "text",
                    "text": "Respond with a single valid JSON object and nothing else.",
                }
            )
        elif ftype not in (None, "text"):
            raise BadRequest(f"unsupported text.format type {ftype!r}", param="text.format.type")

    user_id = req.safety_identifier or req.user
    if user_id:
        body["metadata"] = {"user_id": user_id[:256]}
    if req.service_tier in ("priority", "fast", "ultrafast"):
        body["service_tier"] = "auto"
    elif req.service_tier in ("default", "flex", "scale"):
        body["service_tier"] = "standard_only"
    body["stream"] = True
    return Translated(
        body=body,
        tools=tools,
        upstream_model=upstream_model,
        thinking=thinking,
        thinking_off_reason=off_reason if effort not in (None, "none") else None,
        summaries=summaries,
        dropped_items=ctx.dropped + tools.dropped,
    )
