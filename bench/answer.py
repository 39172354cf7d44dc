"""The canned answer every benchmark request gets: a 200-token Anthropic Messages SSE stream.

Built once, deterministically, in Anthropic's event order: ``message_start``, ``ping``,
``content_block_start`` (text), one ``text_delta`` per token, ``content_block_stop``,
``message_delta`` (stop reason and usage), ``message_stop``.
"""

from __future__ import annotations

import json
import random
from typing import Any, Final

__all__ = ["MODEL", "answer_events", "answer_frames"]

MODEL: Final = "claude-sonnet-4-5"

_WORDS: Final = (
    "the",
    "gateway",
    "translates",
    "each",
    "event",
    "as",
    "it",
    "arrives,",
    "keeping",
    "memory",
    "bounded;",
    "streams",
    "flow",
    "from",
    "upstream",
    "to",
    "client",
    "without",
    "buffering",
    "whole",
    "answers.",
    "Throughput,",
    "latency,",
    "café",
    "naïve",
    "—",
    "résumé",
    "“quoted”",
    "text\tand\\escapes",
    "matter",
    "for",
    "JSON",
    "encoding",
    "costs",
    "in",
    "every",
    "delta",
)


def _tokens(count: int) -> list[str]:
    rng = random.Random(20240601)
    out: list[str] = []
    for i in range(count):
        words = rng.choice((1, 1, 2, 2, 3))
        piece = " ".join(rng.choice(_WORDS) for _ in range(words))
        out.append(piece if i == 0 else " " + piece)
    return out


def answer_events(tokens: int = 200) -> list[tuple[str, dict[str, Any]]]:
    """``(event name, data object)`` pairs of one complete answer."""
    events: list[tuple[str, dict[str, Any]]] = [
        (
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": "msg_01BenchBenchBenchBenchBench",
                    "type": "message",
                    "role": "assistant",
                    "model": MODEL,
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": {
                        "input_tokens": 25,
                        "cache_creation_input_tokens": 0,
                        "cache_read_input_tokens": 0,
                        "output_tokens": 1,
                    },
                },
            },
        ),
        ("ping", {"type": "ping"}),
        (
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
        ),
    ]
    for t in _tokens(tokens):
        events.append(
            (
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "text_delta", "text": t},
                },
            )
        )
    events += [
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": tokens},
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    ]
    return events


def answer_frames(tokens: int = 200) -> list[bytes]:
    """One framed SSE event per element, exactly as the fake upstream writes them."""
    return [
        b"event: "
        + name.encode()
        + b"\ndata: "
        + json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
        + b"\n\n"
        for name, data in answer_events(tokens)
    ]
