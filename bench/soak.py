"""``make soak``: minutes of mixed traffic against a real ``llmproxy serve``, then a verdict on
whether memory, file descriptors and tasks came back flat.

Traffic (bounded in count and time, loopback only), spread over concurrent workers:

* JSON and streamed successes (thinking + text, and tool calls);
* clients that disconnect mid-stream, while the upstream keeps streaming or hangs;
* upstream errors before the stream (429 with a long retry-after, 500, 529 -> retries),
  error events and cut connections inside it;
* slow clients that read a streamed answer in small pieces with pauses.

The gateway's RSS and open fds come from ``/proc``; its asyncio task count and error counts
from its own ``/metrics``. Measured after a warm-up, and again after the traffic stops and the
gateway is idle. Exit status 1 when the end is not flat (RSS grew by more than
``--rss-slack-mb``, fds or tasks above their idle baseline).

    python -m bench.soak [--duration 120] [--workers 24]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
import random
import re
import socket
import sys
import time
from dataclasses import dataclass
from typing import Any

import aiohttp

from tests.support.fake_anthropic import (
    ErrorReply,
    FakeAnthropic,
    Reply,
    StreamFault,
    text,
    thinking,
    tool_use,
)

KEY = "sk-soak-0000"
_SETTLE = 16.0
MODES = [
    "json",
    "stream",
    "stream",
    "tool",
    "disconnect",
    "disconnect_hang",
    "slow",
    "err429",
    "err500",
    "err529",
    "error_event",
    "reset",
]


def responder(body: dict[str, Any]) -> Reply | ErrorReply | StreamFault:
    first = body["messages"][0]["content"][0]
    mode = first.get("text", "").split(":", 1)[-1] if isinstance(first, dict) else "json"
    long_text = [text("word " * 400)]
    if mode == "tool":
        return Reply([thinking("plan"), tool_use("get_weather", {"city": "Paris"})])
    if mode == "disconnect":
        return Reply([thinking("x" * 2000), *long_text])
    if mode == "disconnect_hang":
        return StreamFault(Reply(long_text), 6, "hang")
    if mode == "err429":
        return ErrorReply(429, "rate_limit_error", "slow down", headers={"retry-after": "600"})
    if mode == "err500":
        return ErrorReply(500, "api_error", "Internal server error")
    if mode == "err529":
        return ErrorReply(529, "overloaded_error", "Overloaded", headers={"retry-after": "0"})
    if mode == "error_event":
        return StreamFault(Reply(long_text), 10, "error_event")
    if mode == "reset":
        return StreamFault(Reply(long_text), 10, "reset")
    return Reply([thinking("short plan"), *long_text])


@dataclass
class Probe:
    rss_mb: float
    fds: int
    tasks: int
    metrics: dict[str, float]


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


async def probe(session: aiohttp.ClientSession, url: str, pid: int) -> Probe:
    async with session.get(url + "/metrics") as r:
        raw = await r.text()
    values: dict[str, float] = {}
    for line in raw.splitlines():
        m = re.match(r"^(llmproxy_\w+)(\{[^}]*\})? ([0-9.e+-]+)$", line)
        if m:
            values[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    return Probe(
        rss_mb=_rss_mb(pid),
        fds=len(os.listdir(f"/proc/{pid}/fd")),
        tasks=int(values.get("llmproxy_event_loop_tasks", -1)),
        metrics=values,
    )


async def one(session: aiohttp.ClientSession, base: str, mode: str) -> str:
    stream = mode not in ("json", "err429", "err500", "err529")
    body = {
        "model": "claude-sonnet-4-5",
        "input": f"mode:{mode}",
        "stream": stream,
        "reasoning": {"effort": "low", "summary": "auto"},
        "tools": [
            {
                "type": "function",
                "name": "get_weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            }
        ],
    }
    headers = {"Authorization": f"Bearer {KEY}"}
    async with session.post(base + "/responses", json=body, headers=headers) as r:
        if mode.startswith("disconnect"):
            await r.content.readany()
            r.close()  # the client goes away mid-stream
            return "disconnected"
        if mode == "slow":
            while chunk := await r.content.read(256):
                del chunk
                await asyncio.sleep(0.005)
            return str(r.status)
        await r.read()
        return str(r.status)


async def traffic(base: str, duration: float, workers: int, cap: int) -> dict[str, int]:
    counts: dict[str, int] = {}
    deadline = time.monotonic() + duration
    sent = itertools.count()
    rng = random.Random(7)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            while time.monotonic() < deadline and next(sent) < cap:
                mode = rng.choice(MODES)
                try:
                    outcome = await asyncio.wait_for(one(session, base, mode), 30)
                except (aiohttp.ClientError, TimeoutError) as e:
                    outcome = type(e).__name__
                key = f"{mode}:{outcome}"
                counts[key] = counts.get(key, 0) + 1

        await asyncio.gather(*(worker() for _ in range(workers)))
    return counts


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def main(args: argparse.Namespace) -> int:
    async with FakeAnthropic(chunk_size=40) as fake:
        fake.responder = responder
        port = free_port()
        env = {
            **os.environ,
            "LLMPROXY_ALLOW_UPSTREAM": fake.base_url,
            "LLMPROXY_REASONING_KEY": "soak",
            "LLMPROXY_LOG_LEVEL": "warning",
        }
        sink = open(args.log, "wb") if args.log else asyncio.subprocess.DEVNULL  # noqa: SIM115, ASYNC230
        proc = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "llmproxy", "serve", "--port", str(port)),
            env=env,
            stdout=sink,
            stderr=sink,
        )
        url = f"http://127.0.0.1:{port}"
        base = f"{url}/claude2codex/{fake.base_url}"
        try:
            async with aiohttp.ClientSession() as s:
                for _ in range(200):
                    with contextlib.suppress(aiohttp.ClientError):
                        async with s.get(url + "/readyz") as r:
                            if r.status == 200:
                                break
                    await asyncio.sleep(0.05)
                await traffic(base, min(10.0, args.duration / 6), args.workers, 10_000)
                # Idle upstream connections stay pooled for aiohttp's keep-alive (15 s): wait
                # them out before both probes, so the counts compare like with like.
                await asyncio.sleep(_SETTLE)
                start = await probe(s, url, proc.pid)
                t0 = time.monotonic()
                counts = await traffic(base, args.duration, args.workers, args.max_requests)
                elapsed = time.monotonic() - t0
                await asyncio.sleep(_SETTLE)  # closes, cancellations and pooled connections
                end = await probe(s, url, proc.pid)
        finally:
            proc.terminate()
            await proc.wait()
    total = sum(counts.values())
    print(f"soak: {total} requests in {elapsed:.0f} s with {args.workers} workers")
    for key in sorted(counts):
        print(f"  {key:32} {counts[key]}")
    print(f"{'':14}{'start':>12}{'end':>12}")
    print(f"{'RSS MB':14}{start.rss_mb:12.1f}{end.rss_mb:12.1f}")
    print(f"{'open fds':14}{start.fds:12d}{end.fds:12d}")
    print(f"{'asyncio tasks':14}{start.tasks:12d}{end.tasks:12d}")
    for name in sorted(end.metrics):
        if name.startswith(
            (
                "llmproxy_requests_total",
                "llmproxy_client_disconnects",
                "llmproxy_upstream_retries",
                "llmproxy_streams_in_progress",
            )
        ):
            print(f"  {name} {start.metrics.get(name, 0):.0f} -> {end.metrics[name]:.0f}")
    problems = []
    if end.rss_mb - start.rss_mb > args.rss_slack_mb:
        problems.append(f"RSS grew by {end.rss_mb - start.rss_mb:.1f} MB")
    if end.fds > start.fds + 2:
        problems.append(f"open fds grew from {start.fds} to {end.fds}")
    if end.tasks > start.tasks:
        problems.append(f"asyncio tasks grew from {start.tasks} to {end.tasks}")
    streams = [v for k, v in end.metrics.items() if k.startswith("llmproxy_streams_in_progress")]
    if any(streams):
        problems.append("streams still counted as in progress")
    print("verdict:", "FLAT" if not problems else "; ".join(problems))
    return 1 if problems else 0


def cli() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--duration", type=float, default=120.0, help="seconds of traffic")
    p.add_argument("--workers", type=int, default=24)
    p.add_argument("--max-requests", type=int, default=200_000)
    p.add_argument("--rss-slack-mb", type=float, default=8.0)
    p.add_argument("--log", help="write the gateway's log to this file")
    return asyncio.run(main(p.parse_args()))


if __name__ == "__main__":
    sys.exit(cli())
