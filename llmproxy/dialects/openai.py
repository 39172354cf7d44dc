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
