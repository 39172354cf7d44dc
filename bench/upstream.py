"""A fast fake Anthropic upstream: a bare asyncio protocol (uvloop when installed).

Every ``POST`` is answered with the canned answer of ``bench.answer`` as a chunked SSE stream; the
path prefix picks the pacing, so the gateway reaches each mode through its upstream base URL:

* ``/burst/...``: the whole answer in one write;
* ``/paced/<ms>/...``: ``message_start`` at once, then one event every ``<ms>`` milliseconds.

All paced streams of one interval share a single timer (one wake-up per tick writes the next
event of every open stream), so the upstream stays cheap with a thousand slow streams.
``GET`` answers ``200 ok`` (readiness). HTTP/1.1 keep-alive, ``Content-Length`` request bodies.

    python -m bench.upstream [--port 0] [--tokens 200]    # prints "listening <port>"
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import Coroutine
from typing import Any, Final, TypeVar, cast

from bench.answer import answer_frames

__all__ = ["main", "run_fast"]

_T = TypeVar("_T")

_HEAD: Final = (
    b"HTTP/1.1 200 OK\r\n"
    b"Content-Type: text/event-stream; charset=utf-8\r\n"
    b"Cache-Control: no-cache\r\n"
    b"request-id: req_bench\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n"
)
_OK: Final = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"
_NOT_FOUND: Final = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
_LAST: Final = b"0\r\n\r\n"


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n" % len(data) + data + b"\r\n"


class Answer:
    def __init__(self, tokens: int) -> None:
        frames = answer_frames(tokens)
        self.burst: Final = _HEAD + _chunk(b"".join(frames)) + _LAST
        self.first: Final = _HEAD + _chunk(frames[0])
        self.rest: Final = [_chunk(f) for f in frames[1:]]


class _Paced:
    __slots__ = ("index", "transport")

    def __init__(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        self.index = 0


class Pacer:
    """One timer for every paced stream of one interval."""

    def __init__(self, loop: asyncio.AbstractEventLoop, interval: float, answer: Answer) -> None:
        self._loop = loop
        self._interval = interval
        self._rest = answer.rest
        self._streams: list[_Paced] = []
        self._next = 0.0
        self._armed = False

    def add(self, transport: asyncio.Transport) -> None:
        self._streams.append(_Paced(transport))
        if not self._armed:
            self._armed = True
            self._next = self._loop.time() + self._interval
            self._loop.call_at(self._next, self._tick)

    def _tick(self) -> None:
        rest = self._rest
        last = len(rest) - 1
        keep: list[_Paced] = []
        for s in self._streams:
            t = s.transport
            if t.is_closing():
                continue
            i = s.index
            if i == last:
                t.write(rest[i] + _LAST)
                continue
            t.write(rest[i])
            s.index = i + 1
            keep.append(s)
        self._streams = keep
        if not keep:
            self._armed = False
            return
        now = self._loop.time()
        self._next += self._interval
        if self._next < now:  # fell behind: do not fire a burst of catch-up ticks
            self._next = now + self._interval
        self._loop.call_at(self._next, self._tick)


class Server:
    def __init__(self, tokens: int) -> None:
        self.answer: Final = Answer(tokens)
        self._pacers: dict[bytes, Pacer] = {}

    def respond(self, transport: asyncio.Transport, method: bytes, path: bytes) -> None:
        if method != b"POST":
            transport.write(_OK)
            return
        parts = path.split(b"/")  # b"", b"burst" | b"paced", ...
        mode = parts[1] if len(parts) > 1 else b""
        if mode == b"burst":
            transport.write(self.answer.burst)
        elif mode == b"paced" and len(parts) > 2 and parts[2].isdigit():
            pacer = self._pacers.get(parts[2])
            if pacer is None:
                loop = asyncio.get_running_loop()
                pacer = Pacer(loop, int(parts[2]) / 1000, self.answer)
                self._pacers[parts[2]] = pacer
            transport.write(self.answer.first)
            pacer.add(transport)
        else:
            transport.write(_NOT_FOUND)


class Connection(asyncio.Protocol):
    """HTTP/1.1 request framing: a head, then ``Content-Length`` body bytes."""

    def __init__(self, server: Server) -> None:
        self._server = server
        self._buf = bytearray()
        self._need = -1
        self._method = b""
        self._path = b""
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio.Transport; the interface is the same.
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        buf = self._buf
        buf += data
        while True:
            if self._need < 0:
                end = buf.find(b"\r\n\r\n")
                if end < 0:
                    return
                lines = bytes(buf[:end]).split(b"\r\n")
                del buf[: end + 4]
                self._method, self._path, _ = lines[0].split(b" ", 2)
                self._need = 0
                for line in lines[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        self._need = int(value)
            if len(buf) < self._need:
                return
            del buf[: self._need]
            self._need = -1
            assert self._transport is not None
            self._server.respond(self._transport, self._method, self._path)


async def serve(port: int, tokens: int) -> None:
    loop = asyncio.get_running_loop()
    server = Server(tokens)
    srv = await loop.create_server(
        lambda: Connection(server), "127.0.0.1", port, backlog=4096, reuse_address=True
    )
    print(f"listening {srv.sockets[0].getsockname()[1]}", flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    srv.close()


def run_fast(coro: Coroutine[Any, Any, _T]) -> _T:
    """``uvloop.run`` when installed (like the gateway's CLI), else ``asyncio.run``."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.upstream", description=__doc__)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--tokens", type=int, default=200)
    args = p.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        run_fast(serve(args.port, args.tokens))
    return 0


if __name__ == "__main__":
    sys.exit(main())
