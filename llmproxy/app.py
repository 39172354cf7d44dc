"""The aiohttp application: health, readiness, metrics, and the gateway's catch-all handler."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Final

from aiohttp import web
from aiohttp.abc import AbstractResolver

from llmproxy.config import Settings
from llmproxy.contract import Route
from llmproxy.handler import Gateway
from llmproxy.metrics import Metrics
from llmproxy.registry import Registry
from llmproxy.upstream.client import UpstreamClient

__all__ = ["GATEWAY", "make_app"]

GATEWAY: Final = web.AppKey("gateway", Gateway)


async def _healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def _readyz(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    if gw.draining:
        return web.json_response({"status": "draining"}, status=503)
    return web.json_response({"status": "ready", "routes": sorted(gw.registry)})


async def _metrics(request: web.Request) -> web.Response:
    body = request.app[GATEWAY].metrics.render()
    return web.Response(body=body, headers={"Content-Type": "text/plain; version=0.0.4"})


def make_app(
    settings: Settings,
    *,
    routes: Sequence[Route] | None = None,
    resolver: AbstractResolver | None = None,
) -> web.Application:
    """Build the application. ``routes`` replaces entry-point discovery (tests); ``resolver``
    replaces the system DNS resolver under the address guard (tests)."""
    registry = Registry(routes) if routes is not None else Registry.from_entry_points(settings)
    metrics = Metrics()
    upstream = UpstreamClient(settings, resolver=resolver)
    gateway = Gateway(settings, registry, metrics, upstream)
    app = web.Application(client_max_size=settings.max_body_bytes + 1)
    app[GATEWAY] = gateway

    async def _lifecycle(app: web.Application) -> AsyncIterator[None]:
        await upstream.start()
        yield
        await upstream.close()

    app.cleanup_ctx.append(_lifecycle)
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/readyz", _readyz)
    app.router.add_get("/metrics", _metrics)
    app.router.add_route("*", "/{tail:.*}", gateway.handle)
    return app
