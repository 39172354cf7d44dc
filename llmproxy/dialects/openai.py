"""OpenAI error bodies, shared by every route that presents an OpenAI surface.

Shape: ``{"error": {"message", "type", "param", "code"}}`` (openai-python unwraps
``body["error"]``; it maps the HTTP status to its exception class and retries 408, 409, 429 and
5xx unless ``x-should-retry: false``).
"""

from __future__ import annotations

from typing import Final

import msgspec

from llmproxy.contract import Reply
from llmproxy.errors import GatewayError, UpstreamStatusError

__all__ = ["ErrorBody", "ErrorObject", "error_reply", "gateway_error_reply"]


class ErrorObject(msgspec.Struct):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorBody(msgspec.Struct):
    error: ErrorObject


_ENCODE: Final = msgspec.json.Encoder().encode

_TYPE_BY_STATUS: Final = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "invalid_request_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
}


def error_reply(
    status: int,
    message: str,
    *,
    type: str | None = None,
    code: str | None = None,
    param: str | None = None,
    headers: dict[str, str] | None = None,
) -> Reply:
    etype = type or _TYPE_BY_STATUS.get(status, "server_error" if status >= 500 else "error")
    body = _ENCODE(ErrorBody(ErrorObject(message=message, type=etype, param=param, code=code)))
    hdrs = dict(headers or {})
    if 400 <= status < 500 and status not in (408, 409, 429):
        hdrs.setdefault("x-should-retry", "false")
    return Reply(status=status, body=body, headers=hdrs)


def gateway_error_reply(error: GatewayError) -> Reply:
    """The generic rendering of a gateway error in OpenAI's shape (no dialect mapping)."""
    headers: dict[str, str] = {}
    if isinstance(error, UpstreamStatusError) and error.retry_after:
        headers["retry-after"] = error.retry_after
    return error_reply(
        error.http_status, error.message, code=error.code, param=error.param, headers=headers
    )


# -- decoding: an OpenAI-compatible upstream's error body (the upstream of codex2claude) ----------


class ErrorObjectIn(msgspec.Struct):
    message: str | None = None
    type: str | None = None
    param: str | None = None
    #: A string for OpenAI; some compatible servers send numbers.
    code: str | int | None = None


class _ErrorBodyIn(msgspec.Struct):
    #: OpenAI's object; some compatible servers send a bare string.
    error: ErrorObjectIn | str | None = None
    #: FastAPI-style servers (vLLM, ...) answer ``{"detail": ...}`` or ``{"message": ...}``.
    message: str | None = None
    detail: str | None = None


_error_in_decoder: Final = msgspec.json.Decoder(_ErrorBodyIn)


def decode_error_body(body: bytes) -> ErrorObjectIn | None:
    """The error an OpenAI-compatible upstream sent, or None when the body says nothing
    readable (HTML from a proxy, an empty body)."""
    try:
        parsed = _error_in_decoder.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    if isinstance(parsed.error, ErrorObjectIn):
        return parsed.error if parsed.error.message else None
    message = parsed.error or parsed.message or parsed.detail
    return ErrorObjectIn(message=message) if message else None


__all__ += ["ErrorObjectIn", "decode_error_body"]
