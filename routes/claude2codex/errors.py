"""Gateway and Anthropic errors -> what OpenAI Responses clients expect (reference §6.10).

Before the stream, an HTTP error in OpenAI's shape with a status the clients handle well::

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

``Retry-After`` is kept. Inside a stream the same errors end it with ``response.failed``,
whose ``error.code`` Codex reads: ``context_length_exceeded`` stops it; ``server_error`` and
``rate_limit_exceeded`` (with "try again in Ns") are retried.
"""

from __future__ import annotations

import re
from typing import Final

from llmproxy.contract import Reply
from llmproxy.dialects.openai import error_reply
from llmproxy.errors import (
    BadRequest,
    GatewayError,
    UpstreamStatusError,
    UpstreamTimeout,
)

__all__ = ["failure_code", "render_error"]

_CONTEXT: Final = re.compile(
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
    if status == 400 and _CONTEXT.search(err.message):
        code = "context_length_exceeded"
    return status, otype, code


def render_error(error: GatewayError) -> Reply:
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


def failure_code(error: GatewayError) -> tuple[str, str]:
    """``response.failed`` error code and message for an error inside the stream."""
    if isinstance(error, UpstreamStatusError):
        etype = error.error_type or ""
        if etype == "rate_limit_error" or error.upstream_status == 429:
            wait = error.retry_after or "1"
            return "rate_limit_exceeded", f"{error.message}. Please try again in {wait}s."
        if _CONTEXT.search(error.message):
            return "context_length_exceeded", error.message
        if etype == "invalid_request_error":
            return "invalid_prompt", error.message
        if etype == "billing_error":
            return "insufficient_quota", error.message
        # overloaded, api_error, timeout: retryable for Codex.
        return "server_error", f"{error.message} ({etype or error.upstream_status})"
    if isinstance(error, UpstreamTimeout):
        return "server_error", error.message
    return "server_error", error.message
