"""Chat Completions request -> Anthropic Messages request. Pure: JSON in, JSON-ready dict out.

The written rule for fields (README, "claude2chat: what is translated"):

* translated: model, messages, tools, tool_choice, parallel_tool_calls, max_completion_tokens
  (or max_tokens), temperature, top_p, stop, reasoning_effort, response_format, stream,
  stream_options.include_usage, user, safety_identifier, n (1 only), prompt_cache_retention
  (the TTL of the prompt-cache breakpoints, ``llmproxy.dialects.anthropic_cache``);
* accepted and ignored (no Anthropic meaning): frequency_penalty, presence_penalty, seed,
  logit_bias, store, metadata, prediction, service_tier, verbosity, prompt_cache_key,
  logprobs false, top_logprobs 0, unknown fields;
* refused with 400 naming the field: n > 1, logprobs true, top_logprobs > 0, audio output
  (``audio``, ``modalities`` with "audio"), web_search_options, the legacy ``functions`` /
  ``function_call`` (use tools), ``function`` role messages, non-function tools, ``file_id``
  files, audio input parts.

Messages become alternating user/assistant turns through the shared ``Conversation``: leading
system/developer messages are the system prompt (later ones become ``<system-reminder>`` user
text); an assistant message's ``thinking_blocks`` (the sealed envelopes this route hands out)
come back as the exact thinking blocks, then its text, then its ``tool_calls`` as ``tool_use``;
``tool`` messages become ``tool_result`` blocks; pairing is repaired. Thinking is turned off for
the request whenever the history cannot satisfy Anthropic's thinking rules. The upstream's
provider profile (``llmproxy.dialects.anthropic_providers``) adapts the rest: images and files
become notes where they are not accepted, unsigned thinking is replayed where it is, sampling
follows the provider's ranges, structured output falls back to an instruction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import msgspec

from llmproxy.config import ModelProfile
from llmproxy.dialects.anthropic_cache import place_breakpoints
from llmproxy.dialects.anthropic_providers import GENERIC, ProviderProfile, structured_outputs_ok
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
from routes.claude2chat.tools import ChatTools, tool_choice

__all__ = ["ChatRequest", "Translated", "decode_request", "translate_request"]


class ChatRequest(msgspec.Struct, kw_only=True):
    """The request fields this route reads; unknown fields are ignored by design."""

    model: str
    messages: list[Any]
    tools: list[Any] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: str | list[str] | None = None
    n: int | None = None
    user: str | None = None
    safety_identifier: str | None = None
    reasoning_effort: str | None = None
    response_format: dict[str, Any] | None = None
    stream: bool | None = False
    stream_options: dict[str, Any] | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = None
    audio: Any = None
    modalities: list[str] | None = None
    web_search_options: Any = None
    functions: Any = None
    function_call: Any = None
    prompt_cache_retention: str | None = None


_req_decoder: Final = msgspec.json.Decoder(ChatRequest)


def decode_request(body: bytes) -> ChatRequest:
    return decode_body(_req_decoder, body)


@dataclass(slots=True)
class Translated:
    body: dict[str, Any]
    tools: ChatTools
    upstream_model: str
    thinking: bool
    #: Why thinking was turned off although the client asked for reasoning (for the log).
    thinking_off_reason: str | None = None
    #: ``stream_options.include_usage``: a final chunk with usage and no choices.
    include_usage: bool = False
    #: Thinking blocks restored from the client's envelopes and sent upstream.
    replayed_thinking: int = 0


# -- content -------------------------------------------------------------------------------------


def _texts(content: object, param: str) -> list[str]:
    """The texts of a system/developer message."""
    if isinstance(content, str):
        return [content]
    if not isinstance(content, list):
        raise BadRequest("content must be a string or an array of text parts", param=param)
    out: list[str] = []
    for i, part in enumerate(content):
        if not isinstance(part, dict) or part.get("type") != "text":
            raise BadRequest(
                "system and developer messages may only contain text parts", param=f"{param}[{i}]"
            )
        text = part.get("text")
        if not isinstance(text, str):
            raise BadRequest("a text part needs a string text", param=f"{param}[{i}].text")
        out.append(text)
    return out


def _image(part: dict[str, Any], param: str) -> dict[str, Any]:
    ref = part.get("image_url")
    url = ref.get("url") if isinstance(ref, dict) else ref
    if not isinstance(url, str) or not url:
        raise BadRequest("an image_url part needs image_url.url", param=f"{param}.image_url.url")
    return image_block(url, f"{param}.image_url.url")


def _file(part: dict[str, Any], param: str) -> dict[str, Any]:
    f = part.get("file")
    if not isinstance(f, dict):
        raise BadRequest("a file part needs a file object", param=f"{param}.file")
    data, title = f.get("file_data"), f.get("filename")
    if not isinstance(data, str) or not data:
        if f.get("file_id"):
            raise BadRequest(
                "file_id files are not supported (the gateway keeps no files); send file_data",
                param=f"{param}.file.file_id",
            )
        raise BadRequest("a file part needs file_data", param=f"{param}.file.file_data")
    return document_block(
        data=data,
        url=None,
        title=title if isinstance(title, str) else None,
        param=f"{param}.file.file_data",
    )


def _user_blocks(
    content: object, param: str, provider: ProviderProfile = GENERIC
) -> list[dict[str, Any]]:
    """User (and tool result) content: a string or text, image and file parts (a note in their
    place for an upstream that takes no images or documents)."""
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content.strip() else []
    if content is None:
        return []
    if not isinstance(content, list):
        raise BadRequest("content must be a string or an array of parts", param=param)
    blocks: list[dict[str, Any]] = []
    for i, part in enumerate(content):
        p = f"{param}[{i}]"
        if not isinstance(part, dict):
            raise BadRequest("each content part must be an object", param=p)
        ptype = part.get("type")
        if ptype == "text":
            text = part.get("text")
            if not isinstance(text, str):
                raise BadRequest("a text part needs a string text", param=f"{p}.text")
            if text.strip():
                blocks.append({"type": "text", "text": text})
        elif ptype == "image_url":
            image = _image(part, p)
            blocks.append(image if provider.images else media_note("image", provider))
        elif ptype == "file":
            document = _file(part, p)
            blocks.append(document if provider.documents else media_note("document", provider))
        elif ptype == "input_audio":
            raise BadRequest("audio input is not supported by this upstream", param=f"{p}.type")
        else:
            raise BadRequest(f"unsupported content part {ptype!r}", param=f"{p}.type")
    return blocks


@dataclass(slots=True)
class _Ctx:
    tools: ChatTools
    envelope: Envelope
    model: str
    provider: ProviderProfile
    #: False: replay no thinking (the retry after the upstream refused a signature).
    restore: bool = True
    #: Thinking blocks the client sent back that could not be restored.
    thinking_dropped: int = 0
    thinking_restored: int = 0


def _restore_thinking(entry: object, ctx: _Ctx) -> list[dict[str, Any]]:
    """The exact thinking blocks sealed in one ``thinking_blocks`` entry (or a ``thinking`` /
    ``redacted_thinking`` content part), or none: a foreign, tampered, other-model or unsigned
    block (unless the provider replays unsigned thinking) is dropped and counted."""
    token: object = None
    if isinstance(entry, dict):
        token = entry.get("signature" if entry.get("type") == "thinking" else "data")
    blocks = ctx.envelope.open(token, ctx.model) if ctx.restore else None
    if blocks is None or (
        not ctx.provider.unsigned_thinking
        and any(b.get("type") == "thinking" and not b.get("signature") for b in blocks)
    ):
        ctx.thinking_dropped += 1
        return []
    ctx.thinking_restored += len(blocks)
    return blocks


def _assistant(msg: dict[str, Any], p: str, ctx: _Ctx, b: Conversation) -> None:
    if msg.get("function_call") is not None:
        raise BadRequest(
            "function_call messages (the legacy functions API) are not supported; use tool_calls",
            param=f"{p}.function_call",
        )
    thinking: list[dict[str, Any]] = []
    entries = msg.get("thinking_blocks")
    if entries is not None:
        if not isinstance(entries, list):
            raise BadRequest("thinking_blocks must be an array", param=f"{p}.thinking_blocks")
        for entry in entries:
            thinking.extend(_restore_thinking(entry, ctx))
    texts: list[dict[str, Any]] = []
    content = msg.get("content")
    if isinstance(content, str):
        if content.strip():
            texts.append({"type": "text", "text": content})
    elif isinstance(content, list):
        for i, part in enumerate(content):
            q = f"{p}.content[{i}]"
            if not isinstance(part, dict):
                raise BadRequest("each content part must be an object", param=q)
            ptype = part.get("type")
            if ptype in ("thinking", "redacted_thinking"):
                thinking.extend(_restore_thinking(part, ctx))
                continue
            if ptype not in ("text", "refusal"):
                raise BadRequest(
                    f"unsupported content part {ptype!r} in an assistant message",
                    param=f"{q}.type",
                )
            text = part.get(ptype)
            if not isinstance(text, str):
                raise BadRequest(f"a {ptype} part needs a string {ptype}", param=q)
            if text.strip():
                texts.append({"type": "text", "text": text})
    elif content is not None:
        raise BadRequest(
            "content must be a string, an array of parts or null", param=f"{p}.content"
        )
    refusal = msg.get("refusal")
    if isinstance(refusal, str) and refusal.strip():
        texts.append({"type": "text", "text": refusal})
    for block in (*thinking, *texts):
        b.add("assistant", block)
    calls = msg.get("tool_calls")
    if calls is None:
        calls = []
    if not isinstance(calls, list):
        raise BadRequest("tool_calls must be an array", param=f"{p}.tool_calls")
    for i, call in enumerate(calls):
        q = f"{p}.tool_calls[{i}]"
        fn = call.get("function") if isinstance(call, dict) else None
        if not isinstance(call, dict) or not isinstance(fn, dict):
            raise BadRequest("a tool call needs id, type and function", param=q)
        call_id, name = call.get("id"), fn.get("name")
        if not isinstance(call_id, str) or not isinstance(name, str) or not name:
            raise BadRequest("a tool call needs an id and function.name", param=q)
        b.add_tool_use(
            call_id, ctx.tools.anthropic_name(name), parse_arguments(fn.get("arguments"))
        )
    b.seen_conversation = True


def _convert_messages(messages: list[Any], ctx: _Ctx, b: Conversation) -> None:
    for i, msg in enumerate(messages):
        p = f"messages[{i}]"
        if not isinstance(msg, dict):
            raise BadRequest("each message must be an object", param=p)
        role = msg.get("role")
        content = msg.get("content")
        if role in ("system", "developer"):
            texts = [t for t in _texts(content, f"{p}.content") if t.strip()]
            if not b.seen_conversation:
                b.system.extend({"type": "text", "text": t} for t in texts)
            else:
                # A mid-conversation instruction: a user-side reminder keeps the turn order valid
                # and the cached prefix stable.
                for t in texts:
                    text = f"<system-reminder>\n{t}\n</system-reminder>"
                    b.add("user", {"type": "text", "text": text})
        elif role == "user":
            for block in _user_blocks(content, f"{p}.content", ctx.provider):
                b.add("user", block)
            b.seen_conversation = True
        elif role == "assistant":
            _assistant(msg, p, ctx, b)
        elif role == "tool":
            call_id = msg.get("tool_call_id")
            if not isinstance(call_id, str):
                raise BadRequest("a tool message needs a tool_call_id", param=f"{p}.tool_call_id")
            result: str | list[dict[str, Any]]
            if isinstance(content, str):
                result = content if content.strip() else NO_OUTPUT
            else:
                result = _user_blocks(content, f"{p}.content", ctx.provider) or NO_OUTPUT
            b.add_tool_result(call_id, result)
        elif role == "function":
            raise BadRequest(
                "function messages (the legacy functions API) are not supported; use tool messages",
                param=f"{p}.role",
            )
        else:
            raise BadRequest(
                f"unsupported role {role!r}; use system, developer, user, assistant or tool",
                param=f"{p}.role",
            )


# -- the request ---------------------------------------------------------------------------------


def _refuse_unsupported(req: ChatRequest) -> None:
    def no(param: str, message: str) -> BadRequest:
        return BadRequest(message, param=param, code="unsupported_parameter")

    if req.n is not None and req.n != 1:
        raise no("n", "n must be 1: the upstream returns one choice per request")
    if req.logprobs:
        raise no("logprobs", "logprobs are not available from this upstream")
    if req.top_logprobs:
        raise no("top_logprobs", "logprobs are not available from this upstream")
    if req.audio is not None or "audio" in (req.modalities or []):
        raise no(
            "audio" if req.audio is not None else "modalities", "audio output is not available"
        )
    if req.web_search_options is not None:
        raise no("web_search_options", "web search is not available through this gateway")
    if req.functions is not None or req.function_call is not None:
        raise no(
            "functions" if req.functions is not None else "function_call",
            "the legacy functions API is not supported; use tools and tool_choice",
        )


def _stop_sequences(stop: str | list[str] | None) -> list[str]:
    values = [stop] if isinstance(stop, str) else stop or []
    # Anthropic refuses stop sequences that are empty or whitespace only.
    return [s for s in values if s.strip()]


def _output_format(
    body: dict[str, Any], fmt: dict[str, Any] | None, provider: ProviderProfile, model: str
) -> None:
    """``response_format`` -> ``output_config.format`` or an instruction. ``json_schema`` with
    ``strict: true`` (what ``parse()`` sends) is constrained upstream, the schema adapted to
    Anthropic's subset, where the provider and model support it; otherwise the client accepts
    best effort and the schema goes as an instruction. ``json_object``: an instruction."""
    if fmt is None:
        return
    ftype = fmt.get("type")
    if ftype == "json_schema":
        spec = fmt.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, dict) else None
        if not isinstance(spec, dict) or not isinstance(schema, dict):
            raise BadRequest(
                "json_schema needs a schema", param="response_format.json_schema.schema"
            )
        if spec.get("strict") is True and structured_outputs_ok(provider, model):
            adapted, _ = strict_schema(schema)
            body.setdefault("output_config", {})["format"] = {
                "type": "json_schema",
                "schema": adapted,
            }
            return
        text = schema_instruction(schema, spec.get("name"), spec.get("description"))
    elif ftype == "json_object":
        text = JSON_OBJECT_INSTRUCTION
    elif ftype in (None, "text"):
        return
    else:
        raise BadRequest(
            f"unsupported response_format type {ftype!r}", param="response_format.type"
        )
    body.setdefault("system", []).append({"type": "text", "text": text})


def translate_request(
    req: ChatRequest,
    *,
    upstream_model: str,
    profile: ModelProfile,
    envelope: Envelope,
    provider: ProviderProfile = GENERIC,
    auto_cache: bool = True,
    restore_thinking: bool = True,
) -> Translated:
    """``provider``: the upstream's quirks. ``auto_cache``: place prompt-cache breakpoints (the
    operator's setting). ``restore_thinking`` False: replay no thinking block (the retry after
    the upstream refused a signature); thinking is then off for the request."""
    _refuse_unsupported(req)
    tools = ChatTools(strict_tools=structured_outputs_ok(provider, upstream_model))
    for i, tool in enumerate(req.tools or []):
        tools.add(tool, f"tools[{i}]")
    ctx = _Ctx(
        tools=tools,
        envelope=envelope,
        model=upstream_model,
        provider=provider,
        restore=restore_thinking,
    )
    b = Conversation()
    _convert_messages(req.messages, ctx, b)
    turns = repair_tool_pairing(b.turns)
    if not turns:
        raise BadRequest("messages has no message with content to send", param="messages")

    # -- thinking ---------------------------------------------------------------------------
    effort = req.reasoning_effort
    if effort is not None and effort not in EFFORTS:
        raise BadRequest(f"unknown reasoning_effort {effort!r}", param="reasoning_effort")
    max_param = "max_completion_tokens" if req.max_completion_tokens is not None else "max_tokens"
    client_max = (
        req.max_completion_tokens if req.max_completion_tokens is not None else req.max_tokens
    )
    if client_max is not None and client_max < 1:
        raise BadRequest(f"{max_param} must be at least 1", param=max_param)
    choice, forced = tool_choice(req.tool_choice, tools, req.parallel_tool_calls)
    blocked: str | None = None
    if forced:
        blocked = "tool_choice forces a tool"
    elif ctx.thinking_dropped:
        blocked = "thinking blocks from elsewhere could not be restored"
    elif not thinking_ok(turns):
        blocked = "the current tool loop has no thinking block"
    elif provider.thinking_on_every_tool_turn and not every_tool_turn_thinks(turns):
        blocked = "a tool turn has no thinking block, which this provider requires"
    elif turns[-1].role == "assistant":
        blocked = "the messages end with an assistant prefill"
    plan = plan_thinking(effort, profile, client_max, blocked=blocked)
    body: dict[str, Any] = {"model": upstream_model, "max_tokens": plan.max_tokens}
    if plan.thinking is not None:
        body["thinking"] = plan.thinking
    if plan.output_config is not None:
        body["output_config"] = plan.output_config
    if not plan.on:
        turns = strip_thinking(turns)
        if not turns:
            raise BadRequest("messages has no message with content to send", param="messages")
    if b.system:
        body["system"] = b.system
    body["messages"] = finish_turns(turns)
    if tools.tools:
        body["tools"] = tools.tools
        if choice is not None:
            body["tool_choice"] = choice
    declare_history_tools(body, turns)
    body.update(sampling_params(profile, req.temperature, req.top_p, thinking=plan.on))
    provider_sampling(body, provider, upstream_model, req.temperature, thinking=plan.on)
    if stops := _stop_sequences(req.stop):
        body["stop_sequences"] = stops
    _output_format(body, req.response_format, provider, upstream_model)
    user_id = req.safety_identifier or req.user
    if user_id:
        body["metadata"] = {"user_id": user_id[:256]}
    body["stream"] = True
    # prompt_cache_retention "24h" -> Anthropic's longest cache TTL; else the default 5 minutes.
    ttl = "1h" if req.prompt_cache_retention == "24h" else None
    place_breakpoints(body, auto=auto_cache, ttl=ttl)
    return Translated(
        body=body,
        tools=tools,
        upstream_model=upstream_model,
        thinking=plan.on,
        thinking_off_reason=plan.off_reason,
        include_usage=bool((req.stream_options or {}).get("include_usage")),
        replayed_thinking=ctx.thinking_restored if plan.on else 0,
    )
