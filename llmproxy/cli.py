"""Command line: ``llmproxy serve`` (also ``python -m llmproxy``) and ``llmproxy routes``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import time
from collections.abc import Sequence

from aiohttp import web

from llmproxy.app import GATEWAY, make_app
from llmproxy.config import Settings, load_settings, parse_pairs
from llmproxy.logs import configure_logging, get_logger
from llmproxy.registry import Registry, RegistryError

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="llmproxy", description=__doc__)
    sub = p.add_subparsers(dest="command")
    s = sub.add_parser("serve", help="run the gateway (the default command)")
    s.add_argument("--host", help="address to listen on (default 127.0.0.1; env LLMPROXY_HOST)")
    s.add_argument("--port", type=int, help="port (default 8080; env LLMPROXY_PORT)")
    s.add_argument(
        "--allow-upstream",
        action="append",
        metavar="URL",
        help="permit an upstream base URL (origin or prefix) that the default policy refuses, "
        "e.g. http://127.0.0.1:9100; repeatable; env LLMPROXY_ALLOW_UPSTREAM (comma-separated)",
    )
    s.add_argument(
        "--upstream",
        action="append",
        metavar="NAME=URL",
        help="name an upstream: /ROUTE/NAME/... then reaches URL (trusted like "
        "--allow-upstream); repeatable; env LLMPROXY_UPSTREAMS",
    )
    s.add_argument(
        "--allowlist-only",
        action="store_true",
        default=None,
        help="serve only named upstreams and --allow-upstream prefixes (env "
        "LLMPROXY_ALLOWLIST_ONLY=1)",
    )
    s.add_argument("--config", help="TOML settings file (env LLMPROXY_CONFIG)")
    s.add_argument("--log-format", choices=("json", "console"), help="default json")
    s.add_argument("--log-level", choices=("debug", "info", "warning", "error"))
    s.add_argument(
        "--shutdown-grace",
        type=float,
        help="seconds in-flight streams get to finish after SIGTERM (default 30)",
    )
    r = sub.add_parser("routes", help="list the registered routes")
    r.add_argument("--config")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    command = args.command or "serve"
    overrides: dict[str, object] = {}
    if command == "serve":
        overrides = {
            "host": args.host,
            "port": args.port,
            "allow_upstream": args.allow_upstream,
            "log_format": args.log_format,
            "log_level": args.log_level,
            "shutdown_grace": args.shutdown_grace,
            "allowlist_only": args.allowlist_only,
        }
        if args.upstream:
            try:
                overrides["upstreams"] = parse_pairs(",".join(args.upstream))
            except ValueError as e:
                print(f"llmproxy: --upstream: {e}", file=sys.stderr)
                return 2
    try:
        settings = load_settings(overrides, config_file=getattr(args, "config", None))
    except (ValueError, OSError) as e:
        print(f"llmproxy: {e}", file=sys.stderr)
        return 2
    # ``routes`` prints its answer on stdout; its log lines go to stderr.
    configure_logging(
        settings.log_format, settings.log_level, stream=sys.stderr if command == "routes" else None
    )
    try:
        if command == "routes":
            registry = Registry.from_entry_points(settings)
            for name in sorted(registry):
                route = registry[name]
                eps = ", ".join(f"{e.method} {e.path}" for e in route.endpoints)
                print(f"{name}\t{eps}")
            return 0
        run = asyncio.run
        with contextlib.suppress(ImportError):  # optional speed-up: the "fast" extra
            import uvloop

            run = uvloop.run
        return run(_serve(settings))
    except RegistryError as e:
        print(f"llmproxy: {e}", file=sys.stderr)
        return 2


async def _serve(settings: Settings) -> int:
    log = get_logger("llmproxy")
    started = time.monotonic()
    app = make_app(settings)
    gateway = app[GATEWAY]
    runner = web.AppRunner(app, handler_cancellation=True, access_log=None, shutdown_timeout=2.0)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port, backlog=1024)
    await site.start()
    log.info(
        "listening",
        host=settings.host,
        port=settings.port,
        routes=sorted(gateway.registry),
        startup_ms=round((time.monotonic() - started) * 1000, 1),
        allow_upstream=settings.allow_upstream,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    # Drain: not ready, refuse new work, let in-flight requests finish within the grace period.
    gateway.draining = True
    log.info("draining", in_flight=len(gateway.in_flight), grace_s=settings.shutdown_grace)
    if gateway.in_flight:
        await asyncio.wait(set(gateway.in_flight), timeout=settings.shutdown_grace)
    # Past the grace period: each remaining stream ends with its dialect's failure event.
    for task in list(gateway.in_flight):
        task.cancel()
    if gateway.in_flight:
        await asyncio.wait(set(gateway.in_flight), timeout=2.0)
    await runner.cleanup()
    log.info("stopped")
    return 0
