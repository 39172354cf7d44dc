"""Golden upstream streams through ``MessagesStream``.

Each ``golden/*.sse`` file is a raw OpenAI Responses stream written after the examples of the
streaming reference (https://platform.openai.com/docs/api-reference/responses-streaming and the
protocol reference §3). It is decoded with ``SSEDecoder``, translated, closed at EOF exactly as
the handler does, framed with ``encode_event`` and checked with ``check_messages_sse``. The
expected client events below are written by hand from the Anthropic streaming documentation
(reference §5.2), never recorded from the code. Every golden is fed whole, one byte at a time and
split at random (hypothesis): chunk boundaries must not change a single output byte.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmproxy.contract import ClientEvent, Usage
from llmproxy.dialects.anthropic import ToolUseBlockOut, encode_out
from llmproxy.errors import UpstreamProtocolError, UpstreamStatusError, UpstreamTimeout
from llmproxy.sse import SSEDecoder, SSEEvent, encode_event
from routes.codex2claude.reasoning import Carried, open_signature
from routes.codex2claude.request import ToolNames
from routes.codex2claude.stream import MessagesStream
from tests.support.anthropic_lifecycle import check_messages_sse

GOLDEN: Final = Path(__file__).parent / "golden"
CLIENT_MODEL: Final = "claude-sonnet-4-5"
UPSTREAM_MODEL: Final = "gpt-5.5"
LONG_TOOL: Final = (
    "mcp__github_enterprise_server__create_or_update_file_contents_in_a_repository_branch"
)

JSON = dict[str, Any]


class Ids:
    """Deterministic ids: ``msg_1``, ``toolu_1``, ..."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def __call__(self, prefix: str) -> str:
        n = self.counts.get(prefix, 0) + 1
        self.counts[prefix] = n
        return f"{prefix}_{n}"


def tools() -> ToolNames:
    names = ToolNames()
    for name in ("Bash", "get_weather", LONG_TOOL):
        names.upstream(name)
    return names


def make_stream(*, thinking: bool = True) -> MessagesStream:
    return MessagesStream(
        model=CLIENT_MODEL,
        upstream_model=UPSTREAM_MODEL,
        tools=tools(),
        thinking=thinking,
        ids=Ids(),
    )


def golden(name: str) -> bytes:
    return (GOLDEN / f"{name}.sse").read_bytes()


def translate(stream: MessagesStream, chunks: Iterable[bytes]) -> list[ClientEvent]:
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


def shape(events: Sequence[ClientEvent]) -> list[str]:
    """``message_start``, ``start:text``, ``text_delta``, ``stop``, ``delta:end_turn``, ...
    (the event type, refined by the block, delta, stop reason or error type it carries)."""
    out: list[str] = []
    for e in events:
        data = json.loads(e.data)
        match e.event:
            case "content_block_start":
                out.append(f"start:{data['content_block']['type']}")
            case "content_block_delta":
                out.append(data["delta"]["type"])
            case "content_block_stop":
                out.append("stop")
            case "message_delta":
                out.append(f"delta:{data['delta']['stop_reason']}")
            case "error":
                out.append(f"error:{data['error']['type']}")
            case _:
                out.append(str(e.event))
    return out


START: Final = "message_start"
TEXT: Final = "start:text"
THINKING: Final = "start:thinking"
TOOL: Final = "start:tool_use"
TD: Final = "text_delta"
THD: Final = "thinking_delta"
SIG: Final = "signature_delta"
IJ: Final = "input_json_delta"
STOP: Final = "stop"
END: Final = "message_stop"


@dataclass(frozen=True)
class Golden:
    name: str
    shape: list[str]
    #: (type, text or input, extra) per content block of the final message.
    content: list[tuple[str, Any]]
    stop_reason: str | None
    usage: Usage | None = None
    thinking: bool = True
    skipped: int = 0
    signatures: list[Carried | None] = field(default_factory=list)


def usage(
    input: int, output: int, cache_read: int = 0, cache_write: int = 0, reasoning: int = 0
) -> Usage:
    return Usage(
        input=input,
        output=output,
        cache_read=cache_read,
        cache_write=cache_write,
        reasoning=reasoning,
    )


S1: Final = "**Checking the weather**\n\nThe user wants Paris weather."
S2: Final = "**Calling the tool**\n\nI will call get_weather."
ENC: Final = "gAAAAABo-encrypted-reasoning-0001=="
U_TEXT: Final = usage(25, 11, cache_read=12)  # input 37 of which 12 cached

GOLDENS: Final = [
    Golden(
        "text",
        [START, TEXT, TD, TD, TD, STOP, "delta:end_turn", END],
        [("text", "Hi there! 👋 Ça va?")],
        "end_turn",
        U_TEXT,
    ),
    Golden(
        "crlf",
        [START, TEXT, TD, TD, TD, STOP, "delta:end_turn", END],
        [("text", "Hi there! 👋 Ça va?")],
        "end_turn",
        U_TEXT,
    ),
    Golden(
        "reasoning_tool",
        [
            *[START, THINKING, THD, THD, THD, THD, SIG, STOP],  # the 3rd delta joins the parts
            *[TEXT, TD, STOP],
            *[TOOL, IJ, IJ, IJ, STOP],
            *["delta:tool_use", END],
        ],
        [
            ("thinking", f"{S1}\n\n{S2}"),
            ("text", "Let me check."),
            (
                "tool_use",
                (
                    "call_AbC123dEf456",
                    "get_weather",
                    {"location": "Paris, France", "unit": "celsius"},
                ),
            ),
        ],
        "tool_use",
        usage(412, 96, reasoning=64),
        signatures=[Carried("rs_0b1c2d3e4f5a60718293a4b5c6d7e8f9", ENC)],
    ),
    Golden(
        "reasoning_tool",
        [START, TEXT, TD, STOP, TOOL, IJ, IJ, IJ, STOP, "delta:tool_use", END],
        [
            ("text", "Let me check."),
            (
                "tool_use",
                (
                    "call_AbC123dEf456",
                    "get_weather",
                    {"location": "Paris, France", "unit": "celsius"},
                ),
            ),
        ],
        "tool_use",
        usage(412, 96, reasoning=64),
        thinking=False,
    ),
    Golden(
        "parallel_tools",
        [START, TOOL, IJ, STOP, TOOL, IJ, IJ, STOP, "delta:tool_use", END],
        [
            ("tool_use", ("call_one", "Bash", {"command": "ls -la"})),
            # The upstream called the shortened name: the client gets its own name back.
            ("tool_use", ("call_two", LONG_TOOL, {"path": "README.md"})),
        ],
        "tool_use",
        U_TEXT,
    ),
    Golden(
        "incomplete",
        [START, TEXT, TD, TD, STOP, "delta:max_tokens", END],
        [("text", "The first three primes are 2, 3 and")],
        "max_tokens",
        usage(20, 16),
    ),
    Golden("content_filter", [START, "delta:refusal", END], [], "refusal", usage(20, 16)),
    Golden(
        "refusal",
        [START, TEXT, TD, TD, STOP, "delta:refusal", END],
        [("text", "I'm sorry, I can't help with that.")],
        "refusal",
        U_TEXT,
    ),
    Golden(
        "failed",
        # The half-streamed block is never stopped, and there is no message_stop.
        [START, TEXT, TD, "error:rate_limit_error"],
        [],
        None,
    ),
    Golden("error_event", [START, "error:overloaded_error"], [], None),
    Golden("truncated", [START, TEXT, TD, "error:api_error"], [], None),
    Golden(
        "unknown_types",
        [START, TEXT, TD, STOP, "delta:end_turn", END],
        [("text", "It is sunny in Paris.")],
        "end_turn",
        U_TEXT,
        # the web_search_call item, its 3 events, the annotation, the future event
        skipped=6,
    ),
    Golden(
        "done_only",
        [START, TEXT, TD, STOP, TOOL, IJ, STOP, "delta:tool_use", END],
        [("text", "Running it now."), ("tool_use", ("call_three", "Bash", {"command": "date"}))],
        "tool_use",
        U_TEXT,
    ),
    Golden(
        "multi_part",
        [START, TEXT, TD, STOP, TEXT, TD, STOP, "delta:end_turn", END],
        [("text", "First part."), ("text", "Second part.")],
        "end_turn",
        U_TEXT,
    ),
    Golden(
        "completed_only",
        # A server that sends no item events, only the final Response: presented whole.
        [START, THINKING, THD, SIG, STOP, TEXT, TD, STOP, TOOL, IJ, STOP, "delta:tool_use", END],
        [
            ("thinking", "Use the shell."),
            ("text", "Listing files."),
            ("tool_use", ("call_whole", "Bash", {"command": "ls"})),
        ],
        "tool_use",
        U_TEXT,
        signatures=[Carried("rs_whole", "enc-whole")],
    ),
    Golden(
        "reasoning_text",
        [START, THINKING, THD, THD, SIG, STOP, TEXT, TD, STOP, "delta:end_turn", END],
        [("thinking", "We need 6*7 = 42."), ("text", "42")],
        "end_turn",
        U_TEXT,
        # No encrypted_content: the signature carries the id only, and the item is not replayed.
        signatures=[Carried("rs_raw0001", None)],
    ),
]


def _id(g: Golden) -> str:
    return f"{g.name}{'' if g.thinking else '-no-thinking'}"


def summarize(content: list[JSON]) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for block in content:
        t = block["type"]
        if t == "text":
            out.append((t, block["text"]))
        elif t == "thinking":
            out.append((t, block["thinking"]))
        else:
            out.append((t, (block["id"], block["name"], block["input"])))
    return out


@pytest.mark.parametrize("g", GOLDENS, ids=_id)
def test_golden(g: Golden) -> None:
    stream = make_stream(thinking=g.thinking)
    events = translate(stream, [golden(g.name)])
    assert shape(events) == g.shape
    checked = check_messages_sse(frame(events))
    assert stream.done
    assert stream.skipped == g.skipped
    assert stream.usage == g.usage
    start = json.loads(events[0].data)["message"]
    assert start["model"] == CLIENT_MODEL
    assert start["id"] == "msg_1"
    if g.stop_reason is None:
        assert checked.terminal == "error"
        assert stream.error is not None
        assert stream.final is None
        return
    assert stream.error is None
    assert checked.stop_reason == g.stop_reason
    assert stream.final is not None
    final = json.loads(encode_out(stream.final))
    assert summarize(final["content"]) == g.content
    assert final["stop_reason"] == g.stop_reason
    assert final["model"] == CLIENT_MODEL
    # What was streamed is what the non-streaming reply holds.
    streamed = [
        ("text", b.text)
        if b.type == "text"
        else ("thinking", b.text)
        if b.type == "thinking"
        else ("tool_use", (b.start["id"], b.start["name"], json.loads(b.partial_json or "{}")))
        for b in checked.blocks
    ]
    assert streamed == g.content
    signatures = [b["signature"] for b in final["content"] if b["type"] == "thinking"]
    assert [open_signature(s, UPSTREAM_MODEL) for s in signatures] == g.signatures
    delta = json.loads(events[-2].data)
    assert delta["usage"]["input_tokens"] == (g.usage.input if g.usage else 0)
    assert delta["usage"]["output_tokens"] == (g.usage.output if g.usage else 0)
    assert delta["usage"]["cache_read_input_tokens"] == (g.usage.cache_read if g.usage else 0)


def test_failed_keeps_the_upstream_error() -> None:
    stream = make_stream()
    translate(stream, [golden("failed")])
    err = stream.error
    assert isinstance(err, UpstreamStatusError)
    assert err.error_type == "rate_limit_exceeded"
    assert err.upstream_status == 429
    assert err.in_stream
    assert "Please try again in 1.2s." in err.message


def test_truncated_is_a_protocol_error() -> None:
    stream = make_stream()
    events = translate(stream, [golden("truncated")])
    assert isinstance(stream.error, UpstreamProtocolError)
    assert "before its terminal event" in json.loads(events[-1].data)["error"]["message"]


def _reference(g: Golden) -> bytes:
    return frame(translate(make_stream(thinking=g.thinking), [golden(g.name)]))


@pytest.mark.parametrize("g", GOLDENS, ids=_id)
def test_golden_byte_by_byte(g: Golden) -> None:
    raw = golden(g.name)
    chunks = [raw[i : i + 1] for i in range(len(raw))]
    assert frame(translate(make_stream(thinking=g.thinking), chunks)) == _reference(g)


@settings(max_examples=25, deadline=None)
@given(data=st.data())
@pytest.mark.parametrize("g", GOLDENS, ids=_id)
def test_golden_random_splits(g: Golden, data: st.DataObject) -> None:
    raw = golden(g.name)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(raw)), max_size=40)))
    chunks = [raw[a:b] for a, b in zip([0, *cuts], [*cuts, len(raw)], strict=True)]
    assert frame(translate(make_stream(thinking=g.thinking), chunks)) == _reference(g)


# -- the protocol, event by event -----------------------------------------------------------------


def ev(data: JSON) -> SSEEvent:
    return SSEEvent(event=str(data["type"]), data=json.dumps(data))


def test_heartbeat_before_the_first_event_opens_the_message() -> None:
    stream = make_stream()
    assert shape(stream.heartbeat()) == [START, "ping"]
    assert shape(stream.heartbeat()) == ["ping"]
    out = translate(stream, [golden("text")])
    assert START not in shape(out)  # opened once
    assert stream.heartbeat() == []


def test_heartbeat_between_deltas_is_a_ping() -> None:
    stream = make_stream()
    decoder = SSEDecoder()
    events = decoder.feed(golden("text"))
    out: list[ClientEvent] = []
    for e in events[:5]:
        out.extend(stream.feed(e))
    out.extend(stream.heartbeat())
    for e in events[5:]:
        out.extend(stream.feed(e))
    assert shape(out)[:4] == [START, TEXT, TD, "ping"]
    check_messages_sse(frame(out))


def test_fail_mid_block_ends_with_error_and_no_message_stop() -> None:
    stream = make_stream()
    decoder = SSEDecoder()
    out: list[ClientEvent] = []
    for e in decoder.feed(golden("reasoning_tool"))[:6]:
        out.extend(stream.feed(e))
    out.extend(stream.fail(UpstreamTimeout("the upstream sent nothing for 300 seconds")))
    assert shape(out) == [START, THINKING, THD, THD, "error:timeout_error"]
    check_messages_sse(frame(out))
    assert stream.fail(UpstreamTimeout("again")) == []
    assert stream.close() == []
    with pytest.raises(RuntimeError, match="after the terminal event"):
        stream.feed(ev({"type": "response.completed", "response": {}}))


def test_nameless_events_are_read_by_their_type() -> None:
    stream = make_stream()
    decoder = SSEDecoder()
    out: list[ClientEvent] = []
    for e in decoder.feed(golden("text")):
        out.extend(stream.feed(SSEEvent(event="message", data=e.data)))
    assert shape(out)[-1] == END


def test_unreadable_event_fails_the_stream() -> None:
    stream = make_stream()
    out = stream.feed(SSEEvent(event="response.output_text.delta", data="{not json"))
    assert shape(out) == [START, "error:api_error"]
    assert isinstance(stream.error, UpstreamProtocolError)


def test_repr_names_the_state() -> None:
    stream = make_stream()
    decoder = SSEDecoder()
    for e in decoder.feed(golden("text"))[:5]:
        stream.feed(e)
    assert repr(stream) == (
        "MessagesStream(phase='open', blocks=1, open_block=(0, 'text'), items=1, "
        "stop_reason=None, skipped=0)"
    )


def test_in_stream_errors_map_to_anthropic_types() -> None:
    cases = {
        "rate_limit_exceeded": "rate_limit_error",
        "insufficient_quota": "billing_error",
        "server_is_overloaded": "overloaded_error",
        "slow_down": "overloaded_error",
        "context_length_exceeded": "invalid_request_error",
        "invalid_prompt": "invalid_request_error",
        "invalid_image_url": "invalid_request_error",
        "server_error": "api_error",
        "vector_store_timeout": "api_error",
    }
    for code, etype in cases.items():
        stream = make_stream()
        failed = {"code": code, "message": "boom"}
        out = stream.feed(ev({"type": "response.failed", "response": {"error": failed}}))
        error = json.loads(out[-1].data)["error"]
        assert error["type"] == etype, code
    stream = make_stream()
    ctx = {"code": "context_length_exceeded", "message": "Your input exceeds the context window."}
    out = stream.feed(ev({"type": "response.failed", "response": {"error": ctx}}))
    # Claude Code compacts the conversation on Anthropic's wording.
    assert json.loads(out[-1].data)["error"]["message"].startswith("prompt is too long: ")


def test_a_mangled_tool_call_is_never_handed_out() -> None:
    # A broken upstream repeats an arguments delta: the concatenation is not JSON any more.
    stream = make_stream()
    decoder = SSEDecoder()
    events = decoder.feed(golden("parallel_tools"))
    fed = [*events[:4], events[3], *events[4:]]  # the first call's delta twice
    out = translate_events(stream, fed)
    assert shape(out) == [START, TOOL, IJ, IJ, "error:api_error"]
    assert "are not a JSON object" in json.loads(out[-1].data)["error"]["message"]
    check_messages_sse(frame(out))


def test_a_tool_call_cut_by_the_output_limit_is_presented_as_cut() -> None:
    # Like Anthropic: the partial input stays, with stop_reason max_tokens.
    stream = make_stream()
    decoder = SSEDecoder()
    events = decoder.feed(golden("reasoning_tool"))
    cut = [e for e in events if e.event not in ("response.completed",)][:-3]  # mid-arguments
    incomplete = {
        "type": "response.incomplete",
        "response": {"incomplete_details": {"reason": "max_output_tokens"}, "usage": None},
    }
    out = translate_events(stream, [*cut, ev(incomplete)])
    assert shape(out)[-6:] == [TOOL, IJ, IJ, STOP, "delta:max_tokens", END]
    assert stream.final is not None
    assert stream.final.content[-1] == ToolUseBlockOut(
        id="call_AbC123dEf456", name="get_weather", input={}
    )
    check_messages_sse(frame(out))


def translate_events(stream: MessagesStream, events: Iterable[SSEEvent]) -> list[ClientEvent]:
    out: list[ClientEvent] = []
    for e in events:
        out.extend(stream.feed(e))
        if stream.done:
            return out
    out.extend(stream.close())
    return out
