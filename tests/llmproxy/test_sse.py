"""The SSE decoder against the WHATWG "event stream interpretation" algorithm
(https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation),
and the encoder by round trip.

Every vector is fed whole, one byte at a time, and split at points hypothesis chooses: chunk
boundaries carry no meaning, so all three must give the same events.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llmproxy.sse import SSEDecoder, SSEEvent, SSELineTooLong, encode_event


def ev(
    data: str, event: str = "message", id: str | None = None, retry: int | None = None
) -> SSEEvent:
    return SSEEvent(event=event, data=data, id=id, retry=retry)


def decode(chunks: Iterable[bytes], *, max_line: int = 1 << 20) -> list[SSEEvent]:
    decoder = SSEDecoder(max_line=max_line)
    out: list[SSEEvent] = []
    for chunk in chunks:
        out.extend(decoder.feed(chunk))
    out.extend(decoder.close())
    return out


def split_at(raw: bytes, positions: Iterable[int]) -> list[bytes]:
    """``raw`` cut at ``positions`` (taken modulo ``len(raw) + 1``); empty chunks included."""
    cuts = sorted({p % (len(raw) + 1) for p in positions})
    bounds = [0, *cuts, len(raw)]
    return [raw[a:b] for a, b in itertools.pairwise(bounds)]


def bytewise(raw: bytes) -> list[bytes]:
    return [raw[i : i + 1] for i in range(len(raw))]


@dataclass(frozen=True)
class Vector:
    id: str
    stream: bytes
    events: Sequence[SSEEvent]


VECTORS: list[Vector] = [
    # -- the spec's own examples -------------------------------------------------------------
    Vector(
        "spec-stock-ticker",
        b"data: YHOO\ndata: +2\ndata: 10\n\n",
        [ev("YHOO\n+2\n10")],
    ),
    Vector(
        "spec-test-stream",
        b": test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\n"
        b"data:  third event\n\n",
        [ev("first event", id="1"), ev("second event", id=""), ev(" third event", id="")],
    ),
    Vector(
        "spec-empty-data-blocks",
        b"data\n\ndata\ndata\n\ndata:",
        [ev(""), ev("\n")],
    ),
    Vector(
        "spec-one-space-optional",
        b"data:test\n\ndata: test\n\n",
        [ev("test"), ev("test")],
    ),
    # -- line endings ----------------------------------------------------------------------------
    Vector("lf", b"data: a\ndata: b\n\n", [ev("a\nb")]),
    Vector("crlf", b"data: a\r\ndata: b\r\n\r\n", [ev("a\nb")]),
    Vector("cr", b"data: a\rdata: b\r\r", [ev("a\nb")]),
    Vector("mixed", b"data: a\r\ndata: b\rdata: c\n\n", [ev("a\nb\nc")]),
    Vector("lf-then-cr-is-two-line-ends", b"data: a\n\rdata: b\n\n", [ev("a"), ev("b")]),
    Vector("cr-cr-lf", b"data: a\r\r\n", [ev("a")]),
    Vector("crlf-event-then-cr-event", b"data: a\r\n\r\ndata: b\r\r", [ev("a"), ev("b")]),
    # -- byte order mark -------------------------------------------------------------------------
    Vector("bom", b"\xef\xbb\xbfdata: x\n\n", [ev("x")]),
    Vector("bom-then-comment", b"\xef\xbb\xbf: hi\ndata: x\n\n", [ev("x")]),
    # Only one BOM is dropped; a second one is part of the field name, which is then unknown.
    Vector("second-bom-kept", b"\xef\xbb\xbf\xef\xbb\xbfdata: x\n\ndata: y\n\n", [ev("y")]),
    Vector("bom-not-at-start", b"data: x\n\n\xef\xbb\xbfdata: y\n\n", [ev("x")]),
    Vector("partial-bom-is-data", b"\xef\xbbdata: x\n\ndata: y\n\n", [ev("y")]),
    Vector("bom-only", b"\xef\xbb\xbf", []),
    # -- comments and field parsing --------------------------------------------------------------
    Vector("comment", b": keep-alive\ndata: x\n\n", [ev("x")]),
    Vector("empty-comment", b":\n\ndata: x\n\n", [ev("x")]),
    Vector("comment-only-block", b": a\n: b\n\n", []),
    Vector("comment-looks-like-field", b":data: x\n\n", []),
    Vector("data-without-colon", b"data\n\n", [ev("")]),
    Vector("data-empty-value", b"data:\n\n", [ev("")]),
    Vector("one-leading-space-stripped", b"data:   x\n\n", [ev("  x")]),
    Vector("no-space", b"data:x\n\n", [ev("x")]),
    Vector("tab-not-stripped", b"data:\tx\n\n", [ev("\tx")]),
    Vector("trailing-space-kept", b"data: x \n\n", [ev("x ")]),
    Vector("colons-in-value", b"data: a:b: c\n\n", [ev("a:b: c")]),
    Vector("field-names-case-sensitive", b"Data: x\nDATA: y\n\n", []),
    Vector("space-before-colon", b"data : x\n\n", []),
    Vector("unknown-field-ignored", b"foo: bar\ndata: x\nbar\n\n", [ev("x")]),
    Vector("multi-line-data", b"data: a\ndata:\ndata: c\n\n", [ev("a\n\nc")]),
    Vector("data-ending-in-empty-line", b"data: a\ndata\n\n", [ev("a\n")]),
    Vector("invalid-utf8-replaced", b"data: \xff\xfe x\n\n", [ev("\ufffd\ufffd x")]),
    Vector(
        "multibyte-utf8",
        "data: héllo wörld 😀 日本\n\n".encode(),
        [ev("héllo wörld 😀 日本")],
    ),
    Vector("nul-in-data", b"data: a\x00b\n\n", [ev("a\x00b")]),
    # -- dispatch ----------------------------------------------------------------------------
    Vector("blank-lines-without-data", b"\n\n\n\r\n\r", []),
    Vector(
        "several-events-one-chunk", b"data: 1\n\ndata: 2\n\ndata: 3\n\n", [ev(s) for s in "123"]
    ),
    # -- event type ------------------------------------------------------------------------------
    Vector(
        "event-type-reset-after-dispatch",
        b"event: add\ndata: 1\n\ndata: 2\n\n",
        [ev("1", event="add"), ev("2")],
    ),
    Vector(
        "event-type-reset-without-dispatch",
        b"event: lost\n\ndata: y\n\n",
        [ev("y")],
    ),
    Vector("event-empty-is-message", b"event:\ndata: x\n\n", [ev("x")]),
    Vector("event-last-wins", b"event: a\nevent: b\ndata: x\n\n", [ev("x", event="b")]),
    Vector("event-after-data", b"data: x\nevent: late\n\n", [ev("x", event="late")]),
    Vector("event-one-space-stripped", b"event:  pad\ndata: x\n\n", [ev("x", event=" pad")]),
    # -- id ----------------------------------------------------------------------------------
    Vector("no-id", b"data: x\n\n", [ev("x", id=None)]),
    Vector("id-persists", b"id: 1\ndata: a\n\ndata: b\n\n", [ev("a", id="1"), ev("b", id="1")]),
    Vector(
        "id-set-by-block-without-data",
        b"id: 5\n\ndata: a\n\n",
        [ev("a", id="5")],
    ),
    Vector(
        "id-with-nul-ignored",
        b"id: 1\ndata: a\n\nid: x\x00y\ndata: b\n\n",
        [ev("a", id="1"), ev("b", id="1")],
    ),
    Vector(
        "id-reset-to-empty",
        b"id: 1\ndata: a\n\nid\ndata: b\n\nid:\ndata: c\n\n",
        [ev("a", id="1"), ev("b", id=""), ev("c", id="")],
    ),
    Vector("id-last-wins", b"id: 1\nid: 2\ndata: a\n\n", [ev("a", id="2")]),
    # -- retry -------------------------------------------------------------------------------
    Vector("retry-digits", b"retry: 1000\ndata: x\n\n", [ev("x", retry=1000)]),
    Vector(
        "retry-persists",
        b"retry: 5\ndata: a\n\ndata: b\n\n",
        [ev("a", retry=5), ev("b", retry=5)],
    ),
    Vector("retry-letters-ignored", b"retry: 10a\ndata: x\n\n", [ev("x")]),
    Vector("retry-negative-ignored", b"retry: -1\ndata: x\n\n", [ev("x")]),
    Vector("retry-decimal-ignored", b"retry: 1.5\ndata: x\n\n", [ev("x")]),
    Vector("retry-empty-ignored", b"retry:\ndata: x\n\nretry\ndata: y\n\n", [ev("x"), ev("y")]),
    Vector("retry-trailing-space-ignored", b"retry: 100 \ndata: x\n\n", [ev("x")]),
    Vector("retry-plus-ignored", b"retry: +100\ndata: x\n\n", [ev("x")]),
    Vector("retry-non-ascii-digits-ignored", "retry: ١٢\ndata: x\n\n".encode(), [ev("x")]),
    Vector(
        "retry-bad-keeps-previous",
        b"retry: 7\nretry: x\ndata: a\n\n",
        [ev("a", retry=7)],
    ),
    # -- end of input ------------------------------------------------------------------------
    Vector("empty-stream", b"", []),
    Vector("unterminated-after-lf", b"data: a\n\ndata: b\n", [ev("a")]),
    Vector("unterminated-no-newline", b"data: a\n\ndata: b", [ev("a")]),
    Vector("unterminated-after-cr", b"data: a\n\ndata: b\r", [ev("a")]),
    Vector("trailing-cr-is-blank-line-at-close", b"data: a\n\r", [ev("a")]),
    Vector("trailing-crlf-blank-line", b"data: a\r\n\r\n", [ev("a")]),
]


def _ids(vectors: Sequence[Vector]) -> list[str]:
    ids = [v.id for v in vectors]
    assert len(ids) == len(set(ids)), "vector ids must be unique"
    return ids


ALL = pytest.mark.parametrize("vector", VECTORS, ids=_ids(VECTORS))


@ALL
def test_vector_whole(vector: Vector) -> None:
    assert decode([vector.stream]) == list(vector.events)


@ALL
def test_vector_byte_by_byte(vector: Vector) -> None:
    assert decode(bytewise(vector.stream)) == list(vector.events)


@ALL
@given(positions=st.lists(st.integers(min_value=0, max_value=10_000), max_size=12))
def test_vector_random_splits(vector: Vector, positions: list[int]) -> None:
    assert decode(split_at(vector.stream, positions)) == list(vector.events)


@ALL
def test_vector_with_empty_chunks_between_bytes(vector: Vector) -> None:
    chunks = [b""]
    for b in bytewise(vector.stream):
        chunks += [b, b""]
    assert decode(chunks) == list(vector.events)


# -- random streams: any split gives what the whole gives ------------------------------------

_FRAGMENTS = [
    b"data: x",
    b"data:y",
    b"data",
    b"event: e",
    b"id: 7",
    b"id",
    b"retry: 30",
    b": c",
    b"\n",
    b"\r",
    b"\r\n",
    b"\xef\xbb\xbf",
    "é😀".encode(),
    b"\xff",
]


@given(
    parts=st.lists(st.sampled_from(_FRAGMENTS), max_size=40),
    positions=st.lists(st.integers(min_value=0, max_value=10_000), max_size=20),
)
def test_random_streams_are_split_invariant(parts: list[bytes], positions: list[int]) -> None:
    stream = b"".join(parts)
    whole = decode([stream])
    assert decode(split_at(stream, positions)) == whole
    assert decode(bytewise(stream)) == whole


# -- chunk-boundary details, step by step --------------------------------------------------


def test_cr_at_chunk_end_then_lf_is_one_line_end() -> None:
    d = SSEDecoder()
    assert d.feed(b"data: x\r") == []
    assert d.feed(b"\ndata: y\r") == []
    # The held CR plus this LF end "data: y"; the blank line comes later.
    assert d.feed(b"\n") == []
    assert d.feed(b"\r") == []
    assert d.feed(b"\n") == [ev("x\ny")]
    assert d.close() == []


def test_held_cr_is_a_blank_line_when_the_next_chunk_is_not_lf() -> None:
    d = SSEDecoder()
    assert d.feed(b"data: x\r\n\r") == []
    assert d.feed(b"data: y\n\n") == [ev("x"), ev("y")]


def test_held_cr_is_resolved_by_close() -> None:
    d = SSEDecoder()
    assert d.feed(b"data: x\n\r") == []
    assert d.pending
    assert d.close() == [ev("x")]


def test_bom_split_over_chunks() -> None:
    d = SSEDecoder()
    assert d.feed(b"\xef") == []
    assert d.feed(b"\xbb") == []
    assert d.feed(b"\xbfdata: x\n\n") == [ev("x")]


# -- end of input and misuse -----------------------------------------------------------------


def test_unterminated_event_discarded_at_close() -> None:
    d = SSEDecoder()
    assert d.feed(b"event: e\ndata: x\n") == []
    assert d.pending
    assert d.close() == []


def test_pending_is_false_between_events() -> None:
    d = SSEDecoder()
    assert not d.pending
    d.feed(b"data: x\n\n")
    assert not d.pending
    d.feed(b"da")
    assert d.pending


def test_feed_after_close_raises() -> None:
    d = SSEDecoder()
    d.close()
    with pytest.raises(RuntimeError, match="after close"):
        d.feed(b"data: x\n\n")


def test_close_twice_raises() -> None:
    d = SSEDecoder()
    d.close()
    with pytest.raises(RuntimeError, match="twice"):
        d.close()


def test_repr_shows_state() -> None:
    d = SSEDecoder()
    d.feed(b"id: 3\nevent: e\ndata: a\ndata: b\nda")
    r = repr(d)
    assert "buffered=2" in r
    assert "event='e'" in r
    assert "data_lines=2" in r
    assert "last_id='3'" in r
    assert "closed=False" in r
    d.close()
    assert "closed=True" in repr(d)


def test_decoders_do_not_share_state() -> None:
    a, b = SSEDecoder(), SSEDecoder()
    a.feed(b"id: 1\nevent: e\ndata: x\n")
    assert b.feed(b"data: y\n\n") == [ev("y")]


# -- line-length limit -----------------------------------------------------------------------

LIMIT = 16
EXACT = b"data: " + b"x" * (LIMIT - len(b"data: "))  # exactly LIMIT bytes
assert len(EXACT) == LIMIT

TOO_LONG = [
    pytest.param(EXACT + b"y\n\n", id="lf"),
    pytest.param(EXACT + b"y\r\n\r\n", id="crlf"),
    pytest.param(EXACT + b"y\r\r", id="cr"),
    pytest.param(EXACT + b"y", id="unterminated"),
    pytest.param(b"data: ok\n\n" + EXACT + b"yy\n\n", id="second-event"),
    pytest.param(b": " + b"c" * LIMIT + b"\n", id="comment"),
    pytest.param(b"\xef\xbb\xbf" + EXACT + b"y\n\n", id="after-bom"),
]

FITS = [
    pytest.param(EXACT + b"\n\n", [ev(EXACT[6:].decode())], id="lf"),
    pytest.param(EXACT + b"\r\n\r\n", [ev(EXACT[6:].decode())], id="crlf"),
    pytest.param(EXACT + b"\r\r", [ev(EXACT[6:].decode())], id="cr"),
    pytest.param(b"\xef\xbb\xbf" + EXACT + b"\n\n", [ev(EXACT[6:].decode())], id="after-bom"),
    pytest.param(b"data: a\n" * 100 + b"\n", [ev("\n".join(["a"] * 100))], id="many-lines"),
]


def _raises_too_long(chunks: list[bytes]) -> None:
    with pytest.raises(SSELineTooLong, match=f"longer than {LIMIT} bytes"):
        decode(chunks, max_line=LIMIT)


@pytest.mark.parametrize("stream", TOO_LONG)
def test_line_too_long_raises_whole(stream: bytes) -> None:
    _raises_too_long([stream])


@pytest.mark.parametrize("stream", TOO_LONG)
def test_line_too_long_raises_byte_by_byte(stream: bytes) -> None:
    _raises_too_long(bytewise(stream))


@pytest.mark.parametrize("stream", TOO_LONG)
@given(positions=st.lists(st.integers(min_value=0, max_value=10_000), max_size=8))
def test_line_too_long_raises_split(stream: bytes, positions: list[int]) -> None:
    _raises_too_long(split_at(stream, positions))


@pytest.mark.parametrize(("stream", "events"), FITS)
@given(positions=st.lists(st.integers(min_value=0, max_value=10_000), max_size=8))
def test_line_at_limit_fits_under_any_split(
    stream: bytes, events: list[SSEEvent], positions: list[int]
) -> None:
    assert decode([stream], max_line=LIMIT) == events
    assert decode(bytewise(stream), max_line=LIMIT) == events
    assert decode(split_at(stream, positions), max_line=LIMIT) == events


def test_line_at_limit_with_cr_at_chunk_end() -> None:
    # Regression: the CR held back at a chunk end (maybe half of a CRLF) counted towards the
    # line's length, so a line of exactly the limit was refused only under this split.
    d = SSEDecoder(max_line=LIMIT)
    assert d.feed(EXACT + b"\r") == []
    assert d.feed(b"\n\r\n") == [ev(EXACT[6:].decode())]


def test_unterminated_long_line_raises_before_its_end_arrives() -> None:
    d = SSEDecoder(max_line=LIMIT)
    d.feed(b"x" * LIMIT)
    with pytest.raises(SSELineTooLong):
        d.feed(b"x")


def test_line_too_long_is_a_value_error() -> None:
    assert issubclass(SSELineTooLong, ValueError)


# -- encoder ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "event", "wire"),
    [
        pytest.param(b"x", None, b"data: x\n\n", id="plain"),
        pytest.param(b"x", "delta", b"event: delta\ndata: x\n\n", id="named"),
        pytest.param(b"", None, b"data: \n\n", id="empty"),
        pytest.param(b"a\nb", None, b"data: a\ndata: b\n\n", id="lf"),
        pytest.param(b"a\r\nb\rc", None, b"data: a\ndata: b\ndata: c\n\n", id="crlf-cr"),
        pytest.param(b"a\n", "e", b"event: e\ndata: a\ndata: \n\n", id="trailing-newline"),
        pytest.param(b'{"k": 1}', "", b'data: {"k": 1}\n\n', id="empty-event-name"),
    ],
)
def test_encode_event_wire(data: bytes, event: str | None, wire: bytes) -> None:
    assert encode_event(data, event) == wire


def _normalise_newlines(s: str) -> str:
    return re.sub(r"\r\n|\r", "\n", s)


_EVENT_NAMES = st.one_of(
    st.none(),
    st.text(st.characters(codec="utf-8", exclude_characters="\r\n")),
)


@pytest.mark.parametrize(
    ("data", "event"),
    [
        pytest.param("hello", None, id="plain"),
        pytest.param("hello", "response.output_text.delta", id="named"),
        pytest.param("line 1\nline 2\n\nline 4", "multi", id="newlines"),
        pytest.param("\n", None, id="only-newline"),
        pytest.param("", None, id="empty"),
        pytest.param(" leading space", " spaced", id="leading-spaces"),
        pytest.param(": not a comment", None, id="colon-first"),
        pytest.param('{"a": "b\\nc"}', "json", id="json"),
    ],
)
def test_round_trip_examples(data: str, event: str | None) -> None:
    wire = encode_event(data.encode(), event)
    assert decode([wire]) == [ev(data, event=event or "message")]


@given(data=st.text(), event=_EVENT_NAMES)
def test_round_trip(data: str, event: str | None) -> None:
    wire = encode_event(data.encode(), event)
    assert decode([wire]) == [ev(_normalise_newlines(data), event=event or "message")]
    assert decode(bytewise(wire)) == [ev(_normalise_newlines(data), event=event or "message")]


@given(
    events=st.lists(st.tuples(st.text(), _EVENT_NAMES), max_size=10),
    positions=st.lists(st.integers(min_value=0, max_value=10_000), max_size=10),
)
def test_round_trip_many_split(events: list[tuple[str, str | None]], positions: list[int]) -> None:
    wire = b"".join(encode_event(d.encode(), e) for d, e in events)
    expected = [ev(_normalise_newlines(d), event=e or "message") for d, e in events]
    assert decode(split_at(wire, positions)) == expected
