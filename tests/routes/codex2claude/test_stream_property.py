"""Malformed upstream streams: events of the goldens dropped, repeated, reordered and mixed
between streams. Whatever arrives, ``MessagesStream`` never raises, and what the client gets is
a valid Anthropic stream (the lifecycle checker) that ends exactly once, with ``message_stop``
or ``event: error``."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Final

from hypothesis import given, settings
from hypothesis import strategies as st

from llmproxy.contract import ClientEvent
from llmproxy.sse import SSEDecoder, SSEEvent, encode_event
from routes.codex2claude.stream import MessagesStream
from tests.routes.codex2claude.test_stream_golden import make_stream
from tests.support.anthropic_lifecycle import check_messages_sse

GOLDEN: Final = Path(__file__).parent / "golden"


@cache
def pool() -> tuple[SSEEvent, ...]:
    """Every event of every golden (keep-alive comments and cut events are not events)."""
    events: list[SSEEvent] = []
    for path in sorted(GOLDEN.glob("*.sse")):
        decoder = SSEDecoder()
        events.extend(decoder.feed(path.read_bytes()))
        events.extend(decoder.close())
    return tuple(events)


def run(stream: MessagesStream, events: list[SSEEvent], heartbeats: list[bool]) -> bytes:
    out: list[ClientEvent] = []
    for ev, beat in zip(events, heartbeats, strict=True):
        if beat:
            out.extend(stream.heartbeat())
        out.extend(stream.feed(ev))
        if stream.done:
            break
    else:
        out.extend(stream.close())
    assert stream.done
    return b"".join(encode_event(e.data, e.event) for e in out)


@settings(max_examples=400, deadline=None)
@given(data=st.data(), thinking=st.booleans())
def test_any_sequence_of_upstream_events_gives_a_valid_stream(
    data: st.DataObject, thinking: bool
) -> None:
    events = data.draw(st.lists(st.sampled_from(pool()), max_size=40))
    beats = data.draw(st.lists(st.booleans(), min_size=len(events), max_size=len(events)))
    checked = check_messages_sse(run(make_stream(thinking=thinking), events, beats))
    assert checked.terminal in ("message_stop", "error")


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_a_golden_with_events_dropped_or_repeated(data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(sorted(p.stem for p in GOLDEN.glob("*.sse"))))
    decoder = SSEDecoder()
    events = decoder.feed((GOLDEN / f"{name}.sse").read_bytes())
    picked = data.draw(st.lists(st.sampled_from(range(len(events))), max_size=len(events) + 5))
    mutated = [events[i] for i in sorted(picked)]
    check_messages_sse(run(make_stream(), mutated, [False] * len(mutated)))


@given(st.text(max_size=60), st.sampled_from(["response.output_item.added", "error", "message"]))
def test_garbage_payloads_fail_the_stream(data: str, name: str) -> None:
    # Unreadable known events fail at once; anything else is skipped and the stream then ends
    # without its terminal event: an error either way, never a made-up message_stop.
    stream = make_stream()
    out = stream.feed(SSEEvent(event=name, data=data))
    out.extend(stream.close())
    checked = check_messages_sse(b"".join(encode_event(e.data, e.event) for e in out))
    assert checked.terminal == "error"
    assert json.loads(out[-1].data)["error"]["type"] == "api_error"
