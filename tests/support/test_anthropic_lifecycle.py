"""The Anthropic stream checker accepts real Anthropic streams and refuses broken ones: without
this, a translator test that passes the checker proves nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final

import pytest

from tests.support.anthropic_lifecycle import check_messages_sse, check_messages_stream

#: Anthropic streams written after the streaming documentation (the claude2codex goldens).
ANTHROPIC_GOLDEN: Final = Path(__file__).parents[1] / "routes" / "claude2codex" / "golden"

JSON = dict[str, Any]


@pytest.mark.parametrize(
    ("name", "terminal", "stop_reason"),
    [
        ("text_ping", "message_stop", "end_turn"),
        ("crlf", "message_stop", "stop_sequence"),
        ("thinking", "message_stop", "end_turn"),
        ("redacted_thinking", "message_stop", "end_turn"),
        ("tool_use", "message_stop", "tool_use"),
        ("parallel_tools", "message_stop", "tool_use"),
        ("max_tokens", "message_stop", "max_tokens"),
        ("max_tokens_tool", "message_stop", "max_tokens"),
        ("refusal", "message_stop", "refusal"),
        ("error_overloaded", "error", None),
    ],
)
def test_accepts_real_anthropic_streams(name: str, terminal: str, stop_reason: str | None) -> None:
    checked = check_messages_sse((ANTHROPIC_GOLDEN / f"{name}.sse").read_bytes())
    assert checked.terminal == terminal
    assert checked.stop_reason == stop_reason


def test_refuses_a_truncated_stream() -> None:
    with pytest.raises(AssertionError, match="unterminated event"):
        check_messages_sse((ANTHROPIC_GOLDEN / "truncated.sse").read_bytes())


def good() -> list[JSON]:
    usage = {"input_tokens": 3, "output_tokens": 1}
    return [
        {
            "type": "message_start",
            "message": {
                "id": "msg_1",
                "type": "message",
                "role": "assistant",
                "model": "m",
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": usage,
            },
        },
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi"}},
        {"type": "content_block_stop", "index": 0},
        {
            "type": "content_block_start",
            "index": 1,
            "content_block": {"type": "tool_use", "id": "t1", "name": "Bash", "input": {}},
        },
        {
            "type": "content_block_delta",
            "index": 1,
            "delta": {"type": "input_json_delta", "partial_json": '{"a": 1}'},
        },
        {"type": "content_block_stop", "index": 1},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "tool_use", "stop_sequence": None},
            "usage": {"output_tokens": 5},
        },
        {"type": "message_stop"},
    ]


def test_the_reference_stream_is_good() -> None:
    checked = check_messages_stream(good())
    assert [b.type for b in checked.blocks] == ["text", "tool_use"]


def mutate(path: tuple[Any, ...], value: Any) -> list[JSON]:
    events = good()
    target: Any = events
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return events


@pytest.mark.parametrize(
    ("events", "message"),
    [
        pytest.param(good()[1:], "first event must be message_start", id="no-message-start"),
        pytest.param(good()[:-1], "without message_stop", id="no-message-stop"),
        pytest.param(
            [*good()[:-2], good()[-1]], "message_stop without a message_delta", id="no-delta"
        ),
        pytest.param(mutate((1, "index"), 1), "expected 0", id="index-gap"),
        pytest.param(mutate((2, "index"), 1), "not the open block", id="delta-elsewhere"),
        pytest.param(
            mutate((5, "delta"), {"type": "text_delta", "text": "x"}),
            "'text_delta' delta for a tool_use block",
            id="delta-type",
        ),
        pytest.param(
            mutate((5, "delta", "partial_json"), "[1]"), "is not an object", id="tool-input-list"
        ),
        pytest.param(
            mutate((7, "delta", "stop_reason"), "end_turn"),
            "after a tool_use block",
            id="tool-without-tool-use-reason",
        ),
        pytest.param(
            mutate((7, "delta", "stop_reason"), "done"), "is not one of", id="bad-stop-reason"
        ),
        pytest.param([*good()[:3], *good()[4:]], "still open", id="block-never-stopped"),
        pytest.param(
            [
                *good()[:3],
                {"type": "error", "error": {"type": "api_error", "message": "x"}},
                {"type": "message_stop"},
            ],
            "after the terminal error",
            id="message-stop-after-error",
        ),
        pytest.param(
            mutate((0, "message", "content"), [{"type": "text", "text": ""}]),
            r"content must be \[\]",
            id="start-with-content",
        ),
        pytest.param(
            mutate((0, "message", "usage"), {"output_tokens": 1}),
            "'input_tokens' must be a non-negative integer",
            id="start-usage",
        ),
    ],
)
def test_refuses(events: list[JSON], message: str) -> None:
    with pytest.raises(AssertionError, match=message):
        check_messages_stream(events)


def test_refuses_thinking_without_signature() -> None:
    events = good()
    events[1] = {
        "type": "content_block_start",
        "index": 0,
        "content_block": {"type": "thinking", "thinking": "", "signature": ""},
    }
    events[2] = {
        "type": "content_block_delta",
        "index": 0,
        "delta": {"type": "thinking_delta", "thinking": "hm"},
    }
    with pytest.raises(AssertionError, match="without its signature_delta"):
        check_messages_stream(events)


def test_refuses_unnamed_events() -> None:
    raw = b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in good())
    with pytest.raises(AssertionError, match="unnamed"):
        check_messages_sse(raw)
