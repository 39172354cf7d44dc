"""The plugin contract: what a route is, and the per-request objects it receives and returns.

A route never sees aiohttp objects. The core hands it a ``ClientRequest`` (plain data), asks the
``Exchange`` it opens for an ``UpstreamRequest`` (plain data), performs the I/O itself, and feeds
upstream SSE events, already parsed by ``llmproxy.sse``, to a ``StreamTranslator``. Everything a
route does is pure: no awaits, no sockets, no clocks beyond what the core passes in.

Lifecycle of one request (the handler in ``llmproxy.handler`` is the only I/O)::

    route.open(ClientRequest) -> Exchange          may raise BadRequest / RouteNotFound
    exchange.upstream_request() -> UpstreamRequest
    upstream error status  -> exchange.upstream_error(status, headers, body) -> GatewayError
    upstream JSON reply    -> exchange.reply(status, headers, body) -> Reply
    upstream SSE reply     -> translator = exchange.stream()
                              translator.feed(event)* / heartbeat()* then close() or fail(err)
                              client streams: every ClientEvent is framed and written
                              client does not: exchange.collect(translator) -> Reply
    any GatewayError       -> exchange.render_error(err) (or route.render_error before open)

Optional capabilities, each a small protocol of its own. The core looks them up by attribute
name (``getattr``), not with ``isinstance``: a runtime-checkable protocol check costs
microseconds on every request. Implement the attribute with exactly the protocol's meaning:

* ``Continuable`` translator: at upstream EOF before its terminal event, ``continuation()``
  may give the request that continues a paused upstream turn (Anthropic ``pause_turn``); the
  core sends it and feeds the new stream to the same translator, at most
  ``Settings.max_continuations`` times, then calls ``close()``.
* ``Rephrasable`` exchange: before any byte reached the client, ``retry_after_error(...)``
  may turn an upstream error into one different request (e.g. without the thinking blocks an
  upstream refused); the core sends that instead of failing.
* ``DropsTools`` exchange: ``dropped_tools`` names the client tools the route dropped (from a
  fixed set the route owns), counted as ``llmproxy_dropped_tools_total{route, tool}``.
* ``ReportsIncomplete`` translator: ``incomplete`` is True when the model's reply was cut short
  (output limit); the request is counted with outcome ``incomplete``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import msgspec

if TYPE_CHECKING:
    from llmproxy.config import Settings
    from llmproxy.errors import GatewayError
    from llmproxy.sse import SSEEvent

__all__ = [
    "ClientEvent",
    "ClientRequest",
    "Continuable",
    "DropsTools",
    "Endpoint",
    "Exchange",
    "Rephrasable",
    "Reply",
    "Route",
    "RouteFactory",
    "StreamTranslator",
    "UpstreamRequest",
    "Usage",
]


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A client endpoint a route serves, relative to the client's base URL (``responses``).

    The core also serves it behind ``v1/`` (``v1/responses``): clients differ in whether their
    base URL ends in ``/v1``.
    """

    method: str
    path: str


@dataclass(frozen=True, slots=True)
class ClientRequest:
    """One client request, as the core parsed it.

    ``headers`` holds lower-cased names and only the headers a route may need (credentials
    included, so a route must never log or echo them). ``upstream`` is the policy-checked base
    URL of the provider, without a trailing ``/v1``.
    """

    route: str
    endpoint: Endpoint
    upstream: str
    headers: Mapping[str, str]
    body: bytes
    request_id: str
    #: Unix time at which the gateway received the request.
    received_at: float


@dataclass(frozen=True, slots=True)
class UpstreamRequest:
    """What to send upstream. ``path`` is appended to the upstream base (``/v1/messages``)."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes | None = None
    #: True when the reply is expected to be an SSE stream.
    stream: bool = False


@dataclass(frozen=True, slots=True)
class Reply:
    """A complete (non-streamed) reply to the client."""

    status: int
    body: bytes
    content_type: str = "application/json"
    headers: Mapping[str, str] = field(default_factory=dict)


class ClientEvent(msgspec.Struct, frozen=True, gc=False):
    """One event for the client: the core frames it as SSE (``event:`` line only if named)."""

    event: str | None
    data: bytes


@dataclass(slots=True)
class Usage:
    """Token counts in the gateway's neutral vocabulary, for metrics and the request log.

    ``input`` excludes cache reads and writes; ``reasoning`` is part of ``output``.
    """

    input: int = 0
    output: int = 0
    cache_read: int = 0
    cache_write: int = 0
    reasoning: int = 0


@runtime_checkable
class StreamTranslator(Protocol):
    """Sans-IO translation of one upstream event stream into client events.

    A fresh instance per stream. ``feed`` after ``done`` is a bug and raises.
    """

    @property
    def done(self) -> bool:
        """True once the terminal client event was produced; the core then stops reading."""
        ...

    @property
    def error(self) -> GatewayError | None:
        """The failure that ended the stream, if it failed."""
        ...

    @property
    def skipped(self) -> int:
        """Upstream events skipped as unknown (counted, never a crash)."""
        ...

    @property
    def usage(self) -> Usage | None: ...

    def feed(self, event: SSEEvent) -> list[ClientEvent]: ...

    def heartbeat(self) -> list[ClientEvent]:
        """The upstream has been silent for a while: events that keep the client's idle
        timer from firing without breaking the client's event order (may be empty)."""
        ...

    def close(self) -> list[ClientEvent]:
        """The upstream stream ended (EOF). Ends with the terminal event, success or not."""
        ...

    def fail(self, error: GatewayError) -> list[ClientEvent]:
        """The stream broke (timeout, connection lost, limit): terminal failure events."""
        ...


@runtime_checkable
class Exchange(Protocol):
    """One request/response cycle, with whatever state translation needs between the two."""

    #: Whether the client asked for an SSE stream.
    client_streams: bool
    #: The model the client asked for (for logs; never used as a metric label).
    model: str

    def upstream_request(self) -> UpstreamRequest: ...

    def upstream_error(self, status: int, headers: Mapping[str, str], body: bytes) -> GatewayError:
        """Turn an upstream HTTP error reply into a gateway error (the route knows the dialect)."""
        ...

    def reply(self, status: int, headers: Mapping[str, str], body: bytes) -> Reply:
        """Translate a complete JSON upstream reply."""
        ...

    def stream(self) -> StreamTranslator: ...

    def collect(self, translator: StreamTranslator) -> Reply:
        """For a client that did not ask to stream: the reply assembled from the translator."""
        ...

    def render_error(self, error: GatewayError) -> Reply: ...

    def stream_headers(self) -> Mapping[str, str]:
        """Extra headers for a streamed reply (``Content-Type`` is set by the core)."""
        ...


@runtime_checkable
class Continuable(Protocol):
    """A translator whose upstream turn may pause and be continued by another request."""

    def continuation(self) -> UpstreamRequest | None:
        """After the upstream stream ended paused: the request that continues the turn (given
        once), whose stream the core then feeds to this same translator. None otherwise."""
        ...


@runtime_checkable
class ReportsIncomplete(Protocol):
    """A translator that can tell a reply the model cut short (output limit) from a complete
    one, for the ``incomplete`` outcome of ``llmproxy_requests_total``."""

    @property
    def incomplete(self) -> bool: ...


@runtime_checkable
class Rephrasable(Protocol):
    """An exchange that can answer one upstream error with a different request."""

    def retry_after_error(
        self, status: int, headers: Mapping[str, str], body: bytes
    ) -> UpstreamRequest | None:
        """Called before any byte reached the client: a request to send instead of failing
        with this error, or None. The exchange decides how many times it rephrases."""
        ...


@runtime_checkable
class DropsTools(Protocol):
    """An exchange that reports the client tools its route dropped."""

    #: Tool types dropped from this request; each a member of a fixed, route-owned set.
    dropped_tools: Sequence[str]


@runtime_checkable
class Route(Protocol):
    """A translation route: a name, the endpoints it serves, and ``open``."""

    name: str
    endpoints: tuple[Endpoint, ...]
    #: The SSE ``Content-Type`` the route's streams use.
    stream_content_type: str

    def open(self, request: ClientRequest) -> Exchange: ...

    def render_error(self, error: GatewayError) -> Reply:
        """Render an error that happened before an Exchange existed, in the route's dialect."""
        ...


#: What the ``llmproxy.routes`` entry point names: a callable that builds the route once at
#: start-up from the gateway's settings.
RouteFactory = Callable[["Settings"], Route]
