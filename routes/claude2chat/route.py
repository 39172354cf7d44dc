"""The claude2chat route: OpenAI Chat Completions for the client, Anthropic Messages upstream.

The upstream is always asked to stream (long generations never hit a read timeout, and one
translator serves both kinds of client); a client that did not ask to stream gets the
``chat.completion`` assembled from the same translator.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

import msgspec

from llmproxy.config import Settings
from llmproxy.contract import ClientRequest, Endpoint, Reply, StreamTranslator, UpstreamRequest
from llmproxy.dialects import anthropic as A
from llmproxy.dialects.anthropic_models import profile_for
from llmproxy.dialects.anthropic_openai import ModelsExchange, render_error
from llmproxy.dialects.anthropic_providers import provider_for
from llmproxy.dialects.anthropic_request import upstream_headers
from llmproxy.envelope import Envelope
from llmproxy.errors import BadRequest, GatewayError, RouteNotFound, UpstreamProtocolError
from llmproxy.logs import get_logger
from routes.claude2chat.request import ChatRequest, Translated, decode_request, translate_request
from routes.claude2chat.stream import ChatStream

__all__ = ["ChatExchange", "Claude2Chat"]

_CHAT: Final = Endpoint("POST", "chat/completions")
_MODELS: Final = Endpoint("GET", "models")
_encode: Final = msgspec.json.Encoder().encode
_log = get_logger("llmproxy.claude2chat")


class ChatExchange:
    """One ``POST /chat/completions``."""

    def __init__(self, route: Claude2Chat, req: ClientRequest, parsed: ChatRequest) -> None:
        self._route = route
        self._req = req
        self.model = parsed.model
        self.client_streams = bool(parsed.stream)
        self._parsed = parsed
        self._upstream_model = route.settings.model_map.get(parsed.model, parsed.model)
        self._profile = profile_for(self._upstream_model, tuple(route.settings.models))
        self._provider = provider_for(req.upstream, route.settings.upstream_providers)
        self._rephrased = False
        self._translated = self._translate(restore_thinking=True)
        if self._translated.thinking_off_reason:
            _log.debug(
                "translation_notes",
                request_id=req.request_id,
                thinking_off=self._translated.thinking_off_reason,
            )

    def _translate(self, *, restore_thinking: bool) -> Translated:
        return translate_request(
            self._parsed,
            upstream_model=self._upstream_model,
            profile=self._profile,
            envelope=self._route.envelope,
            provider=self._provider,
            auto_cache=self._route.settings.auto_cache_breakpoints,
            restore_thinking=restore_thinking,
        )

    def upstream_request(self) -> UpstreamRequest:
        r = self._req
        headers = upstream_headers(r.headers, r.upstream, r.request_id)
        headers["content-type"] = "application/json"
        headers["accept"] = "text/event-stream"
        return UpstreamRequest(
            method="POST",
            path="/v1/messages",
            headers=headers,
            body=_encode(self._translated.body),
            stream=True,
        )

    def upstream_error(self, status: int, headers: Mapping[str, str], body: bytes) -> GatewayError:
        return A.upstream_status_error(status, headers, body)

    def retry_after_error(
        self, status: int, headers: Mapping[str, str], body: bytes
    ) -> UpstreamRequest | None:
        """Once, when the upstream refuses a thinking signature (400 naming ``signature``: a
        conversation carried to another model or provider under the same name, a rotated
        reasoning key): the same request without replayed thinking, instead of failing every
        later turn of the conversation (``Rephrasable``)."""
        if (
            self._rephrased
            or not self._translated.replayed_thinking
            or not A.refuses_signature(status, body)
        ):
            return None
        self._rephrased = True
        self._translated = self._translate(restore_thinking=False)
        _log.info(
            "thinking_replay_refused",
            request_id=self._req.request_id,
            detail="the upstream refused a thinking signature; retried without replayed thinking",
        )
        return self.upstream_request()

    def reply(self, status: int, headers: Mapping[str, str], body: bytes) -> Reply:
        raise UpstreamProtocolError("the upstream answered a streaming request without a stream")

    def stream(self) -> ChatStream:
        t = self._translated
        return ChatStream(
            model=self.model,
            created=int(self._req.received_at),
            tools=t.tools,
            envelope=self._route.envelope,
            upstream_model=t.upstream_model,
            include_usage=t.include_usage,
        )

    def collect(self, translator: StreamTranslator) -> Reply:
        assert isinstance(translator, ChatStream)
        if translator.error is not None or translator.final is None:
            return self.render_error(
                translator.error or UpstreamProtocolError("the upstream stream ended early")
            )
        return Reply(status=200, body=_encode(translator.final))

    def render_error(self, error: GatewayError) -> Reply:
        return render_error(error)

    def stream_headers(self) -> Mapping[str, str]:
        return {}


class Claude2Chat:
    name: str = "claude2chat"
    endpoints: tuple[Endpoint, ...] = (_CHAT, _MODELS)
    stream_content_type: str = "text/event-stream"

    def __init__(self, settings: Settings) -> None:
        self.settings: Final = settings
        self.envelope: Final = Envelope(settings.reasoning_key)

    def open(self, request: ClientRequest) -> ChatExchange | ModelsExchange:
        if request.endpoint == _CHAT:
            parsed = decode_request(request.body)
            limit = self.settings.max_input_items
            if len(parsed.messages) > limit:
                raise BadRequest(
                    f"messages has {len(parsed.messages)} entries; this gateway accepts at most "
                    f"{limit}",
                    param="messages",
                    code="too_many_input_items",
                )
            return ChatExchange(self, request, parsed)
        if request.endpoint == _MODELS:
            return ModelsExchange(request)
        raise RouteNotFound(f"{request.endpoint.path} is not served by {self.name}")

    def render_error(self, error: GatewayError) -> Reply:
        return render_error(error)
