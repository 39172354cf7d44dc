"""The baseline: a bare aiohttp byte relay, built like the gateway's I/O shell minus translation.

``POST /<path>`` reads the body, posts it to ``<upstream>/<path>`` and streams the reply bytes
back as they arrive (one client write per upstream chunk), with the gateway's server and client
settings (``handler_cancellation``, no access log, a pooled unlimited connector, 64 KiB reads,
uvloop when installed). ``GET /readyz`` answers 200.

    python -m bench.relay --port P --upstream http://127.0.0.1:UP
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import AsyncIterator
from typing import Final

import aiohttp
from aiohttp import web

from bench.upstream import run_fast

__all__ = ["main", "make_app"]

_FORWARDED: Final = ("content-type", "accept", "x-api-key", "authorization", "anthropic-version")
SESSION: Final = web.AppKey("session", aiohttp.ClientSession)
UPSTREAM: Final = web.AppKey("upstream", str)


async def _readyz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ready"})


async def _relay(request: web.Request) -> web.StreamResponse:
    session = request.app[SESSION]
    body = await request.read()
    headers = {k: v for k in _FORWARDED if (v := request.headers.get(k)) is not None}
    async with session.post(
        request.app[UPSTREAM] + request.raw_path, data=body, headers=headers
    ) as up:
        resp = web.StreamResponse(status=up.status)
        resp.content_type = up.content_type
        resp.headers["Cache-Control"] = "no-cache"
        await resp.prepare(request)
        while chunk := await up.content.readany():
            await resp.write(chunk)
        await resp.write_eof()
        return resp


def make_app(upstream: str) -> web.Application:
    app = web.Application()
    app[UPSTREAM] = upstream.rstrip("/")

    async def _session(app: web.Application) -> AsyncIterator[None]:
        connector = aiohttp.TCPConnector(limit=0, limit_per_host=0, enable_cleanup_closed=True)
        async with aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=None),
            cookie_jar=aiohttp.DummyCookieJar(),
            trust_env=False,
            read_bufsize=2**16,
        ) as session:
            app[SESSION] = session
            yield

    app.cleanup_ctx.append(_session)
    app.router.add_get("/readyz", _readyz)
    app.router.add_post("/{tail:.*}", _relay)
    return app


async def serve(port: int, upstream: str) -> None:
    runner = web.AppRunner(
        make_app(upstream), handler_cancellation=True, access_log=None, shutdown_timeout=2.0
    )
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port, backlog=1024).start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.relay", description=__doc__)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--upstream", required=True)
    args = p.parse_args(argv)
    run_fast(serve(args.port, args.upstream))
    return 0


if __name__ == "__main__":
    sys.exit(main())
