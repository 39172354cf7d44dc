"""Micro-benchmark of the pure stream path: SSEDecoder + ResponsesStream (+ the SSE encoder).

No sockets: the canned answer of ``bench.answer`` is fed to a fresh decoder and translator per
answer, built through the real route (``Claude2Codex.open(...).stream()``), whole (one chunk, as
a burst arrives) and event by event (as a paced stream arrives). It is a regression guard printed
by ``make bench``, not a test. Prints one JSON object.

    python -m bench.micro [--seconds 0.6]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from typing import Any

from bench.answer import MODEL, answer_frames
from llmproxy.config import Settings
from llmproxy.contract import ClientRequest, Endpoint
from llmproxy.sse import SSEDecoder, encode_event
from routes.claude2codex import Claude2Codex
from routes.claude2codex.route import ResponsesExchange

__all__ = ["main", "run"]


def _exchange() -> ResponsesExchange:
    route = Claude2Codex(Settings(reasoning_key="bench-reasoning-key"))
    body = json.dumps({"model": MODEL, "input": "Hello", "stream": True}).encode()
    req = ClientRequest(
        route="claude2codex",
        endpoint=Endpoint("POST", "responses"),
        upstream="http://127.0.0.1:9",
        headers={"authorization": "Bearer bench"},
        body=body,
        request_id="req_bench",
        received_at=time.time(),
    )
    ex = route.open(req)
    assert isinstance(ex, ResponsesExchange)
    return ex


def _timeit(fn: Callable[[], int], seconds: float) -> tuple[float, int]:
    """Seconds per call (best of three rounds) and the events one call handles."""
    events = fn()  # warm-up, and the count
    best = float("inf")
    for _ in range(3):
        n = 0
        t0 = time.perf_counter()
        while True:
            fn()
            n += 1
            elapsed = time.perf_counter() - t0
            if elapsed >= seconds / 3:
                break
        best = min(best, elapsed / n)
    return best, events


def run(seconds: float = 0.6) -> dict[str, Any]:
    ex = _exchange()
    frames = answer_frames()
    whole = b"".join(frames)

    def decode() -> int:
        return len(SSEDecoder().feed(whole))

    def translate() -> int:
        dec, tr = SSEDecoder(), ex.stream()
        n = 0
        for ev in dec.feed(whole):
            tr.feed(ev)
            n += 1
        assert tr.done
        return n

    def pipeline() -> int:
        dec, tr = SSEDecoder(), ex.stream()
        n = 0
        out = []
        for ev in dec.feed(whole):
            out.extend(tr.feed(ev))
            n += 1
        b"".join(encode_event(e.data, e.event) for e in out)
        assert tr.done
        return n

    def per_event() -> int:
        dec, tr = SSEDecoder(), ex.stream()
        n = 0
        for frame in frames:
            out = []
            for ev in dec.feed(frame):
                out.extend(tr.feed(ev))
                n += 1
            b"".join(encode_event(e.data, e.event) for e in out)
        assert tr.done
        return n

    result: dict[str, Any] = {"events_per_answer": len(frames), "answer_bytes": len(whole)}
    for name, fn in (
        ("decode", decode),
        ("decode+translate", translate),
        ("decode+translate+encode, whole answer", pipeline),
        ("decode+translate+encode, one event per chunk", per_event),
    ):
        per_call, events = _timeit(fn, seconds)
        result[name] = {"us_per_answer": per_call * 1e6, "events_per_s": events / per_call}
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.micro", description=__doc__)
    p.add_argument("--seconds", type=float, default=0.6, help="time per measurement")
    args = p.parse_args(argv)
    print(json.dumps(run(args.seconds)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
