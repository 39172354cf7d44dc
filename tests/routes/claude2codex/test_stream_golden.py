"""Golden upstream streams through ``ResponsesStream``.

Each ``golden/*.sse`` file is a raw Anthropic Messages stream written after the examples of the
streaming documentation (https://docs.claude.com/en/api/messages-streaming). It is decoded with
``SSEDecoder``, translated, closed at EOF exactly as the handler does, framed with
``encode_event`` and checked with ``check_responses_sse``. The expected client event types below
are written by hand from the protocol reference (§6.9 state machine, §3.4 canonical sequences),
never recorded from the code.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Final

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmproxy.contract import ClientEvent, Usage
from llmproxy.errors import UpstreamProtocolError, UpstreamTimeout
from llmproxy.sse import SSEDecoder, SSEEvent, encode_event
from routes.claude2codex.reasoning import Envelope
from routes.claude2codex.request import Echo
from routes.claude2codex.stream import ResponsesStream, ResponseTemplate
from routes.claude2codex.tools import ToolMap
from tests.support.lifecycle import (
    check_responses_sse,
    check_responses_stream,
    parse_responses_sse,
)

GOLDEN: Final = Path(__file__).parent / "golden"
UPSTREAM_MODEL: Final = "claude-sonnet-4-5-20250929"
CLIENT_MODEL: Final = "gpt-5-codex"
CREATED_AT: Final = 1_767_225_600
NOW: Final = 1_767_225_642.75
KEY: Final = "k"

JSON = dict[str, Any]

# -- client event types ------------------------------------------------------------------------

CREATED: Final = "response.created"
IN_PROGRESS: Final = "response.in_progress"
START: Final = [CREATED, IN_PROGRESS]
ADDED: Final = "response.output_item.added"
DONE: Final = "response.output_item.done"
PART: Final = "response.content_part.added"
PART_DONE: Final = "response.content_part.done"
TEXT: Final = "response.output_text.delta"
TEXT_DONE: Final = "response.output_text.done"
SUM_PART: Final = "response.reasoning_summary_part.added"
SUM_PART_DONE: Final = "response.reasoning_summary_part.done"
SUM: Final = "response.reasoning_summary_text.delta"
SUM_DONE: Final = "response.reasoning_summary_text.done"
ARGS: Final = "response.function_call_arguments.delta"
ARGS_DONE: Final = "response.function_call_arguments.done"
INPUT: Final = "response.custom_tool_call_input.delta"
INPUT_DONE: Final = "response.custom_tool_call_input.done"
ANNOTATION: Final = "response.output_text.annotation.added"
WS_IN_PROGRESS: Final = "response.web_search_call.in_progress"
WS_SEARCHING: Final = "response.web_search_call.searching"
WS_COMPLETED: Final = "response.web_search_call.completed"
COMPLETED: Final = "response.completed"
INCOMPLETE: Final = "response.incomplete"
FAILED: Final = "response.failed"

# -- the translator under test ------------------------------------------------------------------


class Ids:
    """Deterministic ids: ``resp_1``, ``msg_1``, ``msg_2``, ``rs_1``, ``fc_1``, ..."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def __call__(self, prefix: str) -> str:
        n = self.counts.get(prefix, 0) + 1
        self.counts[prefix] = n
        return f"{prefix}_{n}"


APPLY_PATCH_GRAMMAR: Final = (
    "start: begin_patch hunk+ end_patch\n"
    'begin_patch: "*** Begin Patch" LF\n'
    'end_patch: "*** End Patch" LF?\n'
)


def tool_map() -> ToolMap:
    """The request's tools, Codex-style: functions, a freeform custom tool, a namespace."""
    tools = ToolMap()
    specs: list[JSON] = [
        {
            "type": "function",
            "name": "get_weather",
            "description": "Get the current weather in a given location",
            "parameters": {
                "type": "object",
                "properties": {
                    "location": {"type": "string"},
                    "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                },
                "required": ["location"],
            },
            "strict": False,
        },
        {
            "type": "function",
            "name": "shell",
            "description": "Runs a shell command",
            "parameters": {
                "type": "object",
                "properties": {"command": {"type": "array", "items": {"type": "string"}}},
                "required": ["command"],
            },
        },
        {
            "type": "custom",
            "name": "apply_patch",
            "description": "Use the `apply_patch` tool to edit files.",
            "format": {"type": "grammar", "syntax": "lark", "definition": APPLY_PATCH_GRAMMAR},
        },
        {
            "type": "namespace",
            "name": "github",
            "description": "GitHub MCP server",
            "tools": [
                {
                    "type": "function",
                    "name": "create_issue",
                    "parameters": {
                        "type": "object",
                        "properties": {
                            "repo": {"type": "string"},
                            "title": {"type": "string"},
                            "labels": {"type": "array", "items": {"type": "string"}},
                        },
                    },
                }
            ],
        },
        {"type": "web_search"},
    ]
    for i, spec in enumerate(specs):
        tools.add(spec, f"tools[{i}]")
    return tools


def make_stream(*, summaries: bool = True) -> ResponsesStream:
    template = ResponseTemplate(model=CLIENT_MODEL, created_at=CREATED_AT, echo=Echo())
    return ResponsesStream(
        template,
        tool_map(),
        Envelope(KEY),
        UPSTREAM_MODEL,
        summaries=summaries,
        ids=Ids(),
        clock=lambda: NOW,
    )


def golden(name: str) -> bytes:
    return (GOLDEN / f"{name}.sse").read_bytes()


def upstream_events(raw: bytes) -> list[SSEEvent]:
    decoder = SSEDecoder()
    events = decoder.feed(raw)
    events.extend(decoder.close())
    return events


def translate(stream: ResponsesStream, chunks: Iterable[bytes]) -> list[ClientEvent]:
    """What the handler does: feed until the terminal event, and at EOF ``close()``."""
    decoder = SSEDecoder()
    out: list[ClientEvent] = []
    for chunk in chunks:
        for ev in decoder.feed(chunk):
            out.extend(stream.feed(ev))
            if stream.done:
                return out
    for ev in decoder.close():
        out.extend(stream.feed(ev))
        if stream.done:
            return out
    out.extend(stream.close())
    return out


def frame(events: Sequence[ClientEvent]) -> bytes:
    return b"".join(encode_event(e.data, e.event) for e in events)


def unseal(value: Any) -> Any:
    """``encrypted_content`` is sealed with a random nonce: compare what it opens to instead."""
    if isinstance(value, dict):
        return {
            k: {"opened": Envelope(KEY).open(v, UPSTREAM_MODEL)}
            if k == "encrypted_content"
            else unseal(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [unseal(v) for v in value]
    return value


def normalized(events: Sequence[ClientEvent]) -> list[tuple[str | None, Any]]:
    return [(e.event, unseal(json.loads(e.data))) for e in events]


def summarize(item: JSON) -> tuple[Any, ...]:
    """The payload fields a test pins, per output item."""
    t = item["type"]
    if t == "message":
        texts = [p["text"] for p in item["content"]]
        notes = [p["annotations"] for p in item["content"]]
        if any(notes):
            return (t, item["id"], item["status"], texts, notes)
        return (t, item["id"], item["status"], texts)
    if t == "web_search_call":
        return (t, item["id"], item["status"], item["action"])
    if t == "reasoning":
        blocks = Envelope(KEY).open(item.get("encrypted_content"), UPSTREAM_MODEL)
        return (t, item["id"], [s["text"] for s in item["summary"]], blocks)
    if t == "function_call":
        return (
            t,
            item["id"],
            item["call_id"],
            item.get("namespace"),
            item["name"],
            item["arguments"],
            item["status"],
        )
    if t == "custom_tool_call":
        return (
            t,
            item["id"],
            item["call_id"],
            item.get("namespace"),
            item["name"],
            item["input"],
            item["status"],
        )
    raise AssertionError(f"unexpected item type {t!r}")


def usage(
    uncached: int, cache_read: int, cache_write: int, output: int, reasoning: int = 0
) -> JSON:
    """Reference §6.7, from the raw Anthropic counts."""
    total_in = uncached + cache_read + cache_write
    return {
        "input_tokens": total_in,
        "input_tokens_details": {"cached_tokens": cache_read, "cache_write_tokens": cache_write},
        "output_tokens": output,
        "output_tokens_details": {"reasoning_tokens": reasoning},
        "total_tokens": total_in + output,
    }


def thinking(text: str, signature: str) -> list[JSON]:
    return [{"type": "thinking", "thinking": text, "signature": signature}]


# -- the goldens, expectations written by hand ------------------------------------------------

SIG1: Final = (
    "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds9s2pzb8TZfGLbMSCh0GjfbIPnGn4tTbB8sRFTgEyQ"
    "SQZ3t4aeoEDYq1Lyyup7EbNbUj5TTHCXhYC4y6TjAq7tkpCPKrdSKh"
)
SIG2: Final = (
    "ErUBCkYIBhgCIkB3S4G4mv0F9JSmUJ1fJBuK6p2KeX1vqyFQ8m3BNl0TLbNG1d5BbEmzw2zZ2h2N1AFrtLE4FkMI5YQHl"
    "HnJmQaAEgwjOCjJ4qVxuHq2CKgaDNIJvLr07zC9ETiZRSIwOS5Zd3lyTt4tWUnJOWWwHD9dnVJdkhhC5RNpSw"
)
REDACTED: Final = (
    "EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8cr3qpPkNRj2YfWXGmKDxH4mPnZ5sQ7vB8URj"
    "2pLmN3kM4AzHlGCADm/qYq5MQLA/LRp8qhLHvhB0N3gEpIEKW96ln1H3FY"
)
GCD_THINKING: Final = (
    "The user asks for the GCD of 1071 and 462. Euclid: 1071 = 2 × 462 + 147; 462 = 3 × 147 + 21;"
    " 147 = 7 × 21 + 0. So the GCD is 21."
)
PATCH: Final = (
    "*** Begin Patch\n"
    "*** Update File: src/app.py\n"
    "@@ def main():\n"
    '-    print("hi")\n'
    '+    print("hello é")\n'
    "*** End Patch\n"
)
#: What a tool_use cut by max_tokens left of its input (reference §6.8).
CUT_ARGUMENTS: Final = '{"command": ["bash", "-lc", "cat READ'


@dataclass(frozen=True)
class Golden:
    name: str
    types: list[str]
    output: list[tuple[Any, ...]]
    terminal: str
    #: §6.7 usage of the terminal event; for ``failed`` None means "null or this mapping".
    usage: JSON | None = None
    reason: str | None = None
    error_code: str | None = None
    skipped: int = 0
    summaries: bool = True


GOLDENS: Final = [
    Golden(
        "text_ping",
        [*START, ADDED, PART, TEXT, TEXT, TEXT, TEXT_DONE, PART_DONE, DONE, COMPLETED],
        [("message", "msg_1", "completed", ["Hello! Ça va? 👋"])],
        COMPLETED,
        usage(25, 2048, 1024, 15),
    ),
    Golden(
        "tool_use",
        [
            *START,
            *[ADDED, PART, TEXT, TEXT, TEXT_DONE, PART_DONE, DONE],
            # the first input_json_delta fragment is "": no delta for it (§6.9)
            *[ADDED, ARGS, ARGS, ARGS, ARGS, ARGS, ARGS, ARGS, ARGS, ARGS_DONE, DONE],
            COMPLETED,
        ],
        [
            (
                "message",
                "msg_1",
                "completed",
                ["Okay, let's check the weather for San Francisco, CA:"],
            ),
            (
                "function_call",
                "fc_1",
                "toolu_01T1x1fJ34qAmk2tNTrN7Up6",
                None,
                "get_weather",
                '{"location": "San Francisco, CA", "unit": "fahrenheit"}',
                "completed",
            ),
        ],
        COMPLETED,
        usage(472, 0, 0, 89),
    ),
    Golden(
        "thinking",
        [
            *START,
            *[ADDED, SUM_PART, SUM, SUM, SUM, SUM_DONE, SUM_PART_DONE, DONE],
            *[ADDED, PART, TEXT, TEXT, TEXT_DONE, PART_DONE, DONE],
            COMPLETED,
        ],
        [
            ("reasoning", "rs_1", [GCD_THINKING], thinking(GCD_THINKING, SIG1)),
            (
                "message",
                "msg_1",
                "completed",
                ["The greatest common divisor of 1071 and 462 is **21**."],
            ),
        ],
        COMPLETED,
        usage(36, 3560, 0, 259, reasoning=198),
    ),
    Golden(
        "redacted_thinking",
        [
            *START,
            *[ADDED, SUM_PART, SUM, SUM_DONE, SUM_PART_DONE, DONE],
            *[ADDED, DONE],  # redacted: no summary events (§6.9)
            *[ADDED, PART, TEXT, TEXT_DONE, PART_DONE, DONE],
            COMPLETED,
        ],
        [
            (
                "reasoning",
                "rs_1",
                ["Let me consider the request carefully."],
                thinking("Let me consider the request carefully.", SIG2),
            ),
            ("reasoning", "rs_2", [], [{"type": "redacted_thinking", "data": REDACTED}]),
            (
                "message",
                "msg_1",
                "completed",
                ["I can't share those details, but here is a safe summary."],
            ),
        ],
        COMPLETED,
        usage(412, 0, 1893, 142),
    ),
    Golden(
        # server_tool_use + web_search_tool_result become one web_search_call item, added once
        # the query is complete (§6.9: in_progress, searching, completed around added/done);
        # the message is closed before it and the text after it opens a new one, whose cited
        # part carries a url_citation spanning the part (annotation.added before text done).
        "web_search",
        [
            *START,
            *[ADDED, PART, TEXT, TEXT, TEXT_DONE, PART_DONE, DONE],
            *[ADDED, WS_IN_PROGRESS, WS_SEARCHING, WS_COMPLETED, DONE],
            *[ADDED, PART, TEXT, ANNOTATION, TEXT_DONE, PART_DONE],
            *[PART, TEXT, TEXT_DONE, PART_DONE, DONE],
            COMPLETED,
        ],
        [
            (
                "message",
                "msg_1",
                "completed",
                ["I'll check the current weather in New York City for you."],
            ),
            (
                "web_search_call",
                "ws_1",
                "completed",
                {"type": "search", "query": "weather NYC today"},
            ),
            (
                "message",
                "msg_2",
                "completed",
                ["It is partly cloudy with a high of 68°F", " and a light breeze."],
                [
                    [
                        {
                            "type": "url_citation",
                            "url": "https://www.example.com/weather/nyc",
                            "title": "Weather in New York City in May 2025",
                            "start_index": 0,
                            "end_index": 39,
                        }
                    ],
                    [],
                ],
            ),
        ],
        COMPLETED,
        usage(10682, 0, 0, 510),  # message_delta's cumulative input_tokens override
    ),
    Golden(
        "max_tokens",
        [*START, ADDED, PART, TEXT, TEXT, TEXT, TEXT_DONE, PART_DONE, DONE, INCOMPLETE],
        [
            (
                "message",
                "msg_1",
                "incomplete",
                ["Once upon a time, in a kingdom by the sea, there"],
            )
        ],
        INCOMPLETE,
        usage(12, 4096, 0, 16),
        reason="max_output_tokens",
    ),
    Golden(
        # A tool_use cut mid-JSON by max_tokens. §6.8 says not to hand it out as a
        # function_call; once its output_item.added was sent, §3.3 still requires a done
        # item, so the least it must be is not "completed" (see the dedicated test).
        "max_tokens_tool",
        [
            *START,
            *[ADDED, PART, TEXT, TEXT_DONE, PART_DONE, DONE],
            *[ADDED, ARGS, ARGS, ARGS_DONE, DONE],
            INCOMPLETE,
        ],
        [
            ("message", "msg_1", "completed", ["Let me look at the file."]),
            (
                "function_call",
                "fc_1",
                "toolu_01VvQh4NZ3yEo6uTTB1Vx9qS",
                None,
                "shell",
                CUT_ARGUMENTS,
                "incomplete",
            ),
        ],
        INCOMPLETE,
        usage(880, 12000, 0, 64),
        reason="max_output_tokens",
    ),
    Golden(
        # Decision (README, "claude2codex: what is translated"): a refusal completes, and the
        # refusal becomes a visible message, because Codex treats response.incomplete as an
        # error to retry and would never show it. Reference §6.8 says incomplete/content_filter.
        "refusal",
        [
            *START,
            *[ADDED, PART, TEXT, TEXT, TEXT_DONE, PART_DONE, DONE],
            *[ADDED, PART, TEXT, TEXT_DONE, PART_DONE, DONE],
            COMPLETED,
        ],
        [
            ("message", "msg_1", "completed", ["I can explain how this class of exploit"]),
            ("message", "msg_2", "completed", ["The model declined to answer this request."]),
        ],
        COMPLETED,
        usage(58, 0, 0, 9),
    ),
    Golden(
        "error_overloaded",
        [*START, ADDED, PART, TEXT, TEXT, TEXT_DONE, PART_DONE, DONE, FAILED],
        [("message", "msg_1", "incomplete", ["Here is the first part of the"])],
        FAILED,
        usage(301, 5000, 0, 1),
        error_code="server_error",
    ),
    Golden(
        # EOF inside an event (dropped by the decoder) while a tool call streams: the call is
        # added but never done, and the terminal is failed.
        "truncated",
        [
            *START,
            *[ADDED, PART, TEXT, TEXT_DONE, PART_DONE, DONE],
            *[ADDED, ARGS],
            FAILED,
        ],
        [("message", "msg_1", "completed", ["Checking Paris."])],
        FAILED,
        usage(77, 0, 200, 1),
        error_code="server_error",
    ),
    Golden(
        "parallel_tools",
        [
            *START,
            *[ADDED, PART, TEXT, TEXT_DONE, PART_DONE, DONE],
            *[ADDED, ARGS, ARGS, ARGS_DONE, DONE],
            *[ADDED, ARGS, ARGS, ARGS, ARGS_DONE, DONE],
            COMPLETED,
        ],
        [
            ("message", "msg_1", "completed", ["I'll check the weather and file the issue."]),
            (
                "function_call",
                "fc_1",
                "toolu_01A09q90qw90lq917835lq9",
                None,
                "get_weather",
                '{"location": "Paris, France", "unit": "celsius"}',
                "completed",
            ),
            (
                "function_call",
                "fc_2",
                "toolu_01B7RxYz3kVdM2Lq8PcNf6Ht",
                "github",
                "create_issue",
                '{"repo": "acme/app", "title": "Weather widget shows °F", "labels": ["bug"]}',
                "completed",
            ),
        ],
        COMPLETED,
        usage(640, 1536, 0, 121),
    ),
    Golden(
        "interleaved",
        [
            *START,
            *[ADDED, SUM_PART, SUM, SUM, SUM_DONE, SUM_PART_DONE, DONE],
            *[ADDED, INPUT, INPUT_DONE, DONE],  # custom input buffered, one delta (§6.5)
            *[ADDED, SUM_PART, SUM, SUM_DONE, SUM_PART_DONE, DONE],
            *[ADDED, PART, TEXT, TEXT_DONE, PART_DONE, DONE],
            COMPLETED,
        ],
        [
            (
                "reasoning",
                "rs_1",
                ["The greeting should be friendlier; I'll patch main()."],
                thinking("The greeting should be friendlier; I'll patch main().", SIG1),
            ),
            (
                "custom_tool_call",
                "ctc_1",
                "toolu_01C4pQr8sTu2vWx6yZa0bCd3",
                None,
                "apply_patch",
                PATCH,
                "completed",
            ),
            (
                "reasoning",
                "rs_2",
                ["Patch prepared; now tell the user."],
                thinking("Patch prepared; now tell the user.", SIG2),
            ),
            (
                "message",
                "msg_1",
                "completed",
                ["I updated `main()` to print a friendlier greeting."],
            ),
        ],
        COMPLETED,
        usage(2048, 8192, 512, 333, reasoning=120),
    ),
    Golden(
        "crlf",
        [*START, ADDED, PART, TEXT, TEXT, TEXT_DONE, PART_DONE, DONE, COMPLETED],
        [("message", "msg_1", "completed", ["Line one\nline two"])],
        COMPLETED,
        usage(10, 0, 0, 6),
    ),
    Golden(
        "unknown_types",
        [*START, ADDED, PART, TEXT, TEXT, TEXT_DONE, PART_DONE, DONE, COMPLETED],
        [("message", "msg_1", "completed", ["Still here."])],
        COMPLETED,
        usage(20, 0, 0, 4),
        skipped=2,  # the unknown event and the unknown delta
    ),
    Golden(
        # The same upstream stream without summaries: the reasoning item carries no summary
        # events and summary [], the thinking travels only in encrypted_content (§6.1).
        "thinking",
        [
            *START,
            *[ADDED, DONE],
            *[ADDED, PART, TEXT, TEXT, TEXT_DONE, PART_DONE, DONE],
            COMPLETED,
        ],
        [
            ("reasoning", "rs_1", [], thinking(GCD_THINKING, SIG1)),
            (
                "message",
                "msg_1",
                "completed",
                ["The greatest common divisor of 1071 and 462 is **21**."],
            ),
        ],
        COMPLETED,
        usage(36, 3560, 0, 259, reasoning=198),
        summaries=False,
    ),
]
#: Where the translator knowingly departs from the reference and the test should say so.
DEVIATIONS: Final[dict[str, str]] = {}
CASES: Final = [
    pytest.param(
        g,
        id=g.name + ("" if g.summaries else "-no-summaries"),
        marks=[pytest.mark.xfail(strict=True, reason=DEVIATIONS[g.name])]
        if g.name in DEVIATIONS
        else [],
    )
    for g in GOLDENS
]
NAMES: Final = sorted({g.name for g in GOLDENS})


def test_every_golden_file_has_expectations() -> None:
    assert sorted(p.stem for p in GOLDEN.glob("*.sse")) == NAMES


def test_tool_map_names_match_the_goldens() -> None:
    tools = tool_map()
    assert tools.by_client[("github", "create_issue")].anthropic_name == "github__create_issue"
    assert tools.lookup("apply_patch").kind == "custom"
    assert tools.web_search  # the hosted web search became Anthropic's server tool
    assert tools.dropped == []


@pytest.mark.parametrize("case", CASES)
def test_golden(case: Golden) -> None:
    stream = make_stream(summaries=case.summaries)
    out = translate(stream, [golden(case.name)])
    events = check_responses_sse(frame(out))

    assert [e["type"] for e in events] == case.types
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert stream.done
    assert stream.skipped == case.skipped

    added = [e["item"] for e in events if e["type"] == ADDED]
    done = [e["item"] for e in events if e["type"] == DONE]
    assert [summarize(item) for item in done] == case.output
    for item in added:
        # §6.4.2: encrypted_content only in output_item.done
        assert "encrypted_content" not in item

    terminal = events[-1]
    assert terminal["type"] == case.terminal
    response = terminal["response"]
    assert response["id"] == "resp_1"
    assert response["model"] == CLIENT_MODEL
    assert response["created_at"] == CREATED_AT
    assert response["output"] == done
    # ``final`` (what a non-streaming client gets) is the terminal event's response
    assert stream.final is not None
    assert msgspec.json.decode(msgspec.json.encode(stream.final)) == response
    if case.terminal == COMPLETED:
        assert response["status"] == "completed"
        assert response["completed_at"] == int(NOW)
        assert response["usage"] == case.usage
        assert response["incomplete_details"] is None
        assert response["error"] is None
        assert stream.error is None
    elif case.terminal == INCOMPLETE:
        assert response["status"] == "incomplete"
        assert response["incomplete_details"] == {"reason": case.reason}
        assert response["usage"] == case.usage
        assert response["completed_at"] is None
        assert stream.error is None
    else:
        assert response["status"] == "failed"
        assert response["error"]["code"] == case.error_code
        assert response["error"]["message"]
        assert response["usage"] in (None, case.usage)
        assert response["completed_at"] is None
        assert stream.error is not None
    assert not any(e["type"] in (COMPLETED, INCOMPLETE, FAILED) for e in events[:-1])

    # The stream is over: EOF and failures add nothing, feeding is a bug.
    assert stream.close() == []
    assert stream.fail(UpstreamTimeout("late")) == []
    assert stream.heartbeat() == []


def test_text_golden_literal_usage() -> None:
    """§6.7 worked once by hand: input 25 + cache read 2048 + cache write 1024."""
    stream = make_stream()
    events = check_responses_sse(frame(translate(stream, [golden("text_ping")])))
    assert events[-1]["response"]["usage"] == {
        "input_tokens": 3097,
        "input_tokens_details": {"cached_tokens": 2048, "cache_write_tokens": 1024},
        "output_tokens": 15,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 3112,
    }
    assert stream.usage == Usage(input=25, output=15, cache_read=2048, cache_write=1024)


def test_golden_payload_fields() -> None:
    """Item-level fields a client reads while streaming."""
    events = check_responses_sse(frame(translate(make_stream(), [golden("parallel_tools")])))
    added = [e for e in events if e["type"] == ADDED]
    assert [e["output_index"] for e in added] == [0, 1, 2]
    issue = added[2]["item"]
    assert issue == {
        "type": "function_call",
        "id": "fc_2",
        "call_id": "toolu_01B7RxYz3kVdM2Lq8PcNf6Ht",
        "name": "create_issue",
        "arguments": "",
        "status": "in_progress",
        "namespace": "github",
    }
    deltas = [e["delta"] for e in events if e["type"] == ARGS and e["item_id"] == "fc_2"]
    assert deltas == [
        '{"repo": "acme/app", ',
        '"title": "Weather widget shows °F", ',
        '"labels": ["bug"]}',
    ]
    args_done = next(e for e in events if e["type"] == ARGS_DONE and e["item_id"] == "fc_2")
    assert args_done["name"] == "create_issue"

    events = check_responses_sse(frame(translate(make_stream(), [golden("interleaved")])))
    (custom_added,) = [e["item"] for e in events if e["type"] == ADDED and e["output_index"] == 1]
    assert custom_added["type"] == "custom_tool_call"
    assert custom_added["input"] == ""
    # the input is the decoded ``input`` string of the tool_use's {"input": ...} JSON (§6.5)
    fragments = [
        json.loads(ev.data)["delta"]["partial_json"]
        for ev in upstream_events(golden("interleaved"))
        if ev.event == "content_block_delta"
        and json.loads(ev.data)["delta"]["type"] == "input_json_delta"
    ]
    assert json.loads("".join(fragments)) == {"input": PATCH}
    assert "".join(e["delta"] for e in events if e["type"] == INPUT) == PATCH
    assert next(e for e in events if e["type"] == INPUT_DONE)["input"] == PATCH
    # summary deltas carry summary_index (Codex needs it)
    assert all(e["summary_index"] == 0 for e in events if e["type"] == SUM)


def test_reasoning_envelope_is_bound_to_key_and_model() -> None:
    events = check_responses_sse(frame(translate(make_stream(), [golden("thinking")])))
    (reasoning,) = [e["item"] for e in events if e["type"] == DONE and e["output_index"] == 0]
    token = reasoning["encrypted_content"]
    assert Envelope(KEY).open(token, UPSTREAM_MODEL) == thinking(GCD_THINKING, SIG1)
    assert Envelope("another key").open(token, UPSTREAM_MODEL) is None
    assert Envelope(KEY).open(token, "claude-opus-4-1") is None


# -- chunk boundaries mean nothing (STYLE.md habit 3) ------------------------------------------


@cache
def whole(name: str) -> list[tuple[str | None, Any]]:
    return normalized(translate(make_stream(), [golden(name)]))


@pytest.mark.parametrize("name", NAMES)
def test_byte_by_byte(name: str) -> None:
    raw = golden(name)
    assert normalized(translate(make_stream(), (raw[i : i + 1] for i in range(len(raw))))) == (
        whole(name)
    )


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_random_splits(name: str, data: st.DataObject) -> None:
    raw = golden(name)
    cuts = sorted(data.draw(st.sets(st.integers(1, len(raw) - 1), max_size=24), label="cuts"))
    bounds = [0, *cuts, len(raw)]
    chunks = [raw[a:b] for a, b in itertools.pairwise(bounds)]
    assert normalized(translate(make_stream(), chunks)) == whole(name)


# -- heartbeats -----------------------------------------------------------------------------------


def test_heartbeat_before_any_event_opens_the_response() -> None:
    stream = make_stream()
    first = stream.heartbeat()
    assert [(e.event, json.loads(e.data)["sequence_number"]) for e in first] == [
        (CREATED, 0),
        (IN_PROGRESS, 1),
    ]
    created = json.loads(first[0].data)["response"]
    assert created["status"] == "in_progress"
    assert created["output"] == []
    assert created["usage"] is None
    rest = translate(stream, [golden("text_ping")])
    events = check_responses_sse(frame(first + rest))
    assert [e["type"] for e in events] == GOLDENS[0].types
    assert normalized(first + rest) == whole("text_ping")


@pytest.mark.parametrize("case", CASES)
def test_heartbeat_between_every_upstream_event(case: Golden) -> None:
    stream = make_stream(summaries=case.summaries)
    out: list[ClientEvent] = []
    beats = 0
    for ev in upstream_events(golden(case.name)):
        out.extend(stream.feed(ev))
        if stream.done:
            break
        hb = stream.heartbeat()
        assert [e.event for e in hb] == [IN_PROGRESS]
        assert json.loads(hb[0].data)["response"]["status"] == "in_progress"
        beats += 1
        out.extend(hb)
    out.extend(stream.close())
    events = check_responses_sse(frame(out))
    seqs = [e["sequence_number"] for e in events]
    assert seqs == list(range(len(events)))
    types = [e["type"] for e in events]
    assert types.count(IN_PROGRESS) == 1 + beats
    without = types[:2] + [t for t in types[2:] if t != IN_PROGRESS]
    assert without == case.types


# -- failures -------------------------------------------------------------------------------------


def feed_until(stream: ResponsesStream, name: str, stop: int) -> list[ClientEvent]:
    """Feed the first ``stop`` upstream events of a golden."""
    out: list[ClientEvent] = []
    for ev in upstream_events(golden(name))[:stop]:
        out.extend(stream.feed(ev))
    assert not stream.done
    return out


def test_feed_after_done_raises() -> None:
    stream = make_stream()
    translate(stream, [golden("text_ping")])
    with pytest.raises(RuntimeError):
        stream.feed(SSEEvent("ping", '{"type": "ping"}'))

    failed = make_stream()
    failed.fail(UpstreamTimeout("idle"))
    assert failed.done
    with pytest.raises(RuntimeError):
        failed.feed(SSEEvent("message_stop", '{"type": "message_stop"}'))


def test_fail_mid_text_closes_the_message_incomplete() -> None:
    stream = make_stream()
    # message_start, block start, ping, two text deltas: the third delta never arrives
    head = feed_until(stream, "text_ping", 5)
    err = UpstreamTimeout("the upstream sent nothing for 300 seconds")
    tail = stream.fail(err)
    events = check_responses_sse(frame(head + tail))
    assert [e["type"] for e in events] == [
        *START,
        *[ADDED, PART, TEXT, TEXT, TEXT_DONE, PART_DONE, DONE],
        FAILED,
    ]
    assert events[-2]["item"]["status"] == "incomplete"
    assert events[-2]["item"]["content"][0]["text"] == "Hello!"
    failed = events[-1]["response"]
    assert failed["status"] == "failed"
    assert failed["error"]["code"] == "server_error"
    assert failed["output"] == [events[-2]["item"]]
    assert stream.error is err
    assert stream.close() == []


def test_fail_cuts_a_function_call_without_handing_it_out() -> None:
    stream = make_stream()
    # ... tool_use start, "", '{"location":', ' "San' -- then the connection breaks
    head = feed_until(stream, "tool_use", 9)
    tail = stream.fail(UpstreamProtocolError("the upstream connection broke mid-stream"))
    events = check_responses_sse(frame(head + tail))
    assert [e["type"] for e in events] == [
        *START,
        *[ADDED, PART, TEXT, TEXT, TEXT_DONE, PART_DONE, DONE],
        *[ADDED, ARGS, ARGS],
        FAILED,
    ]
    assert not any(e["type"] == DONE and e["item"]["type"] == "function_call" for e in events)
    assert [i["type"] for i in events[-1]["response"]["output"]] == ["message"]
    assert events[-1]["response"]["error"]["code"] == "server_error"


def test_fail_cuts_a_custom_tool_call_without_handing_it_out() -> None:
    stream = make_stream()
    # thinking block (6 events after message_start), tool start and two of its fragments
    head = feed_until(stream, "interleaved", 10)
    tail = stream.fail(UpstreamTimeout("idle"))
    events = check_responses_sse(frame(head + tail))
    assert [e["type"] for e in events] == [
        *START,
        *[ADDED, SUM_PART, SUM, SUM, SUM_DONE, SUM_PART_DONE, DONE],
        ADDED,
        FAILED,
    ]
    assert events[-2]["item"]["type"] == "custom_tool_call"
    assert [i["type"] for i in events[-1]["response"]["output"]] == ["reasoning"]


def test_close_before_message_stop_fails_never_completes() -> None:
    for name in NAMES:
        raw = golden(name)
        cut = raw.rfind(b"event: message_stop")
        if cut < 0:
            continue
        events = check_responses_sse(frame(translate(make_stream(), [raw[:cut]])))
        assert events[-1]["type"] == FAILED, name
        assert events[-1]["response"]["error"]["code"] == "server_error", name
        assert COMPLETED not in [e["type"] for e in events], name


def test_refusal_stream_is_valid_and_has_no_refusal_part() -> None:
    """Whatever a refusal maps to, the stream keeps the lifecycle and Codex can parse it."""
    events = check_responses_sse(frame(translate(make_stream(), [golden("refusal")])))
    assert events[-1]["type"] in (COMPLETED, INCOMPLETE)
    parts = [p for e in events if e["type"] == DONE for p in e["item"].get("content", [])]
    assert parts
    assert all(p["type"] == "output_text" for p in parts)


def test_cut_tool_call_at_max_tokens_is_not_handed_out_as_completed() -> None:
    """§6.8: a tool_use cut mid-JSON by max_tokens must not reach the client as a call to run."""
    events = check_responses_sse(frame(translate(make_stream(), [golden("max_tokens_tool")])))
    assert events[-1]["type"] == INCOMPLETE
    calls = [e["item"] for e in events if e["type"] == DONE and e["item"]["type"] != "message"]
    for call in calls:
        try:
            complete = isinstance(json.loads(call["arguments"]), dict)
        except json.JSONDecodeError:
            complete = False
        assert complete or call["status"] != "completed", call


# -- the checker rejects what clients reject ------------------------------------------------------


def renumber(events: list[JSON]) -> list[JSON]:
    for i, ev in enumerate(events):
        ev["sequence_number"] = i
    return events


def good() -> list[JSON]:
    return parse_responses_sse(frame(translate(make_stream(), [golden("tool_use")])))


def index_of(events: list[JSON], etype: str, nth: int = 0) -> int:
    return [i for i, e in enumerate(events) if e["type"] == etype][nth]


def _drop_created(ev: list[JSON]) -> list[JSON]:
    return renumber(ev[1:])


def _swap_seq(ev: list[JSON]) -> list[JSON]:
    ev[3]["sequence_number"], ev[4]["sequence_number"] = 4, 3
    return ev


def _drop_part_added(ev: list[JSON]) -> list[JSON]:
    del ev[index_of(ev, PART)]
    return renumber(ev)


def _bad_text_done(ev: list[JSON]) -> list[JSON]:
    ev[index_of(ev, TEXT_DONE)]["text"] = "Okay"
    return ev


def _drop_call_done(ev: list[JSON]) -> list[JSON]:
    del ev[index_of(ev, DONE, 1)]
    return renumber(ev)


def _event_after_terminal(ev: list[JSON]) -> list[JSON]:
    ev.append({"type": IN_PROGRESS, "sequence_number": 0, "response": ev[1]["response"]})
    return renumber(ev)


def _two_terminals(ev: list[JSON]) -> list[JSON]:
    ev.append(json.loads(json.dumps(ev[-1])))
    return renumber(ev)


def _wrong_item_id(ev: list[JSON]) -> list[JSON]:
    ev[index_of(ev, ARGS)]["item_id"] = "fc_9"
    return ev


def _wrong_output_index(ev: list[JSON]) -> list[JSON]:
    ev[index_of(ev, ADDED, 1)]["output_index"] = 5
    return ev


def _args_delta_on_message(ev: list[JSON]) -> list[JSON]:
    d = ev[index_of(ev, TEXT)]
    ev[index_of(ev, TEXT)] = {
        "type": ARGS,
        "sequence_number": d["sequence_number"],
        "item_id": d["item_id"],
        "output_index": d["output_index"],
        "delta": d["delta"],
    }
    return ev


def _delta_after_done(ev: list[JSON]) -> list[JSON]:
    d = json.loads(json.dumps(ev[index_of(ev, ARGS)]))
    ev.insert(index_of(ev, DONE, 1) + 1, d)
    return renumber(ev)


def _overlapping_items(ev: list[JSON]) -> list[JSON]:
    done = ev.pop(index_of(ev, DONE, 0))
    ev.insert(index_of(ev, ADDED, 1) + 1, done)
    return renumber(ev)


def _bad_total(ev: list[JSON]) -> list[JSON]:
    ev[-1]["response"]["usage"]["total_tokens"] += 1
    return ev


def _no_cached_tokens(ev: list[JSON]) -> list[JSON]:
    del ev[-1]["response"]["usage"]["input_tokens_details"]["cached_tokens"]
    return ev


def _no_completed_at(ev: list[JSON]) -> list[JSON]:
    ev[-1]["response"]["completed_at"] = None
    return ev


def _top_level_error(ev: list[JSON]) -> list[JSON]:
    ev[3]["error"] = {"message": "boom"}
    return ev


def _refusal_part(ev: list[JSON]) -> list[JSON]:
    ev[index_of(ev, PART)]["part"] = {"type": "refusal", "refusal": ""}
    return ev


def _output_missing_item(ev: list[JSON]) -> list[JSON]:
    ev[-1]["response"]["output"].pop()
    return ev


def _added_with_arguments(ev: list[JSON]) -> list[JSON]:
    ev[index_of(ev, ADDED, 1)]["item"]["arguments"] = "{}"
    return ev


def _added_message_without_role(ev: list[JSON]) -> list[JSON]:
    del ev[index_of(ev, ADDED)]["item"]["role"]
    return ev


def _done_arguments_differ(ev: list[JSON]) -> list[JSON]:
    ev[index_of(ev, ARGS_DONE)]["arguments"] = "{}"
    return ev


def _no_terminal(ev: list[JSON]) -> list[JSON]:
    return ev[:-1]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (_drop_created, "first event must be response.created"),
        (_swap_seq, "strictly increasing"),
        (_drop_part_added, "content part 0 was never added"),
        (_bad_text_done, "concatenated deltas"),
        (_drop_call_done, "added but never done"),
        (_event_after_terminal, "after the terminal"),
        (_two_terminals, "after the terminal"),
        (_wrong_item_id, "item_id 'fc_9'"),
        (_wrong_output_index, "output_index 5, expected 1"),
        (_args_delta_on_message, "only for function_call items"),
        (_delta_after_done, "after its output_item.done"),
        (_overlapping_items, "still open"),
        (_bad_total, "total_tokens"),
        (_no_cached_tokens, "cached_tokens"),
        (_no_completed_at, "completed_at"),
        (_top_level_error, "truthy 'error'"),
        (_refusal_part, "refusal"),
        (_output_missing_item, "response.output differs"),
        (_added_with_arguments, 'arguments ""'),
        (_added_message_without_role, "'role'"),
        (_done_arguments_differ, "concatenated deltas"),
        (_no_terminal, "without a terminal event"),
    ],
)
def test_checker_rejects(mutate: Callable[[list[JSON]], list[JSON]], message: str) -> None:
    events = good()
    check_responses_stream(events)
    with pytest.raises(AssertionError, match=re.escape(message)):
        check_responses_stream(mutate(events))


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b'data: {"type": "response.created", "sequence_number": 0}\n\n', "unnamed"),
        (b'event: response.completed\ndata: {"type": "response.created"}\n\n', "!= data type"),
        (b"event: done\ndata: [DONE]\n\n", r"\[DONE\]"),
        (b'event: response.created\ndata: {"type": "response.created"}', "unterminated"),
    ],
)
def test_checker_rejects_bad_framing(raw: bytes, message: str) -> None:
    with pytest.raises(AssertionError, match=message):
        parse_responses_sse(raw)
