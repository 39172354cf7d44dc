"""An Anthropic Messages upstream behind an OpenAI surface: what every such route (``claude2codex``,
``claude2chat``) tells its client about errors and models, in OpenAI's shape. Pure.

Errors (reference §6.10). Before a stream, an HTTP error in OpenAI's shape with a status the
OpenAI clients handle well; inside a Chat Completions stream, the same error object::

    upstream (Anthropic)                  client status  type / code
    400 invalid_request_error             400            invalid_request_error / - or
        "prompt is too long" etc.                        context_length_exceeded
    401 authentication_error              401            invalid_request_error / invalid_api_key
    402 billing_error                     429            insufficient_quota / insufficient_quota
    403 permission_error                  403            permission_error / -
    404 not_found_error                   404            invalid_request_error / model_not_found
    413 request_too_large                 400            invalid_request_error / request_too_large
    429 rate_limit_error                  429            rate_limit_error / rate_limit_exceeded
    500 api_error, other 5xx              500 / status   server_error / server_error
    504 timeout_error                     504            server_error / timeout
    529 overloaded_error                  503            server_error / server_is_overloaded

``Retry-After`` is kept; the upstream's request id is appended to the message. Gateway errors
(bad request, policy, timeouts) keep their own status, code and ``param``.

Models: ``GET /v1/models`` (Anthropic's list) becomes OpenAI's ``{"object": "list", "data":
[{"id", "object": "model", "created", "owned_by"}]}``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Final

import msgspec

from llmproxy.contract import ClientRequest, Reply, StreamTranslator, UpstreamRequest
from llmproxy.dialects.anthropic import upstream_status_error
from llmproxy.dialects.anthropic_request import upstream_headers
from llmproxy.dialects.openai import error_reply
from llmproxy.errors import BadRequest, GatewayError, UpstreamProtocolError, UpstreamStatusError

__all__ = ["CONTEXT_OVERFLOW", "ModelsExchange", "render_error", "translate_models"]

#: How Anthropic-compatible upstreams word a prompt that does not fit the context window.
CONTEXT_OVERFLOW: Final = re.compile(
    r"prompt is too long|exceed(s|ed)? (the )?context|context (window|length)|too many tokens",
    re.IGNORECASE,
)

# status, type, code
_BY_TYPE: Final[dict[str, tuple[int, str, str | None]]] = {
    "invalid_request_error": (400, "invalid_request_error", None),
    "authentication_error": (401, "invalid_request_error", "invalid_api_key"),
    "billing_error": (429, "insufficient_quota", "insufficient_quota"),
    "permission_error": (403, "permission_error", None),
    "not_found_error": (404, "invalid_request_error", "model_not_found"),
    "request_too_large": (400, "invalid_request_error", "request_too_large"),
    "rate_limit_error": (429, "rate_limit_error", "rate_limit_exceeded"),
    "api_error": (500, "server_error", "server_error"),
    "timeout_error": (504, "server_error", "timeout"),
    "overloaded_error": (503, "server_error", "server_is_overloaded"),
}


def _upstream_mapping(err: UpstreamStatusError) -> tuple[int, str, str | None]:
    etype = err.error_type or ""
    if etype in _BY_TYPE:
        status, otype, code = _BY_TYPE[etype]
    elif err.upstream_status == 529:
        status, otype, code = _BY_TYPE["overloaded_error"]
    elif err.upstream_status >= 500:
        status, otype, code = err.upstream_status, "server_error", "server_error"
    elif err.upstream_status == 429:
        status, otype, code = _BY_TYPE["rate_limit_error"]
    else:
        status, otype, code = err.upstream_status, "invalid_request_error", None
    if status == 400 and CONTEXT_OVERFLOW.search(err.message):
        code = "context_length_exceeded"
    return status, otype, code


def render_error(error: GatewayError) -> Reply:
    """The HTTP error reply for ``error``. Its body is also what a Chat Completions stream sends
    as its failure event (``data: {"error": {...}}``)."""
    if isinstance(error, UpstreamStatusError):
        status, otype, code = _upstream_mapping(error)
        headers: dict[str, str] = {}
        if error.retry_after:
            headers["retry-after"] = error.retry_after
        message = error.message
        if error.upstream_request_id:
            message = f"{message} (upstream request id {error.upstream_request_id})"
        return error_reply(status, message, type=otype, code=code, headers=headers)
    if isinstance(error, BadRequest):
        return error_reply(
            400, error.message, type="invalid_request_error", code=error.code, param=error.param
        )
    return error_reply(error.http_status, error.message, code=error.code, param=error.param)


# -- GET /models ------------------------------------------------------------------------------


class _AnthropicModel(msgspec.Struct):
    id: str
    created_at: str | None = None
    display_name: str | None = None


class _AnthropicList(msgspec.Struct):
    data: list[_AnthropicModel] = msgspec.field(default_factory=list)


class _OpenAIModel(msgspec.Struct):
    id: str
    object: str
    created: int
    owned_by: str


class _OpenAIList(msgspec.Struct):
    object: str
    data: list[_OpenAIModel]


_decode_models: Final = msgspec.json.Decoder(_AnthropicList).decode
_encode: Final = msgspec.json.Encoder().encode


def _created(value: str | None) -> int:
    if not value:
        return 0
    try:
        return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp())
    except ValueError:
        return 0


def translate_models(body: bytes) -> bytes:
    """Raises ``msgspec.DecodeError``/``ValidationError`` on a body that is not a model list."""
    src = _decode_models(body)
    out = _OpenAIList(
        object="list",
        data=[
            _OpenAIModel(
                id=m.id, object="model", created=_created(m.created_at), owned_by="anthropic"
            )
            for m in src.data
        ],
    )
    return _encode(out)


class ModelsExchange:
    """``GET /models``: Anthropic's list in OpenAI's shape (an ``Exchange``)."""

    client_streams: bool = False
    model: str = "-"

    def __init__(self, req: ClientRequest) -> None:
        self._req = req

    def upstream_request(self) -> UpstreamRequest:
        r = self._req
        return UpstreamRequest(
            method="GET",
            path="/v1/models",
            headers=upstream_headers(r.headers, r.upstream, r.request_id),
        )

    def upstream_error(self, status: int, headers: Mapping[str, str], body: bytes) -> GatewayError:
        return upstream_status_error(status, headers, body)

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
