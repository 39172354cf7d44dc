"""The I/O shell: the one place that reads client requests, calls upstreams and writes replies.

Everything else (URL parsing, policy, translation) is pure and is called from here. One client
request runs through ``Gateway.handle``:

1. parse the path (``llmproxy.urls``), look the route up, check the upstream (policy);
2. read the body (bounded), let the route ``open`` an Exchange;
3. send the upstream request; an HTTP error before the stream becomes the route's error reply
   (unless the exchange rephrases the request once: ``Rephrasable``);
4. stream: read a chunk, parse SSE, translate, write every resulting client event in one write,
   and only then read the next chunk (the client's pace bounds the gateway's memory); while the
   upstream is silent, ask the translator for a heartbeat; at upstream EOF, a paused turn
   (``Continuable``) is continued by another upstream request into the same translator;
5. the terminal event ends the reply and the upstream connection; a client that goes away
   cancels the handler (``handler_cancellation``), which closes the upstream connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from dataclasses import dataclass, field
from typing import Final

import aiohttp
from aiohttp import web

from llmproxy.config import Settings
from llmproxy.contract import (
    ClientEvent,
    ClientRequest,
    Exchange,
    Reply,
    Route,
    StreamTranslator,
    UpstreamRequest,
    Usage,
)
from llmproxy.dialects.openai import gateway_error_reply
from llmproxy.errors import (
    GatewayError,
    InternalError,
    PayloadTooLarge,
    ServiceUnavailable,
    UpstreamConnectError,
    UpstreamError,
    UpstreamProtocolError,
    UpstreamTimeout,
)
from llmproxy.logs import get_logger, redacted_body
from llmproxy.metrics import Metrics
from llmproxy.registry import Registry
from llmproxy.sse import SSEDecoder, SSELineTooLong, encode_event
from llmproxy.upstream.client import UpstreamClient, header_view, read_limited
from llmproxy.upstream.policy import UpstreamPolicy, UpstreamTarget
from llmproxy.upstream.retry import RetryPolicy
from llmproxy.urls import parse_target, split_route

__all__ = ["FORWARDED_HEADERS", "Gateway"]

#: Client headers a route may see. Everything else (cookies, hop-by-hop and forwarding
#: headers, client fingerprints) stays at the gateway.
FORWARDED_HEADERS: Final = frozenset(
    {
        "authorization",
        "x-api-key",
        "anthropic-version",
        "anthropic-beta",
        "content-type",
        "accept",
    }
)

_log = get_logger("llmproxy.request")


@dataclass(slots=True)
class _Record:
    """What the canonical log line and the metrics say about one request."""

    request_id: str
    started: float
    route: str = "-"
    upstream_host: str | None = None
    model: str | None = None
    status: int | None = None
    upstream_status: int | None = None
    outcome: str = "internal_error"
    first_byte: float | None = None
    waited: float = 0.0  # seconds spent awaiting the upstream or the client
    events_in: int = 0
    events_out: int = 0
    usage: Usage | None = None
    error: str | None = None
    extra: dict[str, object] = field(default_factory=dict)


class Gateway:
    def __init__(
        self,
        settings: Settings,
        registry: Registry,
        metrics: Metrics,
        upstream: UpstreamClient,
    ) -> None:
        self.settings: Final = settings
        self.registry: Final = registry
        self.metrics: Final = metrics
        self.upstream: Final = upstream
        self.policy: Final = UpstreamPolicy(
            settings.allow_upstream, settings.upstreams, allowlist_only=settings.allowlist_only
        )
        self.retry: Final = RetryPolicy(
            max_retries=settings.max_retries, max_wait=settings.max_retry_wait
        )
        self.draining = False
        self.in_flight: set[asyncio.Task[object]] = set()

    # -- entry ---------------------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        rid = _request_id(request)
        rec = _Record(request_id=rid, started=time.monotonic())
        task = asyncio.current_task()
        if task is not None:
            self.in_flight.add(task)
        route: Route | None = None
        try:
            route_name, rest = split_route(request.raw_path)
            if route_name in self.registry:
                route = self.registry[route_name]
                rec.route = route_name
            response = await self._handle(request, rec, route_name, rest, route)
            return response
        except asyncio.CancelledError:
            rec.outcome = "cancelled"
            if rec.route != "-":
                self.metrics.disconnects.labels(rec.route).inc()
            raise
        finally:
            if task is not None:
                self.in_flight.discard(task)
            self._finish(rec)

    async def _handle(
        self, request: web.Request, rec: _Record, route_name: str, rest: str, route: Route | None
    ) -> web.StreamResponse:
        exchange: Exchange | None = None
        try:
            if self.draining:
                raise ServiceUnavailable("the gateway is shutting down; retry on another replica")
            if route is None:
                route = self.registry.lookup(route_name)  # raises RouteNotFound
            target = parse_target(route.name, rest, request.method, route.endpoints)
            checked = self.policy.check(target.upstream)
            rec.upstream_host = checked.host
            body = await self._read_body(request)
            creq = ClientRequest(
                route=route.name,
                endpoint=target.endpoint,
                upstream=checked.base,
                headers={
                    k.lower(): v
                    for k, v in request.headers.items()
                    if k.lower() in FORWARDED_HEADERS
                },
                body=body,
                request_id=rec.request_id,
                received_at=time.time(),
            )
            if self.settings.log_bodies:
                _log.debug("client_body", request_id=rec.request_id, body=redacted_body(body))
            exchange = route.open(creq)
            rec.model = exchange.model
            # Optional capabilities (contract.DropsTools, Rephrasable, Continuable,
            # ReportsIncomplete) are looked up with getattr: a runtime-checkable Protocol's
            # isinstance costs microseconds per call on the hot path.
            for tool in getattr(exchange, "dropped_tools", ()):
                self.metrics.dropped_tools.labels(route.name, tool).inc()
            return await self._exchange(request, rec, route, exchange, checked)
        except GatewayError as e:
            rec.error = f"{type(e).__name__}: {e.message}"
            rec.outcome = "upstream_error" if isinstance(e, UpstreamError) else "client_error"
            if exchange is not None:
                reply = exchange.render_error(e)
            elif route is not None:
                reply = route.render_error(e)
            else:
                reply = gateway_error_reply(e)
            return self._reply(reply, rec)
        except Exception as e:  # a bug: answer in the client's shape, never with a traceback
            rec.outcome = "internal_error"
            rec.error = f"{type(e).__name__} (bug)"
            _log.exception("internal_error", request_id=rec.request_id, route=rec.route)
            err = InternalError(f"internal gateway error (request id {rec.request_id})")
            if exchange is not None:
                reply = exchange.render_error(err)
            elif route is not None:
                reply = route.render_error(err)
            else:
                reply = gateway_error_reply(err)
            return self._reply(reply, rec)

    async def _read_body(self, request: web.Request) -> bytes:
        limit = self.settings.max_body_bytes
        if request.content_length is not None and request.content_length > limit:
            raise PayloadTooLarge(f"the request body is larger than {limit} bytes")
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.content.iter_any():
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(f"the request body is larger than {limit} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    # -- upstream ------------------------------------------------------------------------------

    async def _exchange(
        self,
        request: web.Request,
        rec: _Record,
        route: Route,
        exchange: Exchange,
        target: UpstreamTarget,
    ) -> web.StreamResponse:
        ureq = exchange.upstream_request()
        if self.settings.log_bodies and ureq.body is not None:
            _log.debug("upstream_body", request_id=rec.request_id, body=redacted_body(ureq.body))
        attempt = 0
        retry_wait = 0.0
        while True:
            reason: str
            try:
                t0 = time.monotonic()
                async with self.upstream.open(target, ureq) as resp:
                    rec.waited += time.monotonic() - t0
                    rec.upstream_status = resp.status
                    self.metrics.upstream_responses.labels(
                        route.name, f"{resp.status // 100}xx"
                    ).inc()
                    headers = header_view(resp)
                    if resp.status < 400:
                        if not ureq.stream:
                            t0 = time.monotonic()
                            body = await read_limited(
                                resp, self.settings.max_reply_bytes, self.settings.idle_timeout
                            )
                            rec.waited += time.monotonic() - t0
                            reply = exchange.reply(resp.status, headers, body)
                            rec.outcome = "ok" if reply.status < 400 else "upstream_error"
                            return self._reply(reply, rec)
                        return await self._pump(request, rec, route, exchange, resp, target)
                    t0 = time.monotonic()
                    body = await read_limited(
                        resp, self.settings.max_error_body_bytes, self.settings.first_byte_timeout
                    )
                    rec.waited += time.monotonic() - t0
                    rephrase = getattr(exchange, "retry_after_error", None)
                    if rephrase is not None:
                        again = rephrase(resp.status, headers, body)
                        if again is not None:  # nothing reached the client: send that instead
                            ureq = again
                            self.metrics.retries.labels(route.name, "rephrased").inc()
                            continue
                    delay = self.retry.delay(
                        attempt,
                        retry_wait,
                        status=resp.status,
                        retry_after=headers.get("retry-after"),
                    )
                    if delay is None:
                        raise exchange.upstream_error(resp.status, headers, body)
                    reason = str(resp.status)
            except UpstreamConnectError:
                delay = self.retry.delay(attempt, retry_wait, connect_error=True)
                if delay is None:
                    raise
                reason = "connect"
            # Nothing has reached the client yet: a retry is invisible to it.
            self.metrics.retries.labels(route.name, reason).inc()
            await asyncio.sleep(delay)
            retry_wait += delay
            rec.waited += delay
            attempt += 1

    async def _pump(
        self,
        request: web.Request,
        rec: _Record,
        route: Route,
        exchange: Exchange,
        resp: aiohttp.ClientResponse,
        target: UpstreamTarget,
    ) -> web.StreamResponse:
        translator = exchange.stream()
        continued = 0
        continuation = contextlib.AsyncExitStack()
        decoder = SSEDecoder(max_line=self.settings.max_sse_line_bytes)
        out_stream: web.StreamResponse | None = None
        heartbeat = self.settings.heartbeat_interval
        idle_limit = self.settings.idle_timeout
        content = resp.content
        silent_since = time.monotonic()
        gauge = self.metrics.streams.labels(route.name)
        counted = False
        watch = _SilenceWatch(min(heartbeat, idle_limit))
        try:
            while not translator.done:
                t0 = time.monotonic()
                out: list[ClientEvent]
                try:
                    chunk = await watch.read(content)
                except TimeoutError:
                    now = time.monotonic()
                    rec.waited += now - t0
                    if now - silent_since >= idle_limit:
                        out = translator.fail(
                            UpstreamTimeout(f"the upstream sent nothing for {idle_limit:g} seconds")
                        )
                    else:
                        out = translator.heartbeat()
                except aiohttp.ClientError as e:
                    rec.waited += time.monotonic() - t0
                    out = translator.fail(
                        UpstreamProtocolError(
                            f"the upstream connection broke mid-stream: {type(e).__name__}"
                        )
                    )
                else:
                    now = time.monotonic()
                    rec.waited += now - t0
                    silent_since = now
                    if not chunk:
                        out = [] if translator.done else self._drain(decoder, translator, rec)
                        nxt = None
                        follow = getattr(translator, "continuation", None)
                        if not translator.done and follow is not None:
                            nxt = follow()
                        if nxt is not None and continued < self.settings.max_continuations:
                            # A paused upstream turn: continue it into the same translator.
                            continued += 1
                            self.metrics.continuations.labels(route.name).inc()
                            decoder = SSEDecoder(max_line=self.settings.max_sse_line_bytes)
                            try:
                                await continuation.aclose()
                                continuation = contextlib.AsyncExitStack()
                                content = await self._continue(
                                    continuation, target, nxt, route, exchange, rec
                                )
                            except GatewayError as e:
                                out.extend(translator.fail(e))
                            silent_since = time.monotonic()
                        elif not translator.done:
                            out.extend(translator.close())
                    else:
                        try:
                            events = decoder.feed(chunk)
                        except SSELineTooLong as e:
                            out = translator.fail(UpstreamProtocolError(str(e)))
                        else:
                            rec.events_in += len(events)
                            out = []
                            for ev in events:
                                out.extend(translator.feed(ev))
                                if translator.done:
                                    break
                if not out:
                    continue
                rec.events_out += len(out)
                if not exchange.client_streams:
                    continue
                if out_stream is None:
                    out_stream = await self._start_stream(request, rec, route, exchange)
                    gauge.inc()
                    counted = True
                data = b"".join(encode_event(e.data, e.event) for e in out)
                t0 = time.monotonic()
                await out_stream.write(data)
                rec.waited += time.monotonic() - t0
        except (ConnectionResetError, aiohttp.ClientConnectionResetError):
            rec.outcome = "cancelled"
            self.metrics.disconnects.labels(route.name).inc()
            if out_stream is None:
                raise
            return out_stream
        except asyncio.CancelledError:
            if not (self.draining and out_stream is not None and not translator.done):
                raise
            # The shutdown grace period is over: end the stream in the client's dialect
            # instead of cutting it, then let the server stop.
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
            shutdown = ServiceUnavailable("the gateway shut down before the reply finished")
            rec.error = f"{type(shutdown).__name__}: {shutdown.message}"
            rec.outcome = "upstream_error"
            out = translator.fail(shutdown)
            rec.events_out += len(out)
            with contextlib.suppress(ConnectionError, aiohttp.ClientConnectionResetError):
                await out_stream.write(b"".join(encode_event(e.data, e.event) for e in out))
                await out_stream.write_eof()
            return out_stream
        finally:
            watch.close()
            await continuation.aclose()
            if counted:
                gauge.dec()
            rec.usage = translator.usage
            self.metrics.events_in.labels(route.name).inc(rec.events_in)
            self.metrics.events_out.labels(route.name).inc(rec.events_out)
            if translator.skipped:
                self.metrics.skipped.labels(route.name).inc(translator.skipped)

        err = translator.error
        if err is not None:
            rec.error = f"{type(err).__name__}: {err.message}"
        cut_short = bool(getattr(translator, "incomplete", False))
        if not exchange.client_streams:
            reply = exchange.collect(translator)
            rec.outcome = _outcome(reply.status, err)
            if rec.outcome == "ok" and cut_short:
                rec.outcome = "incomplete"
            return self._reply(reply, rec)
        rec.outcome = "upstream_error" if err is not None else "ok"
        if rec.outcome == "ok" and cut_short:
            rec.outcome = "incomplete"
        if out_stream is None:  # the upstream produced nothing translatable at all
            raise err or UpstreamProtocolError("the upstream stream was empty")
        # A client that leaves right after the terminal event had the whole reply.
        with contextlib.suppress(ConnectionResetError, aiohttp.ClientConnectionResetError):
            await out_stream.write_eof()
        return out_stream

    @staticmethod
    def _drain(
        decoder: SSEDecoder, translator: StreamTranslator, rec: _Record
    ) -> list[ClientEvent]:
        """At upstream EOF: the events the decoder still held (the caller then closes)."""
        out: list[ClientEvent] = []
        for ev in decoder.close():
            rec.events_in += 1
            out.extend(translator.feed(ev))
            if translator.done:
                return out
        return out

    async def _continue(
        self,
        stack: contextlib.AsyncExitStack,
        target: UpstreamTarget,
        ureq: UpstreamRequest,
        route: Route,
        exchange: Exchange,
        rec: _Record,
    ) -> aiohttp.StreamReader:
        """Send the request that continues a paused turn; its body is the stream to read next.
        Raises the gateway error of a refused continuation."""
        t0 = time.monotonic()
        resp = await stack.enter_async_context(self.upstream.open(target, ureq))
        rec.waited += time.monotonic() - t0
        self.metrics.upstream_responses.labels(route.name, f"{resp.status // 100}xx").inc()
        if resp.status >= 400:
            body = await read_limited(
                resp, self.settings.max_error_body_bytes, self.settings.first_byte_timeout
            )
            raise exchange.upstream_error(resp.status, header_view(resp), body)
        return resp.content

    async def _start_stream(
        self, request: web.Request, rec: _Record, route: Route, exchange: Exchange
    ) -> web.StreamResponse:
        resp = web.StreamResponse(status=200)
        resp.content_type = route.stream_content_type
        resp.headers["Cache-Control"] = "no-cache"
        resp.headers["X-Accel-Buffering"] = "no"
        resp.headers["x-request-id"] = rec.request_id
        for k, v in exchange.stream_headers().items():
            resp.headers[k] = v
        rec.status = 200
        await resp.prepare(request)
        rec.first_byte = time.monotonic()
        return resp

    # -- replies and bookkeeping ---------------------------------------------------------------

    def _reply(self, reply: Reply, rec: _Record) -> web.Response:
        rec.status = reply.status
        rec.first_byte = time.monotonic()
        headers: dict[str, str] = {"x-request-id": rec.request_id}
        headers.update(reply.headers)
        return web.Response(
            status=reply.status,
            body=reply.body,
            content_type=reply.content_type,
            headers=headers,
        )

    def _finish(self, rec: _Record) -> None:
        end = time.monotonic()
        duration = end - rec.started
        route = rec.route
        m = self.metrics
        if route != "-":
            m.requests.labels(route, rec.outcome).inc()
            m.duration.labels(route).observe(duration)
            if rec.first_byte is not None:
                m.first_event.labels(route).observe(rec.first_byte - rec.started)
            m.overhead.labels(route).observe(max(0.0, duration - rec.waited))
            if rec.usage is not None:
                u = rec.usage
                tok = m.tokens
                tok.labels(route, "input").inc(u.input)
                tok.labels(route, "output").inc(u.output)
                tok.labels(route, "cache_read").inc(u.cache_read)
                tok.labels(route, "cache_write").inc(u.cache_write)
                tok.labels(route, "reasoning").inc(u.reasoning)
        fields: dict[str, object] = {
            "request_id": rec.request_id,
            "route": route,
            "upstream_host": rec.upstream_host,
            "model": rec.model,
            "status": rec.status,
            "upstream_status": rec.upstream_status,
            "outcome": rec.outcome,
            "duration_ms": round(duration * 1000, 2),
            "ttfb_ms": None
            if rec.first_byte is None
            else round((rec.first_byte - rec.started) * 1000, 2),
            "overhead_ms": round(max(0.0, duration - rec.waited) * 1000, 3),
            "events_in": rec.events_in,
            "events_out": rec.events_out,
        }
        if rec.usage is not None:
            u = rec.usage
            fields.update(
                input_tokens=u.input,
                output_tokens=u.output,
                cache_read_tokens=u.cache_read,
                cache_write_tokens=u.cache_write,
                reasoning_tokens=u.reasoning,
            )
        if rec.error:
            fields["error"] = rec.error
        _log.info("request", **fields)


class _SilenceWatch:
    """Wakes the pump when the upstream has been silent for ``interval`` seconds.

    One timer per stream, re-armed only when it fires, instead of a timeout context around
    every read (that costs a timer and a task lookup per upstream chunk). The timer cancels the
    pump's task only while it waits in ``read``; ``read`` turns that cancellation, and only
    that one, into ``TimeoutError``. A cancellation from elsewhere (the client went away,
    shutdown) propagates untouched.
    """

    __slots__ = ("_fired", "_handle", "_interval", "_last", "_loop", "_task", "_waiting")

    def __init__(self, interval: float) -> None:
        self._loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        self._task = task
        self._interval = interval
        self._last = self._loop.time()
        self._waiting = False
        self._fired = False
        self._handle = self._loop.call_at(self._last + interval, self._check)

    def _check(self) -> None:
        now = self._loop.time()
        due = self._last + self._interval
        if self._waiting and now >= due:
            self._fired = True
            self._task.cancel()
            due = now + self._interval
        self._handle = self._loop.call_at(max(due, now), self._check)

    async def read(self, content: aiohttp.StreamReader) -> bytes:
        self._waiting = True
        try:
            return await content.readany()
        except asyncio.CancelledError:
            if not self._fired:
                raise
            self._fired = False
            if self._task.uncancel() > 0:  # cancelled for another reason too
                raise
            raise TimeoutError from None
        finally:
            self._waiting = False
            self._last = self._loop.time()

    def close(self) -> None:
        self._handle.cancel()


def _outcome(status: int, err: GatewayError | None) -> str:
    if status < 400:
        return "ok"
    if err is not None or status >= 500:
        return "upstream_error"
    return "client_error"


def _request_id(request: web.Request) -> str:
    rid = request.headers.get("x-request-id", "")
    if 0 < len(rid) <= 128 and rid.isascii() and rid.isprintable():
        return rid
    return "req_" + os.urandom(16).hex()
