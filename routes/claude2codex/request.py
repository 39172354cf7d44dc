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

import re
from dataclasses import dataclass, field
from typing import Any, Final

import msgspec

from llmproxy.config import ModelProfile
from llmproxy.dialects.anthropic_request import (
    EFFORTS,
    NO_OUTPUT,
    Conversation,
    declare_history_tools,
    document_block,
    finish_turns,
    image_block,
    plan_thinking,
    repair_tool_pairing,
    sampling_params,
    strip_thinking,
    thinking_ok,
    tool_input as parse_tool_input,
)
from llmproxy.envelope import Envelope
from llmproxy.errors import BadRequest
from routes.claude2codex.tools import ToolMap

__all__ = ["ResponsesRequest", "Translated", "decode_request", "translate_request"]


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
    return image_block(url, f"{param}.image_url")


def _file_block(part: dict[str, Any], param: str) -> dict[str, Any]:
    if part.get("file_id") and not part.get("file_data") and not part.get("file_url"):
        raise BadRequest(
            "file_id files are not supported (the gateway keeps no files); send file_data or "
            "file_url",
            param=f"{param}.file_id",
        )
    data, url, title = part.get("file_data"), part.get("file_url"), part.get("filename")
    return document_block(
        data=data if isinstance(data, str) else None,
        url=url if isinstance(url, str) else None,
        title=title if isinstance(title, str) else None,
        param=f"{param}.file_data" if data else param,
    )


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
        return output if output.strip() else NO_OUTPUT
    if isinstance(output, dict):  # legacy {"content": ..., "success": ...}
        inner = output.get("content", output.get("output"))
        if inner is not None and inner is not output:
            return _tool_result_content(inner, param)
        return msgspec.json.encode(output).decode()
    if isinstance(output, list):
        blocks = _content_blocks(output, param, assistant=False)
        return blocks or NO_OUTPUT
    if output is None:
        return NO_OUTPUT
    return msgspec.json.encode(output).decode()


@dataclass(slots=True)
class _Ctx:
    tools: ToolMap
    envelope: Envelope
    model: str
    reasoning_dropped: int = 0
    dropped: list[str] = field(default_factory=list)


def _convert_items(items: list[Any], ctx: _Ctx, b: Conversation) -> None:
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
                blk.get("type") == "thinking" and not blk.get("signature") for blk in blocks
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
                tool_input = parse_tool_input(item.get("arguments"))
            else:
                raw = item.get("input")
                tool_input = {"input": raw if isinstance(raw, str) else ""}
            b.add_tool_use(call_id, ctx.tools.anthropic_name(name, ns), tool_input)
        elif itype in ("function_call_output", "custom_tool_call_output"):
            call_id = item.get("call_id")
            if not isinstance(call_id, str):
                raise BadRequest(f"a {itype} item needs a call_id", param=f"{p}.call_id")
            output = item.get("output")
            b.add_tool_result(
                call_id,
                _tool_result_content(output, f"{p}.output"),
                is_error=isinstance(output, dict) and output.get("success") is False,
            )
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


def _convert_message(item: dict[str, Any], p: str, b: Conversation) -> None:
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
    b = Conversation()
    if req.instructions and req.instructions.strip():
        b.system.append({"type": "text", "text": req.instructions})
    if isinstance(req.input, str):
        if req.input.strip():
            b.add("user", {"type": "text", "text": req.input})
    else:
        _convert_items(req.input, ctx, b)
    turns = repair_tool_pairing(b.turns)
    if not turns:
        raise BadRequest("input has no message with content to send", param="input")

    # -- thinking ---------------------------------------------------------------------------
    effort: str | None = None
    summaries = False
    if req.reasoning is not None:
        raw_effort = req.reasoning.get("effort")
        if raw_effort is not None and (
            not isinstance(raw_effort, str) or raw_effort not in EFFORTS
        ):
            raise BadRequest(f"unknown reasoning effort {raw_effort!r}", param="reasoning.effort")
        effort = raw_effort or "medium"
        summary = req.reasoning.get("summary") or req.reasoning.get("generate_summary")
        summaries = summary in ("auto", "concise", "detailed")
    if req.max_output_tokens is not None and req.max_output_tokens < 1:
        raise BadRequest("max_output_tokens must be at least 1", param="max_output_tokens")
    tool_choice, forced = _tool_choice(req.tool_choice, tools, req.parallel_tool_calls)
    blocked: str | None = None
    if forced:
        blocked = "tool_choice forces a tool"
    elif ctx.reasoning_dropped:
        blocked = "reasoning items from elsewhere could not be restored"
    elif not thinking_ok(turns):
        blocked = "the current tool loop has no thinking block"
    elif turns[-1].role == "assistant":
        blocked = "the input ends with an assistant prefill"
    plan = plan_thinking(effort, profile, req.max_output_tokens, blocked=blocked)
    thinking = plan.on
    body: dict[str, Any] = {"model": upstream_model, "max_tokens": plan.max_tokens}
    if plan.thinking is not None:
        body["thinking"] = plan.thinking
    if plan.output_config is not None:
        body["output_config"] = plan.output_config
    if not thinking:
        turns = strip_thinking(turns)
        if not turns:
            raise BadRequest("input has no message with content to send", param="input")
    if b.system:
        body["system"] = b.system
    body["messages"] = finish_turns(turns)
    if tools.tools:
        body["tools"] = tools.tools
        if tool_choice is not None:
            body["tool_choice"] = tool_choice
    declare_history_tools(body, turns)
    body.update(sampling_params(profile, req.temperature, req.top_p, thinking=thinking))

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
        thinking_off_reason=plan.off_reason,
        summaries=summaries,
        dropped_items=ctx.dropped + tools.dropped,
    )
