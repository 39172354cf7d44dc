"""The load generator: one process, aiohttp keep-alive connections, a closed loop of workers.

The orchestrator (``bench.run``) talks to it over stdin/stdout lines so that the target's CPU is
sampled exactly around the measured requests:

* ``--kind json|stream``: warm up, let every request finish, print ``drained``; wait for a line on
  stdin; run ``--duration`` seconds (requests started after that finish), print ``done``, then
  one JSON line of raw samples (latency and time to first token, seconds).
* ``--kind hold``: open ``--concurrency`` streams (``--ramp`` per 20 ms), print ``holding OK ERR``
  once every stream has its first token (or failed); wait for a line on stdin; abort them all and
  print the JSON line.

A stream's first token is the first occurrence of ``--first`` (e.g. ``event:
response.output_text.delta``); a reply counts as complete only if ``--end`` occurs in its last
16 KiB.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from bench.upstream import run_fast

__all__ = ["main"]

_TAIL = 16384


class BadReply(Exception):
    pass


@dataclass
class Samples:
    latency: list[float] = field(default_factory=list)
    ttft: list[float] = field(default_factory=list)
    finished: list[float] = field(default_factory=list)  # seconds since the window opened
    bytes: int = 0
    errors: int = 0
    error_kinds: dict[str, int] = field(default_factory=dict)

    def error(self, e: BaseException) -> None:
        self.errors += 1
        kind = f"{type(e).__name__}: {e}"[:120]
        self.error_kinds[kind] = self.error_kinds.get(kind, 0) + 1


@dataclass
class Job:
    url: str
    body: bytes
    headers: dict[str, str]
    kind: str
    first: bytes
    end: bytes


async def one(session: aiohttp.ClientSession, job: Job) -> tuple[float, float | None, int]:
    """One request: (latency, time to first token or None, reply bytes)."""
    t0 = time.perf_counter()
    async with session.post(job.url, data=job.body, headers=job.headers) as resp:
        if resp.status != 200:
            raise BadReply(f"HTTP {resp.status}: {(await resp.read())[:200]!r}")
        if job.kind == "json":
            data = await resp.read()
            latency = time.perf_counter() - t0
            if data.find(job.end, max(0, len(data) - _TAIL)) < 0:
                raise BadReply("reply without its end marker")
            return latency, None, len(data)
        ttft: float | None = None
        acc = bytearray()
        content = resp.content
        first = job.first
        while chunk := await content.readany():
            start = max(0, len(acc) - len(first))
            acc += chunk
            if ttft is None and acc.find(first, start) >= 0:
                ttft = time.perf_counter() - t0
        latency = time.perf_counter() - t0
        if ttft is None or acc.find(job.end, max(0, len(acc) - _TAIL)) < 0:
            raise BadReply("stream without its first-token or end marker")
        return latency, ttft, len(acc)


async def _loop(
    session: aiohttp.ClientSession, job: Job, until: float, opened: float, out: Samples | None
) -> None:
    while time.perf_counter() < until:
        try:
            latency, ttft, size = await one(session, job)
        except (TimeoutError, aiohttp.ClientError, BadReply) as e:
            if out is not None:
                out.error(e)
            await asyncio.sleep(0.01)
            continue
        if out is not None:
            out.latency.append(latency)
            if ttft is not None:
                out.ttft.append(ttft)
            out.finished.append(time.perf_counter() - opened)
            out.bytes += size


async def _readline() -> str:
    return await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


async def closed_loop(job: Job, concurrency: int, warmup: float, duration: float) -> dict[str, Any]:
    connector = aiohttp.TCPConnector(limit=0, limit_per_host=0)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        start = time.perf_counter()
        await asyncio.gather(
            *(_loop(session, job, start + warmup, start, None) for _ in range(concurrency))
        )
        _say("drained")
        await _readline()
        samples = Samples()
        opened = time.perf_counter()
        await asyncio.gather(
            *(_loop(session, job, opened + duration, opened, samples) for _ in range(concurrency))
        )
        elapsed = time.perf_counter() - opened
        _say("done")
    return {
        "latency": samples.latency,
        "ttft": samples.ttft,
        "finished": samples.finished,
        "elapsed": elapsed,
        "duration": duration,
        "bytes": samples.bytes,
        "errors": samples.errors,
        "error_kinds": samples.error_kinds,
    }


async def hold(job: Job, count: int, ramp: int) -> dict[str, Any]:
    connector = aiohttp.TCPConnector(limit=0, limit_per_host=0)
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=30)
    state = {"first": 0, "errors": 0, "events": 0}
    ready = asyncio.Event()
    samples = Samples()

    def settle() -> None:
        if state["first"] + state["errors"] >= count:
            ready.set()

    async def stream(session: aiohttp.ClientSession) -> None:
        t0 = time.perf_counter()
        seen = False
        try:
            async with session.post(job.url, data=job.body, headers=job.headers) as resp:
                if resp.status != 200:
                    raise BadReply(f"HTTP {resp.status}")
                acc = bytearray()
                while chunk := await resp.content.readany():
                    state["events"] += 1
                    if not seen:
                        start = max(0, len(acc) - len(job.first))
                        acc += chunk
                        if acc.find(job.first, start) >= 0:
                            seen = True
                            samples.ttft.append(time.perf_counter() - t0)
                            state["first"] += 1
                            acc.clear()
                            settle()
                raise BadReply("stream ended while held")
        except (TimeoutError, aiohttp.ClientError, BadReply) as e:
            samples.error(e)
            if not seen:
                state["errors"] += 1
                settle()

    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        tasks: list[asyncio.Task[None]] = []
        t0 = time.perf_counter()
        for i in range(count):
            tasks.append(asyncio.create_task(stream(session)))
            if (i + 1) % ramp == 0:
                await asyncio.sleep(0.02)
        await ready.wait()
        opened = time.perf_counter() - t0
        _say(f"holding {state['first']} {state['errors']}")
        await _readline()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return {
        "opened": state["first"],
        "failed": state["errors"],
        "ramp_s": opened,
        "chunks": state["events"],
        "ttft": samples.ttft,
        "error_kinds": samples.error_kinds,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__)
    p.add_argument("--url", required=True)
    p.add_argument("--kind", choices=("json", "stream", "hold"), required=True)
    p.add_argument("--body", required=True, help="request body (JSON text)")
    p.add_argument("--headers", default="{}", help="request headers (JSON object)")
    p.add_argument("--first", default="", help="marker of the first token (streams)")
    p.add_argument("--end", required=True, help="marker of a complete reply")
    p.add_argument("--concurrency", type=int, default=1)
    p.add_argument("--warmup", type=float, default=0.5)
    p.add_argument("--duration", type=float, default=3.0)
    p.add_argument("--ramp", type=int, default=100, help="hold: streams opened per 20 ms")
    args = p.parse_args(argv)
    job = Job(
        url=args.url,
        body=args.body.encode(),
        headers=json.loads(args.headers),
        kind=args.kind,
        first=args.first.encode(),
        end=args.end.encode(),
    )
    if args.kind == "hold":
        result = run_fast(hold(job, args.concurrency, args.ramp))
    else:
        result = run_fast(closed_loop(job, args.concurrency, args.warmup, args.duration))
    _say(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
