"""The claude2codex route: OpenAI Responses for the client, Anthropic Messages upstream.

Endpoints: ``POST responses`` (JSON or SSE), ``POST responses/compact`` (Codex's remote
compaction, answered by a summarisation turn upstream) and ``GET models``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import msgspec

from llmproxy.config import Settings
from llmproxy.contract import (
    ClientRequest,
    Endpoint,
    Reply,
    StreamTranslator,
    UpstreamRequest,
)
from llmproxy.dialects import anthropic as A
from llmproxy.dialects import responses as R
from llmproxy.dialects.anthropic_openai import ModelsExchange
from llmproxy.dialects.anthropic_providers import provider_for
from llmproxy.dialects.anthropic_request import upstream_headers as anthropic_headers
from llmproxy.errors import (
    BadRequest,
    GatewayError,
    RouteNotFound,
    UpstreamProtocolError,
)
from llmproxy.logs import get_logger
from routes.claude2codex.errors import render_error
from routes.claude2codex.reasoning import Envelope, profile_for
from routes.claude2codex.request import (
    Echo,
    ResponsesRequest,
    Translated,
    decode_request,
    translate_request,
)
from routes.claude2codex.stream import ResponsesStream, ResponseTemplate, new_id

__all__ = ["Claude2Codex"]

_RESPONSES: Final = Endpoint("POST", "responses")
_COMPACT: Final = Endpoint("POST", "responses/compact")
_MODELS: Final = Endpoint("GET", "models")
_encode: Final = msgspec.json.Encoder().encode
_log = get_logger("llmproxy.claude2codex")


def upstream_headers(req: ClientRequest) -> dict[str, str]:
    return anthropic_headers(req.headers, req.upstream, req.request_id)


def _has_thinking(body: dict[str, Any]) -> bool:
    return any(
        isinstance(block, dict) and block.get("type") in ("thinking", "redacted_thinking")
        for message in body.get("messages") or ()
        for block in message.get("content") or ()
    )


def _continuation_body(body: dict[str, Any], content: list[dict[str, Any]]) -> dict[str, Any]:
    """The request that continues a paused turn (Anthropic ``pause_turn``): the same request
    with the turn's content so far appended as the assistant's (documented: "provide the
    response back as-is"). Only the last text loses trailing whitespace, which Anthropic
    refuses at the end of an assistant turn."""
    blocks = [dict(b) for b in content]
    if blocks and blocks[-1].get("type") == "text":
        blocks[-1]["text"] = str(blocks[-1]["text"]).rstrip()
        if not blocks[-1]["text"]:
            blocks.pop()
    if not blocks:
        return body
    messages = list(body["messages"])
    if messages and messages[-1]["role"] == "assistant":  # an assistant prefill
        messages[-1] = {"role": "assistant", "content": [*messages[-1]["content"], *blocks]}
    else:
        messages.append({"role": "assistant", "content": blocks})
    return {**body, "messages": messages}


class ResponsesExchange:
    """One ``POST /responses``."""

    def __init__(
        self, route: Claude2Codex, req: ClientRequest, parsed: ResponsesRequest, echo: Echo
    ) -> None:
        self._route = route
        self._req = req
        self._parsed = parsed
        self.model = parsed.model
        self.client_streams = bool(parsed.stream)
        self._upstream_model = route.settings.model_map.get(parsed.model, parsed.model)
        self._profile = profile_for(self._upstream_model, tuple(route.settings.models))
        self._provider = provider_for(req.upstream, route.settings.upstream_providers)
        self._rephrased = False
        self._translated = self._translate(restore_reasoning=True)
        t = self._translated
        #: Hosted tools dropped from the request (counted by the core: ``DropsTools``).
        self.dropped_tools: tuple[str, ...] = tuple(t.dropped_tools)
        if t.thinking_off_reason or t.dropped_items:
            _log.debug(
                "translation_notes",
                request_id=req.request_id,
                thinking_off=t.thinking_off_reason,
                dropped=sorted(set(t.dropped_items)),
            )
        self._template = ResponseTemplate(
            model=parsed.model,
            created_at=int(req.received_at),
            echo=echo,
            max_output_tokens=parsed.max_output_tokens,
            parallel_tool_calls=parsed.parallel_tool_calls is not False,
            temperature=parsed.temperature,
            top_p=parsed.top_p,
            prompt_cache_key=parsed.prompt_cache_key,
            safety_identifier=parsed.safety_identifier,
            user=parsed.user,
            store=bool(parsed.store),
            truncation=parsed.truncation or "disabled",
            service_tier=parsed.service_tier,
            search_sources=t.search_sources,
        )

    def _translate(self, *, restore_reasoning: bool) -> Translated:
        return translate_request(
            self._parsed,
            upstream_model=self._upstream_model,
            profile=self._profile,
            envelope=self._route.envelope,
            provider=self._provider,
            auto_cache=self._route.settings.auto_cache_breakpoints,
            restore_reasoning=restore_reasoning,
        )

    def _request(self, body: dict[str, Any]) -> UpstreamRequest:
        headers = upstream_headers(self._req)
        headers["content-type"] = "application/json"
        headers["accept"] = "text/event-stream"
        return UpstreamRequest(
            method="POST", path="/v1/messages", headers=headers, body=_encode(body), stream=True
        )

    def upstream_request(self) -> UpstreamRequest:
        return self._request(self._translated.body)

    def upstream_error(self, status: int, headers: Mapping[str, str], body: bytes) -> GatewayError:
        return A.upstream_status_error(status, headers, body)

    def retry_after_error(
        self, status: int, headers: Mapping[str, str], body: bytes
    ) -> UpstreamRequest | None:
        """Once, when the upstream refuses a thinking signature (400 naming ``signature``: a
        conversation carried to another model or provider under the same name, a rotated
        reasoning key): the same request without replayed thinking, instead of ending the
        conversation. Thinking is then off for this request if the tool loop needs it."""
        if (
            self._rephrased
            or not _has_thinking(self._translated.body)
            or not A.refuses_signature(status, body)
        ):
            return None
        self._rephrased = True
        self._translated = self._translate(restore_reasoning=False)
        _log.info(
            "thinking_replay_refused",
            request_id=self._req.request_id,
            detail="the upstream refused a thinking signature; retried without replayed thinking",
        )
        return self.upstream_request()

    def reply(self, status: int, headers: Mapping[str, str], body: bytes) -> Reply:
        raise UpstreamProtocolError("the upstream answered a streaming request without a stream")

    def stream(self) -> ResponsesStream:
        body = self._translated.body
        return ResponsesStream(
            self._template,
            self._translated.tools,
            self._route.envelope,
            self._translated.upstream_model,
            summaries=self._translated.summaries,
            resume=lambda content: self._request(_continuation_body(body, content)),
            quiet=not self.client_streams,
        )

    def collect(self, translator: StreamTranslator) -> Reply:
        assert isinstance(translator, ResponsesStream)
        if translator.error is not None or translator.final is None:
            return self.render_error(
                translator.error or UpstreamProtocolError("the upstream stream ended early")
            )
        return Reply(status=200, body=_encode(translator.final))

    def render_error(self, error: GatewayError) -> Reply:
        return render_error(error)

    def stream_headers(self) -> Mapping[str, str]:
        return {}


#: The instruction of the summarisation turn that answers ``/responses/compact``.
COMPACT_PROMPT: Final = (
    "Context checkpoint. Write a handoff summary of this conversation for another model that "
    "will continue the work without seeing it. Cover: the user's goal; what has been done and "
    "the decisions taken; facts, constraints and preferences that still matter (file paths, "
    "commands, names, versions); the exact state of unfinished work; the next steps. Be "
    "concise and structured. Call no tools; answer with the summary only."
)
#: Put before the summary in the replacement history, so that the next model reads it as what
#: it is.
SUMMARY_PREFIX: Final = (
    "The conversation so far was compacted. Another model wrote this summary of it, including "
    "the work already done; build on it and do not redo that work:"
)
#: Budget for the user messages kept verbatim in the replacement history (about 4 characters
#: a token), the most recent first.
_KEPT_USER_CHARS: Final = 80_000


class _Compaction(msgspec.Struct, kw_only=True):
    """``POST /responses/compact``'s reply: Codex reads ``output`` (its replacement history)."""

    id: str
    object: str = "response.compaction"
    created_at: int
    output: list[Any]
    usage: R.ResponseUsage | None = None


def _user_texts(parsed: ResponsesRequest) -> list[str]:
    """The texts of the client's user messages, in order."""
    if isinstance(parsed.input, str):
        return [parsed.input] if parsed.input.strip() else []
    out: list[str] = []
    for item in parsed.input:
        if not isinstance(item, dict) or item.get("role") != "user":
            continue
        if item.get("type", "message") != "message":
            continue
        content = item.get("content")
        if isinstance(content, str):
            parts = [content]
        elif isinstance(content, list):
            parts = [
                p["text"]
                for p in content
                if isinstance(p, dict)
                and p.get("type") in ("input_text", "text")
                and isinstance(p.get("text"), str)
            ]
        else:
            parts = []
        text = "\n".join(p for p in parts if p.strip())
        if text:
            out.append(text)
    return out


def _user_message(text: str) -> dict[str, Any]:
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


class CompactExchange(ResponsesExchange):
    """``POST /responses/compact`` (what Codex calls when it takes the provider for OpenAI's:
    ``codex-api`` ``CompactClient``; it reads ``{"output": [ResponseItem...]}`` and replaces its
    history with those items, keeping user and assistant messages and compaction items).

    OpenAI answers with opaque ``compaction`` items; a stateless gateway answers with plain
    items instead, by one summarisation turn upstream: the client's conversation plus a
    summarisation instruction, tools kept (so the history's tool calls stay valid) but not
    callable. The reply's ``output`` is the client's latest user messages (up to a budget) and
    one user message holding the summary, which Codex keeps and resends like any message.
    """

    def __init__(
        self, route: Claude2Codex, req: ClientRequest, parsed: ResponsesRequest, echo: Echo
    ) -> None:
        items: list[Any] = (
            [_user_message(parsed.input)] if isinstance(parsed.input, str) else list(parsed.input)
        )
        self._kept = _user_texts(parsed)
        parsed.input = [*items, _user_message(COMPACT_PROMPT)]
        parsed.tool_choice = "none"
        parsed.text = None
        parsed.stream = False
        super().__init__(route, req, parsed, echo)

    def collect(self, translator: StreamTranslator) -> Reply:
        assert isinstance(translator, ResponsesStream)
        final = translator.final
        if translator.error is not None or final is None:
            return self.render_error(
                translator.error or UpstreamProtocolError("the upstream stream ended early")
            )
        summary = "\n\n".join(
            part.text
            for item in final.output
            if isinstance(item, R.MessageItem)
            for part in item.content
            if isinstance(part, R.OutputText) and part.text.strip()
        ).strip()
        if final.status != "completed" or not summary:
            return self.render_error(
                UpstreamProtocolError(
                    f"the upstream wrote no summary for the compaction (status {final.status})"
                )
            )
        kept: list[str] = []
        budget = _KEPT_USER_CHARS
        for text in reversed(self._kept):
            if len(text) > budget:
                break
            kept.append(text)
            budget -= len(text)
        output = [_user_message(t) for t in reversed(kept)]
        output.append(_user_message(f"{SUMMARY_PREFIX}\n\n{summary}"))
        reply = _Compaction(
            id=new_id("resp"),
            created_at=final.created_at,
            output=output,
            usage=final.usage,
        )
        return Reply(status=200, body=_encode(reply))


class Claude2Codex:
    name: str = "claude2codex"
    endpoints: tuple[Endpoint, ...] = (_RESPONSES, _COMPACT, _MODELS)
    stream_content_type: str = "text/event-stream"

    def __init__(self, settings: Settings) -> None:
        self.settings: Final = settings
        self.envelope: Final = Envelope(settings.reasoning_key)
        if self.envelope.ephemeral:
            _log.warning(
                "reasoning_key_unset",
                detail="reasoning envelopes use a per-process key; set LLMPROXY_REASONING_KEY "
                "(shared by all replicas) so thinking survives restarts and load balancing",
            )

    def open(self, request: ClientRequest) -> ResponsesExchange | ModelsExchange:
        if request.endpoint in (_RESPONSES, _COMPACT):
            parsed, echo = decode_request(request.body)
            limit = self.settings.max_input_items
            if isinstance(parsed.input, list) and len(parsed.input) > limit:
                raise BadRequest(
                    f"input has {len(parsed.input)} items; this gateway accepts at most {limit}",
                    param="input",
                    code="too_many_input_items",
                )
            if request.endpoint == _COMPACT:
                return CompactExchange(self, request, parsed, echo)
            return ResponsesExchange(self, request, parsed, echo)
        if request.endpoint == _MODELS:
            return ModelsExchange(request)
        raise RouteNotFound(f"{request.endpoint.path} is not served by {self.name}")

    def render_error(self, error: GatewayError) -> Reply:
        return render_error(error)
