"""``echo``: an OpenAI Responses relay that answers in capitals -- a complete LLMProxy route in
one module, written against the public plugin contract (``llmproxy.contract``) only.

The client's request goes upstream unchanged (``POST <upstream>/v1/responses``, its key as a
Bearer token); the reply comes back with every output text upper-cased: the JSON Response of a
non-streaming request, and each event of a stream (text deltas, done events, the items and the
final Response). Everything here is pure: the gateway does the I/O and hands the route plain
data (``ClientRequest``) and parsed SSE events.

Registered in ``setup.cfg``::

    [options.entry_points]
    llmproxy.routes =
        echo = llmproxy_echo_route:route
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final, Literal

from llmproxy.config import Settings
from llmproxy.contract import (
    ClientEvent,
    ClientRequest,
    Endpoint,
    Reply,
    StreamTranslator,
    UpstreamRequest,
    Usage,
)
from llmproxy.errors import (
    BadRequest,
    GatewayError,
    RouteNotFound,
    UpstreamProtocolError,
    UpstreamStatusError,
)
from llmproxy.sse import SSEEvent

__all__ = ["EchoRoute", "EchoStream", "route", "shout"]

_RESPONSES: Final = Endpoint("POST", "responses")
_TERMINAL: Final = frozenset({"response.completed", "response.incomplete", "response.failed"})


def shout(value: Any) -> Any:
    """``value`` (a Response, an item or a stream event) with its output texts upper-cased."""
    if isinstance(value, list):
        return [shout(v) for v in value]
    if not isinstance(value, dict):
        return value
    out = {k: shout(v) for k, v in value.items()}
    kind = out.get("type")
    key = {
        "output_text": "text",
        "response.output_text.done": "text",
        "response.output_text.delta": "delta",
    }.get(kind if isinstance(kind, str) else "")
    if key is not None and isinstance(out.get(key), str):
        out[key] = out[key].upper()
    return out


def _encode(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def _usage(response: Any) -> Usage | None:
    usage = response.get("usage") if isinstance(response, dict) else None
    if not isinstance(usage, dict):
        return None
    cached = (usage.get("input_tokens_details") or {}).get("cached_tokens") or 0
    return Usage(
        input=int(usage.get("input_tokens") or 0) - int(cached),
        output=int(usage.get("output_tokens") or 0),
        cache_read=int(cached),
        reasoning=int((usage.get("output_tokens_details") or {}).get("reasoning_tokens") or 0),
    )


def _error_body(message: str, etype: str, code: str | None) -> bytes:
    return _encode({"error": {"message": message, "type": etype, "param": None, "code": code}})


class EchoStream:
    """One upstream stream, event by event: same events, capital letters. ``phase`` is the
    whole state: ``open`` until a terminal event (or a failure), then ``done``."""

    def __init__(self) -> None:
        self.phase: Literal["open", "done"] = "open"
        self._error: GatewayError | None = None
        self._skipped = 0
        self._usage: Usage | None = None

    def __repr__(self) -> str:
        return f"EchoStream(phase={self.phase!r}, skipped={self._skipped})"

    @property
    def done(self) -> bool:
        return self.phase == "done"

    @property
    def error(self) -> GatewayError | None:
        return self._error

    @property
    def skipped(self) -> int:
        return self._skipped

    @property
    def usage(self) -> Usage | None:
        return self._usage

    def feed(self, event: SSEEvent) -> list[ClientEvent]:
        if self.done:
            raise RuntimeError("EchoStream.feed() after the terminal event")
        try:
            data = json.loads(event.data)
        except ValueError:
            data = None
        if not isinstance(data, dict) or not isinstance(data.get("type"), str):
            self._skipped += 1
            return []
        kind = data["type"]
        if kind in _TERMINAL:
            self.phase = "done"
            self._usage = _usage(data.get("response"))
            if kind == "response.failed":
                error = (data.get("response") or {}).get("error") or {}
                self._error = UpstreamStatusError(
                    str(error.get("message") or "the upstream failed"),
                    upstream_status=500,
                    error_type=error.get("code"),
                    in_stream=True,
                )
        return [ClientEvent(kind, _encode(shout(data)))]

    def heartbeat(self) -> list[ClientEvent]:
        return []  # Responses clients wait quietly; a relay adds nothing of its own

    def close(self) -> list[ClientEvent]:
        if self.done:
            return []
        return self.fail(UpstreamProtocolError("the upstream stream ended before it finished"))

    def fail(self, error: GatewayError) -> list[ClientEvent]:
        if self.done:
            return []
        self.phase = "done"
        self._error = error
        event = {"type": "error", "code": "server_error", "message": error.message, "param": None}
        return [ClientEvent("error", _encode(event))]


class EchoExchange:
    """One ``POST /responses``."""

    def __init__(self, request: ClientRequest) -> None:
        try:
            body = json.loads(request.body)
        except ValueError:
            raise BadRequest("the request body is not JSON", param="body") from None
        if not isinstance(body, dict) or not isinstance(body.get("model"), str):
            raise BadRequest("a Responses request needs a model", param="model")
        self._request = request
        self.model: str = body["model"]
        self.client_streams: bool = body.get("stream") is True

    def upstream_request(self) -> UpstreamRequest:
        h = self._request.headers
        key = h.get("x-api-key")
        headers = {"content-type": "application/json"}
        if key:
            headers["authorization"] = f"Bearer {key}"
        elif h.get("authorization"):
            headers["authorization"] = h["authorization"]
        return UpstreamRequest(
            "POST", "/v1/responses", headers, self._request.body, stream=self.client_streams
        )

    def upstream_error(self, status: int, headers: Mapping[str, str], body: bytes) -> GatewayError:
        try:
            error = json.loads(body).get("error") or {}
        except (ValueError, AttributeError):
            error = {}
        return UpstreamStatusError(
            str(error.get("message") or f"the upstream answered HTTP {status}"),
            upstream_status=status,
            error_type=error.get("code"),
            retry_after=headers.get("retry-after"),
        )

    def reply(self, status: int, headers: Mapping[str, str], body: bytes) -> Reply:
        try:
            response = json.loads(body)
        except ValueError:
            raise UpstreamProtocolError("the upstream reply is not JSON") from None
        return Reply(status=200, body=_encode(shout(response)))

    def stream(self) -> EchoStream:
        return EchoStream()

    def collect(self, translator: StreamTranslator) -> Reply:
        # Only streaming clients get a streamed upstream request (``upstream_request``).
        raise UpstreamProtocolError("a JSON client got a stream")

    def render_error(self, error: GatewayError) -> Reply:
        return render_error(error)

    def stream_headers(self) -> Mapping[str, str]:
        return {}


def render_error(error: GatewayError) -> Reply:
    """Every error in OpenAI's shape, with the status the gateway chose for it."""
    headers: dict[str, str] = {}
    if isinstance(error, UpstreamStatusError) and error.retry_after:
        headers["retry-after"] = error.retry_after
    etype = "invalid_request_error" if error.http_status < 500 else "server_error"
    return Reply(
        status=error.http_status,
        body=_error_body(error.message, etype, error.code),
        headers=headers,
    )


class EchoRoute:
    name: str = "echo"
    endpoints: tuple[Endpoint, ...] = (_RESPONSES,)
    stream_content_type: str = "text/event-stream"

    def open(self, request: ClientRequest) -> EchoExchange:
        if request.endpoint != _RESPONSES:
            raise RouteNotFound(f"{request.endpoint.path} is not served by {self.name}")
        return EchoExchange(request)

    def render_error(self, error: GatewayError) -> Reply:
        return render_error(error)


def route(settings: Settings) -> EchoRoute:
    """The ``llmproxy.routes`` entry point: called once at start-up with the gateway's
    settings (this route needs none of them)."""
    return EchoRoute()
