"""The codex2claude route: Anthropic Messages for the client, OpenAI Responses upstream.

=================================  ==========================================================
client endpoint                    upstream call
=================================  ==========================================================
``POST /v1/messages``              ``POST /v1/responses`` (always streamed; JSON clients get
                                   the Message assembled from the stream)
``POST /v1/messages/count_tokens`` ``POST /v1/responses/input_tokens`` (the upstream's own
                                   count of the translated request; an upstream without that
                                   endpoint answers 404, passed on as ``not_found_error``)
``GET /v1/models``                 ``GET /v1/models`` (OpenAI's list in Anthropic's shape)
=================================  ==========================================================

Credentials: the client's ``x-api-key`` (or ``Authorization: Bearer``) goes upstream as
``Authorization: Bearer``; nothing else of the client's headers does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

import msgspec

from llmproxy.config import Settings
from llmproxy.contract import ClientRequest, Endpoint, Reply, StreamTranslator, UpstreamRequest
from llmproxy.dialects import anthropic as A
from llmproxy.errors import BadRequest, GatewayError, RouteNotFound, UpstreamProtocolError
from llmproxy.logs import get_logger
from routes.codex2claude.errors import render_error, upstream_status_error
from routes.codex2claude.models import translate_input_tokens, translate_models
from routes.codex2claude.request import MessagesRequest, decode_request, translate_request
from routes.codex2claude.stream import MessagesStream

__all__ = ["Codex2Claude", "upstream_headers"]

_MESSAGES: Final = Endpoint("POST", "messages")
_COUNT_TOKENS: Final = Endpoint("POST", "messages/count_tokens")
_MODELS: Final = Endpoint("GET", "models")
_encode: Final = msgspec.json.Encoder().encode
_log = get_logger("llmproxy.codex2claude")


def upstream_headers(req: ClientRequest) -> dict[str, str]:
    """The client's key as a Bearer token, and the request id; nothing else of the client's."""
    h = req.headers
    auth = h.get("authorization", "")
    key = h.get("x-api-key") or (auth[7:].strip() if auth[:7].lower() == "bearer " else "")
    out = {"x-client-request-id": req.request_id}
    if key:
        out["authorization"] = f"Bearer {key}"
    return out


class MessagesExchange:
    """One ``POST /v1/messages``."""

    def __init__(self, route: Codex2Claude, req: ClientRequest, parsed: MessagesRequest) -> None:
        self._req = req
        self.model = parsed.model
        self.client_streams = bool(parsed.stream)
        upstream_model = route.settings.model_map.get(parsed.model, parsed.model)
        self._translated = translate_request(
            parsed, upstream_model=upstream_model, profiles=tuple(route.settings.models)
        )
        if self._translated.dropped:
            _log.debug(
                "translation_notes", request_id=req.request_id, dropped=self._translated.dropped
            )

    def upstream_request(self) -> UpstreamRequest:
        headers = upstream_headers(self._req)
        headers["content-type"] = "application/json"
        headers["accept"] = "text/event-stream"
        return UpstreamRequest(
            method="POST",
            path="/v1/responses",
            headers=headers,
            body=_encode(self._translated.body),
            stream=True,
        )

    def upstream_error(self, status: int, headers: Mapping[str, str], body: bytes) -> GatewayError:
        return upstream_status_error(status, headers, body)

    def reply(self, status: int, headers: Mapping[str, str], body: bytes) -> Reply:
        raise UpstreamProtocolError("the upstream answered a streaming request without a stream")

    def stream(self) -> MessagesStream:
        t = self._translated
        return MessagesStream(
            model=self.model, upstream_model=t.upstream_model, tools=t.tools, thinking=t.thinking
        )

    def collect(self, translator: StreamTranslator) -> Reply:
        assert isinstance(translator, MessagesStream)
        if translator.error is not None or translator.final is None:
            return self.render_error(
                translator.error or UpstreamProtocolError("the upstream stream ended early")
            )
        return Reply(
            status=200,
            body=A.encode_out(translator.final),
            headers={"request-id": self._req.request_id},
        )

    def render_error(self, error: GatewayError) -> Reply:
        return render_error(error, self._req.request_id)

    def stream_headers(self) -> Mapping[str, str]:
        return {"request-id": self._req.request_id}


class _JSONExchange:
    """A non-streamed call whose JSON reply is reshaped (count_tokens, models)."""

    client_streams: bool = False

    def __init__(self, req: ClientRequest, upstream: UpstreamRequest, model: str) -> None:
        self._req = req
        self._upstream = upstream
        self.model = model

    def upstream_request(self) -> UpstreamRequest:
        return self._upstream

    def upstream_error(self, status: int, headers: Mapping[str, str], body: bytes) -> GatewayError:
        return upstream_status_error(status, headers, body)

    def translate(self, body: bytes) -> bytes:
        raise NotImplementedError

    def reply(self, status: int, headers: Mapping[str, str], body: bytes) -> Reply:
        try:
            out = self.translate(body)
        except (msgspec.DecodeError, msgspec.ValidationError) as e:
            raise UpstreamProtocolError(f"the upstream reply is unreadable: {e}") from e
        return Reply(status=200, body=out, headers={"request-id": self._req.request_id})

    def stream(self) -> StreamTranslator:
        raise UpstreamProtocolError("this reply is not a stream")

    def collect(self, translator: StreamTranslator) -> Reply:
        raise UpstreamProtocolError("this reply is not a stream")

    def render_error(self, error: GatewayError) -> Reply:
        return render_error(error, self._req.request_id)

    def stream_headers(self) -> Mapping[str, str]:
        return {}


class CountTokensExchange(_JSONExchange):
    """``POST /v1/messages/count_tokens``: the upstream counts the translated request."""

    def __init__(self, route: Codex2Claude, req: ClientRequest, parsed: MessagesRequest) -> None:
        upstream_model = route.settings.model_map.get(parsed.model, parsed.model)
        t = translate_request(
            parsed,
            upstream_model=upstream_model,
            profiles=tuple(route.settings.models),
            count_tokens=True,
        )
        headers = upstream_headers(req)
        headers["content-type"] = "application/json"
        super().__init__(
            req,
            UpstreamRequest("POST", "/v1/responses/input_tokens", headers, _encode(t.body)),
            parsed.model,
        )

    def translate(self, body: bytes) -> bytes:
        return translate_input_tokens(body)


class ModelsExchange(_JSONExchange):
    """``GET /v1/models``: OpenAI's list in Anthropic's shape."""

    def __init__(self, req: ClientRequest) -> None:
        super().__init__(req, UpstreamRequest("GET", "/v1/models", upstream_headers(req)), "-")

    def translate(self, body: bytes) -> bytes:
        return translate_models(body)


class Codex2Claude:
    name: str = "codex2claude"
    endpoints: tuple[Endpoint, ...] = (_MESSAGES, _COUNT_TOKENS, _MODELS)
    stream_content_type: str = "text/event-stream"

    def __init__(self, settings: Settings) -> None:
        self.settings: Final = settings

    def open(self, request: ClientRequest) -> MessagesExchange | _JSONExchange:
        if request.endpoint in (_MESSAGES, _COUNT_TOKENS):
            parsed = decode_request(request.body)
            limit = self.settings.max_input_items
            if len(parsed.messages) > limit:
                raise BadRequest(
                    f"messages has {len(parsed.messages)} entries; this gateway accepts at most "
                    f"{limit}",
                    param="messages",
                )
            if request.endpoint == _MESSAGES:
                return MessagesExchange(self, request, parsed)
            return CountTokensExchange(self, request, parsed)
        if request.endpoint == _MODELS:
            return ModelsExchange(request)
        raise RouteNotFound(f"{request.endpoint.path} is not served by {self.name}")

    def render_error(self, error: GatewayError) -> Reply:
        return render_error(error)
