"""Responses request -> Anthropic Messages request. Pure: JSON in, JSON-ready dict out.

The written rule for fields (README, "claude2codex: what is translated"):

* translated: model, instructions, input, tools, tool_choice, parallel_tool_calls,
  max_output_tokens, temperature, top_p, reasoning, text.format, include, stream, user,
  safety_identifier, service_tier, prompt_cache_retention and prompt_cache_options (cache
  breakpoints, ``llmproxy.dialects.anthropic_cache``), metadata (echoed only),
  prompt_cache_key (echoed only);
* accepted and ignored (no Anthropic meaning; say so, do not guess): store, truncation
  ("disabled"/"auto"), text.verbosity, stream_options, client_metadata, max_tool_calls,
  context_management, top_logprobs 0;
* refused with 400 naming the field: previous_response_id, conversation, prompt, background
  true, top_logprobs > 0, item_reference input items, ``file_id`` image/file references;
* any other unknown top-level field: ignored (clients add fields every week).

Input items become alternating user/assistant turns (consecutive same-side items merge); tool
pairing is repaired so Anthropic never sees a ``tool_use`` without its ``tool_result`` or the
reverse; thinking blocks come back from reasoning envelopes, and thinking is turned off for
the request whenever the history could not satisfy Anthropic's thinking rules.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

import msgspec

from llmproxy.config import ModelProfile
from llmproxy.dialects.anthropic_cache import place_breakpoints
from llmproxy.dialects.anthropic_providers import (
    GENERIC,
    ProviderProfile,
    structured_outputs_ok,
)
from llmproxy.dialects.anthropic_request import (
    EFFORTS,
    JSON_OBJECT_INSTRUCTION,
    NO_OUTPUT,
    Conversation,
    declare_history_tools,
    document_block,
    every_tool_turn_thinks,
    finish_turns,
    image_block,
    media_note,
    parse_arguments,
    plan_thinking,
    provider_sampling,
    repair_tool_pairing,
    sampling_params,
    schema_instruction,
    strip_thinking,
    thinking_ok,
)
from llmproxy.dialects.anthropic_schema import strict_schema
from llmproxy.dialects.body import decode_body
from llmproxy.envelope import Envelope
from llmproxy.errors import BadRequest
from routes.claude2codex.tools import WEB_SEARCH, WEB_SEARCH_TYPES, ToolMap

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
    prompt_cache_retention: str | None = None
    prompt_cache_options: dict[str, Any] | None = None


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


def decode_request(body: bytes) -> tuple[ResponsesRequest, Echo]:
    req = decode_body(_req_decoder, body)
    echo = _echo_decoder.decode(body)  # valid JSON by now; every Echo field takes any value
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
    #: Hosted tools dropped by the written rule (``tools.DROPPED_TOOL_TYPES`` names).
    dropped_tools: list[str] = field(default_factory=list)
    #: The client asked for ``web_search_call.action.sources``.
    search_sources: bool = False
    #: How ``text.format`` travels: ``native`` (output_config.format), ``instruction``, None.
    output_format: str | None = None


#: Texts of system/developer message parts, with the client's cache breakpoint per part.
_TEXT_PARTS: Final = ("input_text", "text", "output_text")
_CACHE_MARK: Final = {"type": "ephemeral"}


def _breakpoint(part: dict[str, Any]) -> bool:
    """``input_text.prompt_cache_breakpoint`` (``{"mode": "explicit"}``): the client asks for a
    cache breakpoint after this part."""
    return isinstance(part.get("prompt_cache_breakpoint"), dict)


def _text_of(content: object, param: str) -> list[tuple[str, bool]]:
    """The texts of a system/developer message's content, each with its breakpoint flag."""
    if isinstance(content, str):
        return [(content, False)]
    if not isinstance(content, list):
        raise BadRequest("content must be a string or an array of parts", param=param)
    out: list[tuple[str, bool]] = []
    for i, part in enumerate(content):
        if not isinstance(part, dict) or part.get("type") not in _TEXT_PARTS:
            raise BadRequest(
                "system and developer messages may only contain text parts",
                param=f"{param}[{i}]",
            )
        text = part.get("text")
        if not isinstance(text, str):
            raise BadRequest("a text part needs a string text", param=f"{param}[{i}].text")
        out.append((text, _breakpoint(part)))
    return out


def _text_block(text: str, mark: bool) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "text", "text": text}
    if mark:
        block["cache_control"] = dict(_CACHE_MARK)
    return block


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


def _content_blocks(
    content: object, param: str, *, assistant: bool, provider: ProviderProfile = GENERIC
) -> list[dict[str, Any]]:
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
                blocks.append(_text_block(text, _breakpoint(part)))
        elif ptype == "refusal":
            text = part.get("refusal")
            if isinstance(text, str) and text.strip():
                blocks.append({"type": "text", "text": text})
        elif ptype == "input_image" and not assistant:
            # Validated even when the upstream takes no images: a bad part is the client's
            # error whatever the upstream. ``detail`` has no Anthropic counterpart: ignored.
            image = _image_block(part, p)
            blocks.append(image if provider.images else media_note("image", provider))
        elif ptype == "input_file" and not assistant:
            document = _file_block(part, p)
            blocks.append(document if provider.documents else media_note("document", provider))
        else:
            side = "assistant" if assistant else "user"
            raise BadRequest(f"unsupported content part {ptype!r} in a {side} message", param=p)
    return blocks


def _tool_result_content(
    output: object, param: str, provider: ProviderProfile = GENERIC
) -> str | list[dict[str, Any]]:
    """A tool output: a string, or content parts (Codex's ``view_image`` and MCP tools return
    ``input_text``/``input_image`` parts) which become text, image and document blocks inside
    the ``tool_result``, never stringified JSON."""
    if isinstance(output, str):
        return output if output.strip() else NO_OUTPUT
    if isinstance(output, dict):  # legacy {"content": ..., "success": ...}
        inner = output.get("content", output.get("output"))
        if inner is not None and inner is not output:
            return _tool_result_content(inner, param, provider)
        return msgspec.json.encode(output).decode()
    if isinstance(output, list):
        blocks = _content_blocks(output, param, assistant=False, provider=provider)
        return blocks or NO_OUTPUT
    if output is None:
        return NO_OUTPUT
    return msgspec.json.encode(output).decode()


@dataclass(slots=True)
class _Ctx:
    tools: ToolMap
    envelope: Envelope
    model: str
    provider: ProviderProfile = GENERIC
    #: False: reasoning items are not restored (the retry after a refused signature).
    restore_reasoning: bool = True
    reasoning_dropped: int = 0
    dropped: list[str] = field(default_factory=list)


def _tool_search_output(item: dict[str, Any], p: str, ctx: _Ctx) -> str:
    """A client tool search's result: the tools it loaded become callable (they join the
    request's tools, as they do on OpenAI's side), and the model reads their names."""
    tools = item.get("tools")
    if not isinstance(tools, list):
        raise BadRequest("tool_search_output needs a tools array", param=f"{p}.tools")
    names: list[str] = []
    for j, tool in enumerate(tools):
        ctx.tools.add(tool, f"{p}.tools[{j}]", known_ok=True)
        if isinstance(tool, dict) and isinstance(tool.get("name"), str):
            names.append(tool["name"])
    if not names:
        return "No tools matched the search."
    return "Tools loaded and now available: " + ", ".join(names)


def _local_shell_input(action: object, p: str) -> dict[str, Any]:
    if not isinstance(action, dict) or not isinstance(action.get("command"), list):
        raise BadRequest("a local_shell_call needs an exec action", param=f"{p}.action")
    out: dict[str, Any] = {"command": [str(c) for c in action["command"]]}
    if isinstance(action.get("working_directory"), str):
        out["workdir"] = action["working_directory"]
    if isinstance(action.get("timeout_ms"), int) and not isinstance(action["timeout_ms"], bool):
        out["timeout_ms"] = action["timeout_ms"]
    if isinstance(action.get("env"), dict):
        out["env"] = {str(k): str(v) for k, v in action["env"].items()}
    return out


def _convert_items(items: list[Any], ctx: _Ctx, b: Conversation) -> None:
    for i, item in enumerate(items):
        p = f"input[{i}]"
        if not isinstance(item, dict):
            raise BadRequest("each input item must be an object", param=p)
        itype = item.get("type")
        if itype is None and "role" in item:
            itype = "message"
        if itype == "message":
            _convert_message(item, p, b, ctx.provider)
        elif itype == "reasoning":
            blocks = None
            if ctx.restore_reasoning:
                blocks = ctx.envelope.open(item.get("encrypted_content"), ctx.model)
            if (
                blocks is not None
                and not ctx.provider.unsigned_thinking
                and any(
                    blk.get("type") == "thinking" and not blk.get("signature") for blk in blocks
                )
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
                tool_input = parse_arguments(item.get("arguments"))
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
                _tool_result_content(output, f"{p}.output", ctx.provider),
                is_error=isinstance(output, dict) and output.get("success") is False,
            )
        elif itype == "tool_search_call":
            call_id = item.get("call_id")
            arguments = item.get("arguments")
            if item.get("execution") == "server" or not isinstance(call_id, str):
                ctx.dropped.append(itype)  # a hosted search: nothing for Anthropic to replay
                continue
            tool_input = arguments if isinstance(arguments, dict) else parse_arguments(arguments)
            b.add_tool_use(call_id, ctx.tools.anthropic_name("tool_search", None), tool_input)
        elif itype == "tool_search_output":
            call_id = item.get("call_id")
            text = _tool_search_output(item, p, ctx)
            if item.get("execution") == "server" or not isinstance(call_id, str):
                ctx.dropped.append(itype)
                continue
            b.add_tool_result(call_id, text)
        elif itype == "local_shell_call":
            call_id = item.get("call_id") or item.get("id")
            if not isinstance(call_id, str) or not call_id:
                raise BadRequest("a local_shell_call needs call_id or id", param=f"{p}.call_id")
            tool_input = _local_shell_input(item.get("action"), p)
            b.add_tool_use(call_id, ctx.tools.anthropic_name("local_shell", None), tool_input)
        elif itype == "local_shell_call_output":
            # Keyed by ``id``: "the unique ID of the local shell tool call" (reference §1.2).
            call_id = item.get("call_id") or item.get("id")
            if not isinstance(call_id, str) or not call_id:
                raise BadRequest("a local_shell_call_output needs an id", param=f"{p}.id")
            b.add_tool_result(call_id, _tool_result_content(item.get("output"), f"{p}.output"))
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


def _convert_message(
    item: dict[str, Any], p: str, b: Conversation, provider: ProviderProfile = GENERIC
) -> None:
    role = item.get("role")
    content = item.get("content")
    if role in ("system", "developer"):
        texts = [(t, mark) for t, mark in _text_of(content, f"{p}.content") if t.strip()]
        if not b.seen_conversation:
            b.system.extend(_text_block(t, mark) for t, mark in texts)
        else:
            # A mid-conversation instruction: a user-side reminder keeps the turn order valid
            # and the cached prefix stable.
            for t, mark in texts:
                b.add("user", _text_block(f"<system-reminder>\n{t}\n</system-reminder>", mark))
    elif role == "user":
        for block in _content_blocks(content, f"{p}.content", assistant=False, provider=provider):
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
        if isinstance(ctype, str) and ctype in WEB_SEARCH_TYPES:
            if not tools.web_search:
                raise BadRequest(
                    f"tool_choice {ctype!r} names a tool this request does not offer upstream",
                    param="tool_choice.type",
                )
            out, forced = {"type": "tool", "name": WEB_SEARCH}, True
        elif ctype in ("function", "custom"):
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


def _output_format(
    req: ResponsesRequest, body: dict[str, Any], provider: ProviderProfile, model: str
) -> str | None:
    """``text.format`` -> ``output_config.format`` or an instruction (README, structured
    output). ``json_schema`` with ``strict: true`` is constrained upstream (the schema adapted to
    Anthropic's subset) where the provider and model support it; ``strict`` false or absent
    means the client accepts best effort, and its schema may be one Anthropic's constrained
    decoding cannot express (open objects, bounds): it goes as an instruction, like every
    schema for an upstream without structured outputs. ``json_object`` has no Anthropic
    counterpart: an instruction."""
    fmt = (req.text or {}).get("format")
    if not isinstance(fmt, dict):
        return None
    ftype = fmt.get("type")
    if ftype == "json_schema":
        schema = fmt.get("schema")
        if not isinstance(schema, dict):
            raise BadRequest("json_schema format needs a schema", param="text.format.schema")
        if fmt.get("strict") is True and structured_outputs_ok(provider, model):
            adapted, _ = strict_schema(schema)
            body.setdefault("output_config", {})["format"] = {
                "type": "json_schema",
                "schema": adapted,
            }
            return "native"
        text = schema_instruction(schema, fmt.get("name"), fmt.get("description"))
    elif ftype == "json_object":
        text = JSON_OBJECT_INSTRUCTION
    elif ftype in (None, "text"):
        return None
    else:
        raise BadRequest(f"unsupported text.format type {ftype!r}", param="text.format.type")
    body.setdefault("system", []).append({"type": "text", "text": text})
    return "instruction"


def _cache_ttl(req: ResponsesRequest) -> str | None:
    """``prompt_cache_retention: "24h"`` (or a ``prompt_cache_options.ttl`` of an hour or more)
    -> Anthropic's longest TTL, ``1h``; anything else keeps the default five minutes."""
    ttl = (req.prompt_cache_options or {}).get("ttl")
    if req.prompt_cache_retention == "24h" or ttl in ("1h", "24h"):
        return "1h"
    return None


def translate_request(
    req: ResponsesRequest,
    *,
    upstream_model: str,
    profile: ModelProfile,
    envelope: Envelope,
    provider: ProviderProfile = GENERIC,
    auto_cache: bool = True,
    restore_reasoning: bool = True,
) -> Translated:
    """``provider``: the upstream's quirks. ``auto_cache``: place cache breakpoints (the
    operator's setting; the client turns them off with ``prompt_cache_options.mode:
    "explicit"``). ``restore_reasoning`` False: replay no thinking (the retry after an upstream
    refused a signature)."""
    _refuse_stateful(req)
    tools = ToolMap(
        server_tools=provider.server_tools,
        strict_tools=structured_outputs_ok(provider, upstream_model),
    )
    for i, tool in enumerate(req.tools or []):
        tools.add(tool, f"tools[{i}]")
    ctx = _Ctx(
        tools=tools,
        envelope=envelope,
        model=upstream_model,
        provider=provider,
        restore_reasoning=restore_reasoning,
    )
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
    elif provider.thinking_on_every_tool_turn and not every_tool_turn_thinks(turns):
        blocked = "an earlier tool turn has no thinking block"
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
    provider_sampling(body, provider, upstream_model, req.temperature, thinking=thinking)
    output_format = _output_format(req, body, provider, upstream_model)

    user_id = req.safety_identifier or req.user
    if user_id:
        body["metadata"] = {"user_id": user_id[:256]}
    if req.service_tier in ("priority", "fast", "ultrafast"):
        body["service_tier"] = "auto"
    elif req.service_tier in ("default", "flex", "scale"):
        body["service_tier"] = "standard_only"
    body["stream"] = True
    mode = (req.prompt_cache_options or {}).get("mode")
    place_breakpoints(body, auto=auto_cache and mode != "explicit", ttl=_cache_ttl(req))
    return Translated(
        body=body,
        tools=tools,
        upstream_model=upstream_model,
        thinking=thinking,
        thinking_off_reason=plan.off_reason,
        summaries=summaries,
        dropped_items=ctx.dropped + tools.dropped,
        dropped_tools=list(tools.dropped),
        search_sources="web_search_call.action.sources" in (req.include or ()),
        output_format=output_format,
    )
