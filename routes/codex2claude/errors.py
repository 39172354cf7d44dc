"""Gateway and OpenAI errors -> what Anthropic Messages clients expect (reference §5.3).

Before the stream, an HTTP error with Anthropic's body
``{"type": "error", "error": {"type", "message"}, "request_id"}`` and a status the Anthropic SDKs
and Claude Code handle well (they retry 408, 409, 429 and 5xx, and compact the conversation on
"prompt is too long")::

    upstream (OpenAI Responses)               client status  error.type
    400/422, code context_length_exceeded     400            invalid_request_error, message
                                                             "prompt is too long: ..."
    400/422 other                             400            invalid_request_error
    401                                       401            authentication_error
    403                                       403            permission_error
    404                                       404            not_found_error
    413                                       413            request_too_large
    429, code insufficient_quota              402            billing_error (not retried)
    429 other                                 429            rate_limit_error
    503, code server_is_overloaded/slow_down  529            overloaded_error
    504                                       504            timeout_error
    500, 502, other 5xx                       same           api_error

    gateway                                   client status  error.type
    BadRequest                                400            invalid_request_error
    RouteNotFound                             404            not_found_error
    UpstreamNotAllowed                        403            permission_error
    PayloadTooLarge                           413            request_too_large
    ServiceUnavailable (draining)             529            overloaded_error (retried elsewhere)
    UpstreamTimeout                           504            timeout_error
    UpstreamConnectError, ProtocolError       502            api_error
    InternalError                             500            api_error

``Retry-After`` is kept. Inside a stream the same classification ends it with ``event: error``
(``response.failed``'s ``error.code`` is read like the HTTP table: ``rate_limit_exceeded`` ->
``rate_limit_error``, ``server_is_overloaded`` -> ``overloaded_error``, ...), never with
``message_stop``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

from llmproxy.contract import Reply
from llmproxy.dialects import anthropic as A
from llmproxy.dialects.openai import decode_error_body
from llmproxy.errors import (
    BadRequest,
    GatewayError,
    PayloadTooLarge,
    RouteNotFound,
    ServiceUnavailable,
    UpstreamNotAllowed,
    UpstreamStatusError,
    UpstreamTimeout,
)

__all__ = ["classify", "render_error", "status_for_code", "upstream_status_error"]

_CONTEXT: Final = re.compile(
    r"context[ _](window|length)|maximum context|prompt is too long|too many tokens", re.IGNORECASE
)
_TOO_LONG: Final = "prompt is too long"
_OVERLOADED: Final = frozenset({"server_is_overloaded", "slow_down", "overloaded_error"})

#: The HTTP status an in-stream ``response.failed`` error code stands for.
_STATUS_BY_CODE: Final = {
    "rate_limit_exceeded": 429,
    "insufficient_quota": 429,
    "server_is_overloaded": 503,
    "slow_down": 503,
    "context_length_exceeded": 400,
    "invalid_prompt": 400,
    "server_error": 500,
}


def status_for_code(code: str | None) -> int:
    """The HTTP status that a ``response.failed`` / ``error`` event's code stands for."""
    if code is None:
        return 500
    if code in _STATUS_BY_CODE:
        return _STATUS_BY_CODE[code]
    if code.startswith(("invalid_", "image_", "unsupported_", "empty_", "failed_to_download")):
        return 400  # the openai-python enum of request-caused failures (reference §2.1)
    return 500


def upstream_status_error(
    status: int, headers: Mapping[str, str], body: bytes
) -> UpstreamStatusError:
    """An OpenAI-compatible upstream's HTTP error reply, with its message, code and
    ``Retry-After``."""
    parsed = decode_error_body(body)
    message = (parsed.message if parsed else None) or f"the upstream answered HTTP {status}"
    code = None
    if parsed is not None:
        code = str(parsed.code) if parsed.code is not None else parsed.type
    return UpstreamStatusError(
        message,
        upstream_status=status,
        error_type=code,
        retry_after=headers.get("retry-after"),
        upstream_request_id=headers.get("x-request-id"),
    )


def _upstream(err: UpstreamStatusError) -> tuple[int, str, str]:
    code = err.error_type or ""
    status = err.upstream_status
    message = err.message
    if err.upstream_request_id:
        message = f"{message} (upstream request id {err.upstream_request_id})"
    too_long = status in (400, 413, 422) and _CONTEXT.search(message) is not None
    if code == "context_length_exceeded" or too_long:
        # Claude Code compacts the conversation when the message starts like Anthropic's.
        if not message.lower().startswith(_TOO_LONG):
            message = f"{_TOO_LONG}: {message}"
        return 400, "invalid_request_error", message
    if code == "insufficient_quota":
        return 402, "billing_error", message
    if code == "rate_limit_exceeded" or status == 429:
        return 429, "rate_limit_error", message
    if code in _OVERLOADED or status in (503, 529):
        return 529, "overloaded_error", message
    if status in (400, 422):
        return 400, "invalid_request_error", message
    return status, A.error_type_for_status(status), message


def classify(error: GatewayError) -> tuple[int, str, str]:
    """HTTP status, Anthropic ``error.type`` and message for any gateway error."""
    if isinstance(error, UpstreamStatusError):
        return _upstream(error)
    if isinstance(error, BadRequest):
        message = f"{error.param}: {error.message}" if error.param else error.message
        return 400, "invalid_request_error", message
    if isinstance(error, RouteNotFound):
        return 404, "not_found_error", error.message
    if isinstance(error, UpstreamNotAllowed):
        return 403, "permission_error", error.message
    if isinstance(error, PayloadTooLarge):
        return 413, "request_too_large", error.message
    if isinstance(error, ServiceUnavailable):
        return 529, "overloaded_error", error.message
    if isinstance(error, UpstreamTimeout):
        return 504, "timeout_error", error.message
    return error.http_status, A.error_type_for_status(error.http_status), error.message


def render_error(error: GatewayError, request_id: str | None = None) -> Reply:
    status, etype, message = classify(error)
    headers: dict[str, str] = {}
    if isinstance(error, UpstreamStatusError) and error.retry_after:
        headers["retry-after"] = error.retry_after
    if request_id:
        headers["request-id"] = request_id  # the header Anthropic clients log
    return Reply(status=status, body=A.error_body(etype, message, request_id), headers=headers)
