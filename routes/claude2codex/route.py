"""The claude2codex route: OpenAI Responses for the client, Anthropic Messages upstream."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

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
from llmproxy.dialects.anthropic_openai import translate_models
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
from routes.claude2codex.request import Echo, ResponsesRequest, decode_request, translate_request
from routes.claude2codex.stream import ResponsesStream, ResponseTemplate

__all__ = ["Claude2Codex"]

_RESPONSES: Final = Endpoint("POST", "responses")
_MODELS: Final = Endpoint("GET", "models")
_encode: Final = msgspec.json.Encoder().encode
_log = get_logger("llmproxy.claude2codex")


def upstream_headers(req: ClientRequest) -> dict[str, str]:
    return anthropic_headers(req.headers, req.upstream, req.request_id)


class ResponsesExchange:
    """One ``POST /responses``."""

    def __init__(
        self, route: Claude2Codex, req: ClientRequest, parsed: ResponsesRequest, echo: Echo
    ) -> None:
        self._route = route
        self._req = req
        self.model = parsed.model
        self.client_streams = bool(parsed.stream)
        upstream_model = route.settings.model_map.get(parsed.model, parsed.model)
        profile = profile_for(upstream_model, tuple(route.settings.models))
        self._translated = translate_request(
            parsed, upstream_model=upstream_model, profile=profile, envelope=route.envelope
        )
        t = self._translated
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
        )

    def upstream_request(self) -> UpstreamRequest:
        headers = upstream_headers(self._req)
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

    def reply(self, status: int, headers: Mapping[str, str], body: bytes) -> Reply:
        raise UpstreamProtocolError("the upstream answered a streaming request without a stream")

    def stream(self) -> ResponsesStream:
        return ResponsesStream(
            self._template,
            self._translated.tools,
            self._route.envelope,
            self._translated.upstream_model,
            summaries=self._translated.summaries,
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


class ModelsExchange:
    """``GET /models``: Anthropic's list in OpenAI's shape."""

    client_streams: bool = False
    model: str = "-"

    def __init__(self, req: ClientRequest) -> None:
        self._req = req

    def upstream_request(self) -> UpstreamRequest:
        return UpstreamRequest(method="GET", path="/v1/models", headers=upstream_headers(self._req))

    def upstream_error(self, status: int, headers: Mapping[str, str], body: bytes) -> GatewayError:
        return A.upstream_status_error(status, headers, body)

    def reply(self, status: int, headers: Mapping[str, str], body: bytes) -> Reply:
        try:
            return Reply(status=200, body=translate_models(body))
        except (msgspec.DecodeError, msgspec.ValidationError) as e:
            raise UpstreamProtocolError(f"the upstream model list is unreadable: {e}") from e

    def stream(self) -> StreamTranslator:
        raise UpstreamProtocolError("the model list is not a stream")

    def collect(self, translator: StreamTranslator) -> Reply:
        raise UpstreamProtocolError("the model list is not a stream")

    def render_error(self, error: GatewayError) -> Reply:
        return render_error(error)

    def stream_headers(self) -> Mapping[str, str]:
        return {}


class Claude2Codex:
    name: str = "claude2codex"
    endpoints: tuple[Endpoint, ...] = (_RESPONSES, _MODELS)
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
        if request.endpoint == _RESPONSES:
            parsed, echo = decode_request(request.body)
            limit = self.settings.max_input_items
            if isinstance(parsed.input, list) and len(parsed.input) > limit:
                raise BadRequest(
                    f"input has {len(parsed.input)} items; this gateway accepts at most {limit}",
                    param="input",
                    code="too_many_input_items",
                )
            return ResponsesExchange(self, request, parsed, echo)
        if request.endpoint == _MODELS:
            return ModelsExchange(request)
        raise RouteNotFound(f"{request.endpoint.path} is not served by {self.name}")

    def render_error(self, error: GatewayError) -> Reply:
        return render_error(error)
