"""Golden upstream streams through ``ChatStream``.

The inputs are the raw Anthropic Messages streams of ``tests/routes/claude2codex/golden`` (written
after https://docs.claude.com/en/api/messages-streaming). Each is decoded with ``SSEDecoder``,
translated, closed at EOF exactly as the handler does, and the client events are checked three
ways: against chunk sequences written by hand below (from the Chat Completions streaming
reference: role first, content / tool_calls deltas, one finish chunk, the usage chunk with empty
``choices`` when asked, ``[DONE]``), against openai-python's own ``ChatCompletionChunk`` model,
and through openai-python's ``ChatCompletionStreamState`` (what ``chat.completions.stream``
uses), whose accumulated completion must equal the translator's own ``final``.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Final

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openai.lib.streaming.chat import ChatCompletionStreamState
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from llmproxy.contract import ClientEvent, Usage
from llmproxy.envelope import Envelope
from llmproxy.errors import UpstreamStatusError, UpstreamTimeout
from llmproxy.sse import SSEDecoder, encode_event
from routes.claude2chat.stream import REFUSED, ChatStream
from routes.claude2chat.tools import ChatTools

GOLDEN: Final = Path(__file__).parents[1] / "claude2codex" / "golden"
UPSTREAM_MODEL: Final = "claude-sonnet-4-5-20250929"
CLIENT_MODEL: Final = "gpt-4o"
CREATED: Final = 1_767_225_600
ID: Final = "chatcmpl-test"
KEY: Final = "k"

JSON = dict[str, Any]


def tools() -> ChatTools:
    t = ChatTools()
    for i, name in enumerate(["get_weather", "shell", "apply_patch", "github__create_issue"]):
        t.add({"type": "function", "function": {"name": name, "parameters": {}}}, f"tools[{i}]")
    return t


def make_stream(*, include_usage: bool = True) -> ChatStream:
    return ChatStream(
        model=CLIENT_MODEL,
        created=CREATED,
        tools=tools(),
        envelope=Envelope(KEY),
        upstream_model=UPSTREAM_MODEL,
        include_usage=include_usage,
        completion_id=ID,
    )


def golden(name: str) -> bytes:
    return (GOLDEN / f"{name}.sse").read_bytes()


def translate(stream: ChatStream, chunks: Iterable[bytes]) -> list[ClientEvent]:
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


def unseal(value: Any) -> Any:
    """Envelopes are sealed with a random nonce: compare what they open to instead."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if k in ("signature", "data") and isinstance(v, str) and v.startswith("llmp1."):
                out[k] = {"opened": Envelope(KEY).open(v, UPSTREAM_MODEL)}
            else:
                out[k] = unseal(v)
        return out
    if isinstance(value, list):
        return [unseal(v) for v in value]
    return value


DONE: Final = ("done",)


def shape(events: Sequence[ClientEvent]) -> list[tuple[Any, ...]]:
    """Each client event as ("delta", delta) / ("finish", reason) / ("usage", usage) /
    ("error", error) / DONE, after checking the envelope every chunk shares."""
    out: list[tuple[Any, ...]] = []
    for e in events:
        assert e.event is None  # Chat Completions streams name no events
        if e.data == b"[DONE]":
            out.append(DONE)
            continue
        obj = json.loads(e.data)
        if "error" in obj:
            assert set(obj) == {"error"}
            out.append(("error", obj["error"]))
            continue
        assert obj["id"] == ID
        assert obj["object"] == "chat.completion.chunk"
        assert obj["created"] == CREATED
        assert obj["model"] == CLIENT_MODEL
        if not obj["choices"]:
            out.append(("usage", obj["usage"]))
            continue
        assert "usage" not in obj
        (choice,) = obj["choices"]
        assert choice["index"] == 0
        assert choice["logprobs"] is None
        if choice["finish_reason"] is not None:
            assert choice["delta"] == {}
            out.append(("finish", choice["finish_reason"]))
        else:
            out.append(("delta", unseal(choice["delta"])))
    return out


# -- expected chunks, by hand ---------------------------------------------------------------------

ROLE: Final = ("delta", {"role": "assistant", "content": ""})


def content(text: str) -> tuple[str, JSON]:
    return ("delta", {"content": text})


def think(index: int, text: str) -> tuple[str, JSON]:
    fragment = {"type": "thinking", "thinking": text, "index": index}
    return ("delta", {"reasoning_content": text, "thinking_blocks": [fragment]})


def signed(index: int, text: str, signature: str) -> tuple[str, JSON]:
    """The fragment closing thinking block ``index``: its sealed exact upstream block."""
    block = {"type": "thinking", "thinking": text, "signature": signature}
    entry = {"type": "thinking", "thinking": "", "signature": {"opened": [block]}, "index": index}
    return ("delta", {"thinking_blocks": [entry]})


def redacted(index: int, data: str) -> tuple[str, JSON]:
    block = {"type": "redacted_thinking", "data": data}
    entry = {"type": "redacted_thinking", "data": {"opened": [block]}, "index": index}
    return ("delta", {"thinking_blocks": [entry]})


def call(index: int, call_id: str, name: str) -> tuple[str, JSON]:
    function = {"name": name, "arguments": ""}
    entry = {"index": index, "id": call_id, "type": "function", "function": function}
    return ("delta", {"tool_calls": [entry]})


def args(index: int, fragment: str) -> tuple[str, JSON]:
    return ("delta", {"tool_calls": [{"index": index, "function": {"arguments": fragment}}]})


def finish(reason: str) -> tuple[str, str]:
    return ("finish", reason)


def usage(
    uncached: int, cache_read: int, cache_write: int, output: int, reasoning: int = 0
) -> tuple[str, JSON]:
    prompt = uncached + cache_read + cache_write
    return (
        "usage",
        {
            "prompt_tokens": prompt,
            "completion_tokens": output,
            "total_tokens": prompt + output,
            "prompt_tokens_details": {
                "cached_tokens": cache_read,
                "cache_write_tokens": cache_write,
            },
            "completion_tokens_details": {"reasoning_tokens": reasoning},
        },
    )


def error(etype: str, code: str) -> tuple[str, str, str]:
    return ("error", etype, code)


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
GCD: Final = (
    "The user asks for the GCD of 1071 and 462.",
    " Euclid: 1071 = 2 × 462 + 147; 462 = 3 × 147 + 21;",
    " 147 = 7 × 21 + 0. So the GCD is 21.",
)
PATCH: Final = (
    "*** Begin Patch\n"
    "*** Update File: src/app.py\n"
    "@@ def main():\n"
    '-    print("hi")\n'
    '+    print("hello é")\n'
    "*** End Patch\n"
)
#: The apply_patch call's argument fragments, passed through as the upstream cut them.
PATCH_FRAGMENTS: Final = (
    '{"input": "*** Begin Patch\\',
    'n*** Update File: src/app.py\\n@@ def main():\\n-    print(\\"hi\\")\\',
    'n+    print(\\"hello \\u00e9\\")\\n*** End Patch\\n"}',
)
CONSIDER: Final = "Let me consider the request carefully."


@dataclass(frozen=True)
class Golden:
    name: str
    chunks: list[tuple[Any, ...]]
    skipped: int = 0
    include_usage: bool = True


GOLDENS: Final = [
    Golden(
        "text_ping",
        [
            ROLE,
            content("Hello"),
            content("!"),
            content(" Ça va? 👋"),
            finish("stop"),
            usage(25, 2048, 1024, 15),
            DONE,
        ],
    ),
    Golden(
        "text_ping",
        [ROLE, content("Hello"), content("!"), content(" Ça va? 👋"), finish("stop"), DONE],
        include_usage=False,
    ),
    Golden(
        "tool_use",
        [
            ROLE,
            content("Okay, let's check"),
            content(" the weather for San Francisco, CA:"),
            # the first input_json_delta fragment is "": no delta for it
            call(0, "toolu_01T1x1fJ34qAmk2tNTrN7Up6", "get_weather"),
            args(0, '{"location":'),
            args(0, ' "San'),
            args(0, " Francisc"),
            args(0, "o,"),
            args(0, ' CA"'),
            args(0, ", "),
            args(0, '"unit": "fah'),
            args(0, 'renheit"}'),
            finish("tool_calls"),
            usage(472, 0, 0, 89),
            DONE,
        ],
    ),
    Golden(
        "thinking",
        [
            ROLE,
            think(0, GCD[0]),
            think(0, GCD[1]),
            think(0, GCD[2]),
            signed(0, "".join(GCD), SIG1),
            content("The greatest common divisor of 1071 and 462 is "),
            content("**21**."),
            finish("stop"),
            usage(36, 3560, 0, 259, reasoning=198),
            DONE,
        ],
    ),
    Golden(
        "redacted_thinking",
        [
            ROLE,
            think(0, CONSIDER),
            signed(0, CONSIDER, SIG2),
            redacted(1, REDACTED),
            content("I can't share those details, but here is a safe summary."),
            finish("stop"),
            usage(412, 0, 1893, 142),
            DONE,
        ],
    ),
    Golden(
        # server_tool_use and web_search_tool_result are not presented; the text around them is
        # one content string.
        "web_search",
        [
            ROLE,
            content("I'll check"),
            content(" the current weather in New York City for you."),
            content("It is partly cloudy with a high of 68°F"),
            content(" and a light breeze."),
            finish("stop"),
            usage(10682, 0, 0, 510),  # message_delta's cumulative input_tokens override
            DONE,
        ],
        skipped=3,  # two block starts and one citations_delta
    ),
    Golden(
        "max_tokens",
        [
            ROLE,
            content("Once upon a time"),
            content(", in a kingdom by"),
            content(" the sea, there"),
            finish("length"),
            usage(12, 4096, 0, 16),
            DONE,
        ],
    ),
    Golden(
        # A call cut mid-JSON by max_tokens: as OpenAI does, the client sees the partial
        # arguments and finish_reason "length".
        "max_tokens_tool",
        [
            ROLE,
            content("Let me look at the file."),
            call(0, "toolu_01VvQh4NZ3yEo6uTTB1Vx9qS", "shell"),
            args(0, '{"command": ["bash", "-lc", '),
            args(0, '"cat READ'),
            finish("length"),
            usage(880, 12000, 0, 64),
            DONE,
        ],
    ),
    Golden(
        # stop_details.explanation is null: the refusal says so in the gateway's words.
        "refusal",
        [
            ROLE,
            content("I can explain how"),
            content(" this class of exploit"),
            ("delta", {"refusal": REFUSED}),
            finish("content_filter"),
            usage(58, 0, 0, 9),
            DONE,
        ],
    ),
    Golden(
        # overloaded_error inside the stream: the error object openai-python raises on, and
        # no [DONE].
        "error_overloaded",
        [
            ROLE,
            content("Here is the first"),
            content(" part of the"),
            error("server_error", "server_is_overloaded"),
        ],
    ),
    Golden(
        # EOF inside an event while a call streams.
        "truncated",
        [
            ROLE,
            content("Checking Paris."),
            call(0, "toolu_01Lp5ZKmq8XyGdNWvE3hT7aR", "get_weather"),
            args(0, '{"location": "Par'),
            error("server_error", "upstream_protocol_error"),
        ],
    ),
    Golden(
        "parallel_tools",
        [
            ROLE,
            content("I'll check the weather and file the issue."),
            call(0, "toolu_01A09q90qw90lq917835lq9", "get_weather"),
            args(0, '{"location": "Paris, France"'),
            args(0, ', "unit": "celsius"}'),
            call(1, "toolu_01B7RxYz3kVdM2Lq8PcNf6Ht", "github__create_issue"),
            args(1, '{"repo": "acme/app", '),
            args(1, '"title": "Weather widget shows °F", '),
            args(1, '"labels": ["bug"]}'),
            finish("tool_calls"),
            usage(640, 1536, 0, 121),
            DONE,
        ],
    ),
    Golden(
        # thinking, a call, thinking again (interleaved), then text. The two thinking texts are
        # one reasoning_content with a paragraph break; each block is its own thinking_blocks
        # entry. A call was made, so the finish is tool_calls although the upstream said
        # end_turn.
        "interleaved",
        [
            ROLE,
            think(0, "The greeting should be friendlier;"),
            think(0, " I'll patch main()."),
            signed(0, "The greeting should be friendlier; I'll patch main().", SIG1),
            call(0, "toolu_01C4pQr8sTu2vWx6yZa0bCd3", "apply_patch"),
            *[args(0, f) for f in PATCH_FRAGMENTS],
            ("delta", {"reasoning_content": "\n\n"}),
            think(1, "Patch prepared; now tell the user."),
            signed(1, "Patch prepared; now tell the user.", SIG2),
            content("I updated `main()` to print a friendlier greeting."),
            finish("tool_calls"),
            usage(2048, 8192, 512, 333, reasoning=120),
            DONE,
        ],
    ),
    Golden(
        "crlf",
        [
            ROLE,
            content("Line one\n"),
            content("line two"),
            finish("stop"),  # stop_sequence
            usage(10, 0, 0, 6),
            DONE,
        ],
    ),
    Golden(
        "unknown_types",
        [ROLE, content("Still"), content(" here."), finish("stop"), usage(20, 0, 0, 4), DONE],
        skipped=2,  # the unknown event and the unknown delta
    ),
]
NAMES: Final = sorted({g.name for g in GOLDENS})
CASES: Final = [
    pytest.param(g, id=g.name + ("" if g.include_usage else "-no-usage")) for g in GOLDENS
]


def test_every_golden_file_has_expectations() -> None:
    assert sorted(p.stem for p in GOLDEN.glob("*.sse")) == NAMES


def test_patch_fragments_are_the_patch() -> None:
    assert json.loads("".join(PATCH_FRAGMENTS)) == {"input": PATCH}


@pytest.mark.parametrize("case", CASES)
def test_golden(case: Golden) -> None:
    stream = make_stream(include_usage=case.include_usage)
    events = translate(stream, [golden(case.name)])
    got = shape(events)
    assert stream.done
    assert stream.skipped == case.skipped
    want_error = case.chunks[-1][0] == "error"
    if want_error:
        assert got[:-1] == case.chunks[:-1]
        kind, err = got[-1]
        assert kind == "error"
        assert (err["type"], err["code"]) == case.chunks[-1][1:]
        assert err["message"]
        assert stream.error is not None
        assert stream.final is None
    else:
        assert got == case.chunks
        assert stream.error is None
        assert stream.final is not None

    # The stream is over: EOF and failures add nothing, feeding is a bug.
    assert stream.close() == []
    assert stream.fail(UpstreamTimeout("late")) == []
    assert stream.heartbeat() == []


@pytest.mark.parametrize("case", CASES)
def test_openai_python_parses_every_chunk_and_accumulates_the_final(case: Golden) -> None:
    """What ``chat.completions.stream()`` does with the chunks equals the non-streaming reply."""
    stream = make_stream(include_usage=case.include_usage)
    state: ChatCompletionStreamState[Any] = ChatCompletionStreamState()
    for e in translate(stream, [golden(case.name)]):
        if e.data == b"[DONE]" or b'"error"' in e.data[:9]:
            continue
        state.handle_chunk(ChatCompletionChunk.model_validate_json(e.data))
    if stream.final is None:
        return  # failed: no final to compare (test_golden checks the error)
    final = ChatCompletion.model_validate_json(msgspec.json.encode(stream.final))
    # get_final_completion() refuses a "length" finish (it parses); the snapshot is the same
    # accumulation.
    accumulated = state.current_completion_snapshot
    assert final.id == accumulated.id == ID
    got, want = accumulated.choices[0], final.choices[0]
    assert got.finish_reason == want.finish_reason
    # The role chunk says content "" before anyone knows whether text follows.
    assert (got.message.content or None) == want.message.content
    assert got.message.refusal == want.message.refusal
    assert [
        (c.id, c.function.name, c.function.arguments) for c in got.message.tool_calls or []
    ] == [
        (c.id, c.function.name, c.function.arguments)  # type: ignore[union-attr]
        for c in want.message.tool_calls or []
    ]
    extra_got = got.message.model_extra or {}
    extra_want = want.message.model_extra or {}
    assert extra_got.get("reasoning_content") == extra_want.get("reasoning_content")
    # Streamed fragments carry their index; otherwise the blocks are the same.
    blocks = [
        {k: v for k, v in b.items() if k != "index"} for b in extra_got.get("thinking_blocks", [])
    ]
    assert unseal(blocks) == unseal(extra_want.get("thinking_blocks", []))
    if case.include_usage:
        assert accumulated.usage == final.usage


def test_final_message_fields() -> None:
    stream = make_stream()
    translate(stream, [golden("interleaved")])
    assert stream.final is not None
    body = unseal(json.loads(msgspec.json.encode(stream.final)))
    assert body["object"] == "chat.completion"
    assert body["model"] == CLIENT_MODEL
    assert body["created"] == CREATED
    (choice,) = body["choices"]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["logprobs"] is None
    message = choice["message"]
    assert message["role"] == "assistant"
    assert message["content"] == "I updated `main()` to print a friendlier greeting."
    assert message["refusal"] is None
    first = "The greeting should be friendlier; I'll patch main()."
    second = "Patch prepared; now tell the user."
    assert message["reasoning_content"] == f"{first}\n\n{second}"
    assert message["thinking_blocks"] == [
        {
            "type": "thinking",
            "thinking": first,
            "signature": {"opened": [{"type": "thinking", "thinking": first, "signature": SIG1}]},
        },
        {
            "type": "thinking",
            "thinking": second,
            "signature": {"opened": [{"type": "thinking", "thinking": second, "signature": SIG2}]},
        },
    ]
    (tc,) = message["tool_calls"]
    assert tc == {
        "id": "toolu_01C4pQr8sTu2vWx6yZa0bCd3",
        "type": "function",
        "function": {"name": "apply_patch", "arguments": "".join(PATCH_FRAGMENTS)},
    }
    assert body["usage"]["prompt_tokens"] == 2048 + 8192 + 512
    assert stream.usage == Usage(
        input=2048, output=333, cache_read=8192, cache_write=512, reasoning=120
    )


def test_tool_calls_only_message_has_null_content() -> None:
    stream = make_stream()
    raw = (
        golden("tool_use")
        .replace(b'"text":"Okay, let\'s check"', b'"text":""')
        .replace(b'"text":" the weather for San Francisco, CA:"', b'"text":""')
    )
    translate(stream, [raw])
    assert stream.final is not None
    message = stream.final.choices[0].message
    assert message.content is None
    assert message.tool_calls is not None


def test_sealed_thinking_is_bound_to_key_and_model() -> None:
    stream = make_stream()
    translate(stream, [golden("thinking")])
    assert stream.final is not None
    (entry,) = stream.final.choices[0].message.thinking_blocks or []
    token = getattr(entry, "signature", None)
    block = {"type": "thinking", "thinking": "".join(GCD), "signature": SIG1}
    assert Envelope(KEY).open(token, UPSTREAM_MODEL) == [block]
    assert Envelope("another key").open(token, UPSTREAM_MODEL) is None
    assert Envelope(KEY).open(token, "claude-opus-4-1") is None


# -- chunk boundaries mean nothing (STYLE.md habit 3) ------------------------------------------


@cache
def whole(name: str) -> list[tuple[Any, ...]]:
    return shape(translate(make_stream(), [golden(name)]))


@pytest.mark.parametrize("name", NAMES)
def test_byte_by_byte(name: str) -> None:
    raw = golden(name)
    assert shape(translate(make_stream(), (raw[i : i + 1] for i in range(len(raw))))) == whole(name)


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_random_splits(name: str, data: st.DataObject) -> None:
    raw = golden(name)
    cuts = sorted(data.draw(st.sets(st.integers(1, len(raw) - 1), max_size=24), label="cuts"))
    bounds = [0, *cuts, len(raw)]
    chunks = [raw[a:b] for a, b in itertools.pairwise(bounds)]
    assert shape(translate(make_stream(), chunks)) == whole(name)


# -- heartbeats, failures, misuse ------------------------------------------------------------------


def test_heartbeat_before_any_event_opens_the_stream() -> None:
    stream = make_stream()
    assert shape(stream.heartbeat()) == [ROLE]
    assert stream.phase == "open"
    # the role chunk is not repeated when the upstream's first event arrives
    rest = shape(translate(stream, [golden("text_ping")]))
    assert rest == [c for c in whole("text_ping") if c != ROLE]


@pytest.mark.parametrize("name", NAMES)
def test_heartbeat_between_every_upstream_event(name: str) -> None:
    """Keep-alive chunks (empty deltas) never change what the client assembles."""
    stream = make_stream()
    decoder = SSEDecoder()
    events = decoder.feed(golden(name)) + decoder.close()
    out: list[ClientEvent] = []
    for ev in events:
        out.extend(stream.feed(ev))
        if stream.done:
            break
        beat = stream.heartbeat()
        assert shape(beat) == [("delta", {})]
        out.extend(beat)
    else:
        out.extend(stream.close())
    assert [c for c in shape(out) if c != ("delta", {})] == whole(name)


def test_feed_after_done_raises() -> None:
    stream = make_stream()
    translate(stream, [golden("text_ping")])
    decoder = SSEDecoder()
    (first, *_) = decoder.feed(golden("text_ping"))
    with pytest.raises(RuntimeError):
        stream.feed(first)


def test_failure_before_anything_was_sent_emits_nothing() -> None:
    """The core then answers with an HTTP error in OpenAI's shape (status, Retry-After)."""
    stream = make_stream()
    err = UpstreamStatusError("Overloaded", upstream_status=529, error_type="overloaded_error")
    assert stream.fail(err) == []
    assert stream.done
    assert stream.error is err


def test_error_event_first_emits_nothing() -> None:
    stream = make_stream()
    error = {"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}}
    raw = b"event: error\ndata: " + json.dumps(error).encode() + b"\n\n"
    assert translate(stream, [raw]) == []
    assert isinstance(stream.error, UpstreamStatusError)
    assert stream.error.upstream_status == 429


def test_fail_mid_thinking_never_hands_out_an_unsigned_block() -> None:
    stream = make_stream()
    raw = golden("thinking")
    cut = raw.index(b"event: content_block_delta", raw.index(GCD[2].encode()))
    out = translate(stream, [raw[:cut]])  # EOF before the signature
    got = shape(out)
    assert got[:-1] == [ROLE, think(0, GCD[0]), think(0, GCD[1]), think(0, GCD[2])]
    assert got[-1][0] == "error"
    assert not any("signature" in json.dumps(c) for c in got)


def test_repr_names_the_state() -> None:
    stream = make_stream()
    translate(stream, [golden("parallel_tools")])
    text = repr(stream)
    assert "phase='done'" in text
    assert "calls=2" in text
    assert "finish_reason='tool_calls'" in text


def test_frames_are_plain_data_lines() -> None:
    events = translate(make_stream(), [golden("text_ping")])
    framed = b"".join(encode_event(e.data, e.event) for e in events)
    assert framed.endswith(b"data: [DONE]\n\n")
    assert b"event:" not in framed
