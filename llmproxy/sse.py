"""Server-sent events: an incremental, spec-exact decoder and a small encoder.

The decoder follows the WHATWG HTML "event stream interpretation" algorithm
(https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation):

* lines end in CRLF, LF or CR; a CR at the end of a chunk may be the first half of a CRLF, so
  it is held back until the next chunk (or ``close``) decides;
* a leading UTF-8 BOM is dropped once; invalid UTF-8 is replaced, as the spec's decoder does;
* ``:`` starts a comment; ``field: value`` loses one leading space of the value; a line with no
  colon is a field with an empty value;
* ``data`` lines accumulate joined by LF; an empty line dispatches the event unless the data
  buffer is empty; ``event`` sets the type for that event only; ``id`` (without NUL) persists;
  ``retry`` takes ASCII digits only; unknown fields are ignored;
* at end of input an event that was not terminated by an empty line is discarded.

It is sans-IO: ``feed(bytes) -> list[SSEEvent]`` and ``close() -> list[SSEEvent]``; feeding
after ``close`` is a bug and raises. Chunk boundaries carry no meaning, and the tests prove it by
feeding every stream whole, byte by byte and split at random.
"""

from __future__ import annotations

import re
from typing import Final

import msgspec

__all__ = ["SSEDecoder", "SSEEvent", "SSELineTooLong", "encode_event"]

_LINE_END: Final = re.compile(rb"\r\n|\r|\n")
_BOM: Final = b"\xef\xbb\xbf"


class SSELineTooLong(ValueError):
    """A single line exceeded the decoder's limit (protects memory against a hostile peer)."""


class SSEEvent(msgspec.Struct, frozen=True, gc=False):
    """One dispatched event. ``event`` is ``"message"`` when the stream named none."""

    event: str
    data: str
    id: str | None = None
    retry: int | None = None


class SSEDecoder:
    """Incremental event-stream parser. One instance per stream."""

    def __init__(self, *, max_line: int = 1 << 20) -> None:
        self._max_line: Final = max_line
        self._buf = b""
        self._started = False
        self._closed = False
        # Per-event state (reset on dispatch) and the persistent last event id.
        self._event = ""
        self._data: list[str] = []
        self._last_id: str | None = None
        self._retry: int | None = None

    def __repr__(self) -> str:
        return (
            f"SSEDecoder(buffered={len(self._buf)}, event={self._event!r}, "
            f"data_lines={len(self._data)}, last_id={self._last_id!r}, closed={self._closed})"
        )

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        if self._closed:
            raise RuntimeError("SSEDecoder.feed() after close()")
        buf = self._buf + chunk if self._buf else chunk
        if not self._started:
            if len(buf) < len(_BOM) and _BOM.startswith(buf):
                self._buf = buf
                return []
            self._started = True
            if buf.startswith(_BOM):
                buf = buf[len(_BOM) :]
        out: list[SSEEvent] = []
        if 13 not in buf:  # an int needle is a plain memchr, a bytes needle costs far more
            # Fast path: LF-only framing, by far the most common.
            last = buf.rfind(b"\n")
            if last < 0:
                self._buf = buf
            elif last <= self._max_line:  # no complete line can be over the limit
                self._buf = buf[last + 1 :]
                self._lines(buf[:last].decode("utf-8", "replace").split("\n"), out)
            else:
                lines = buf.split(b"\n")
                self._buf = lines.pop()
                for line in lines:
                    self._line(line, out)
        else:
            pos = 0
            end = len(buf)
            for m in _LINE_END.finditer(buf):
                if m.end() == end and m.group() == b"\r":
                    break  # may be half of a CRLF split across chunks
                self._line(buf[pos : m.start()], out)
                pos = m.end()
            self._buf = buf[pos:]
        # A CR held back above ends the line; it must not count towards the line's length, or
        # a line of exactly ``max_line`` bytes would be refused only when a chunk ends in its CR.
        held = len(self._buf) - (1 if self._buf.endswith(b"\r") else 0)
        if held > self._max_line:
            raise SSELineTooLong(f"SSE line longer than {self._max_line} bytes")
        return out

    def close(self) -> list[SSEEvent]:
        """End of input. A trailing CR completes its line; an unterminated event is dropped."""
        if self._closed:
            raise RuntimeError("SSEDecoder.close() called twice")
        out: list[SSEEvent] = []
        if self._buf.endswith(b"\r"):
            self._line(self._buf[:-1], out)
            self._buf = b""
        self._closed = True
        return out

    @property
    def pending(self) -> bool:
        """True when bytes or fields of an unfinished event are buffered."""
        return bool(self._buf or self._data or self._event)

    def _lines(self, lines: list[str], out: list[SSEEvent]) -> None:
        """``_line`` for many decoded lines at once, with ``data`` and ``event`` inlined.

        Splitting at LF before decoding is the same as decoding line by line: LF never occurs
        inside a UTF-8 sequence, and an invalid sequence cut short by LF is replaced the same.
        """
        data = self._data
        for line in lines:
            if not line:
                if data:
                    out.append(
                        SSEEvent(
                            self._event or "message", "\n".join(data), self._last_id, self._retry
                        )
                    )
                    data = self._data = []
                self._event = ""
            elif line.startswith("data:"):
                data.append(line[6:] if line.startswith(" ", 5) else line[5:])
            elif line.startswith("event:"):
                self._event = line[7:] if line.startswith(" ", 6) else line[6:]
            elif line[0] != ":":
                self._field(line)

    def _line(self, raw: bytes, out: list[SSEEvent]) -> None:
        if len(raw) > self._max_line:
            raise SSELineTooLong(f"SSE line longer than {self._max_line} bytes")
        if not raw:
            self._dispatch(out)
            return
        if raw[0] == 0x3A:  # ":" comment
            return
        self._field(raw.decode("utf-8", "replace"))

    def _field(self, line: str) -> None:
        """One decoded line that is not blank and not a comment."""
        name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\0" not in value:
                self._last_id = value
        elif name == "retry" and value.isascii() and value.isdigit():
            self._retry = int(value)

    def _dispatch(self, out: list[SSEEvent]) -> None:
        if not self._data:
            self._event = ""
            return
        out.append(
            SSEEvent(
                event=self._event or "message",
                data="\n".join(self._data),
                id=self._last_id,
                retry=self._retry,
            )
        )
        self._event = ""
        self._data = []


def encode_event(data: bytes, event: str | None = None) -> bytes:
    """Frame one event. ``data`` may contain newlines; each line becomes a ``data:`` field."""
    if 10 not in data and 13 not in data:  # int needles: memchr (bytes needles cost far more)
        if event:
            return b"".join((b"event: ", event.encode(), b"\ndata: ", data, b"\n\n"))
        return b"".join((b"data: ", data, b"\n\n"))
    head = b"event: " + event.encode() + b"\n" if event else b""
    lines = _LINE_END.split(data)
    return head + b"".join(b"data: " + line + b"\n" for line in lines) + b"\n"
