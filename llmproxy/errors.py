"""The gateway's errors: few types, each with the HTTP status it maps to.

Translation code raises only these; it never imports aiohttp's HTTP exceptions. Every error is
rendered in the client's dialect by the route (``Exchange.render_error``), or by the core's
default OpenAI-shaped renderer when no route is known yet::

    GatewayError                         abstract
    ├── RouteNotFound             404    unknown route, or an endpoint the route does not serve
    ├── BadRequest                400    the client's request is invalid; ``param`` names the field
    ├── UpstreamNotAllowed        403    the upstream URL is refused by the upstream policy
    ├── PayloadTooLarge           413    request body over the configured limit
    ├── ServiceUnavailable        503    the gateway is draining (SIGTERM) and takes no new work
    ├── InternalError             500    a bug in the gateway (logged; no details to the client)
    └── UpstreamError                    talking to the upstream went wrong
        ├── UpstreamConnectError  502    DNS, TCP or TLS failure before any reply
        ├── UpstreamTimeout       504    connect, first byte or idle gap exceeded
        ├── UpstreamStatusError   (*)    the upstream answered with an error, before or inside
        │                                the stream; the route maps its status and type
        └── UpstreamProtocolError 502    a reply the gateway cannot read: bad JSON, bad SSE,
                                         a stream that ended before its terminal event
"""

from __future__ import annotations

from typing import ClassVar, Final

__all__ = [
    "BadRequest",
    "GatewayError",
    "InternalError",
    "PayloadTooLarge",
    "RouteNotFound",
    "ServiceUnavailable",
    "UpstreamConnectError",
    "UpstreamError",
    "UpstreamNotAllowed",
    "UpstreamProtocolError",
    "UpstreamStatusError",
    "UpstreamTimeout",
]


class GatewayError(Exception):
    """Base of every error the gateway renders to a client."""

    status: ClassVar[int] = 500
    #: A short machine-readable code; dialects may map it to their own vocabulary.
    code: str | None = None

    def __init__(self, message: str, *, code: str | None = None, param: str | None = None):
        super().__init__(message)
        self.message: Final = message
        if code is not None:
            self.code = code
        self.param: Final = param

    @property
    def http_status(self) -> int:
        return self.status


class RouteNotFound(GatewayError):
    status = 404
    code = "not_found"


class BadRequest(GatewayError):
    status = 400
    code = "invalid_request"


class UpstreamNotAllowed(GatewayError):
    status = 403
    code = "upstream_not_allowed"


class PayloadTooLarge(GatewayError):
    status = 413
    code = "request_too_large"


class ServiceUnavailable(GatewayError):
    status = 503
    code = "draining"


class InternalError(GatewayError):
    status = 500
    code = "internal_error"


class UpstreamError(GatewayError):
    status = 502
    code = "upstream_error"


class UpstreamConnectError(UpstreamError):
    status = 502
    code = "upstream_connect_error"


class UpstreamTimeout(UpstreamError):
    status = 504
    code = "upstream_timeout"


class UpstreamProtocolError(UpstreamError):
    status = 502
    code = "upstream_protocol_error"


class UpstreamStatusError(UpstreamError):
    """The upstream said no: an HTTP error status, or an ``error`` event inside its stream.

    ``upstream_status`` is the upstream's HTTP status (for an in-stream error, the status that
    the upstream documents for ``error_type``). The route decides what the client sees.
    """

    def __init__(
        self,
        message: str,
        *,
        upstream_status: int,
        error_type: str | None = None,
        retry_after: str | None = None,
        upstream_request_id: str | None = None,
        in_stream: bool = False,
    ):
        super().__init__(message, code=error_type)
        self.upstream_status: Final = upstream_status
        self.error_type: Final = error_type
        self.retry_after: Final = retry_after
        self.upstream_request_id: Final = upstream_request_id
        self.in_stream: Final = in_stream

    @property
    def http_status(self) -> int:
        return self.upstream_status
