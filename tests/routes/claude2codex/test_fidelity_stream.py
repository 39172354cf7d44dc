"""Full-fidelity stream translation: web search calls and citations, client-run tool search and
local shell calls, and a paused turn continued into one response. The upstream streams are the
strict fake's own (``stream_events``, Anthropic's documented shapes); every client stream passes
the Responses lifecycle checker, whole and split at every byte."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest

from llmproxy.contract import ClientEvent, UpstreamRequest
from llmproxy.sse import SSEDecoder, encode_event
from routes.claude2codex.reasoning import Envelope
from routes.claude2codex.request import Echo
from routes.claude2codex.stream import ResponsesStream, ResponseTemplate
from routes.claude2codex.tools import ToolMap
from tests.support.fake_anthropic import (
    Block,
    Reply,
    Signer,
    server_tool_use,
    sse_frame,
    stream_events,
    text,
    thinking,
    tool_use,
    web_citation,
    web_search_result,
)
from tests.support.lifecycle import check_responses_sse

JSON = dict[str, Any]
URL = "https://www.python.org/downloads/release/python-3130/"
TITLE = "Python Release Python 3.13.0"
ANSWER = "Python 3.13 was released on 7 October 2024."


class Ids:
    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def __call__(self, prefix: str) -> str:
        self.counts[prefix] = self.counts.get(prefix, 0) + 1
        return f"{prefix}_{self.counts[prefix]}"


def tools() -> ToolMap:
    tm = ToolMap()
    tm.add({"type": "web_search"}, "tools[0]")
    tm.add(
        {"type": "tool_search", "execution": "client", "parameters": {"type": "object"}},
        "tools[1]",
    )
    tm.add({"type": "local_shell"}, "tools[2]")
    tm.add({"type": "function", "name": "get_weather", "parameters": None}, "tools[3]")
    return tm


def make(*, sources: bool = False, resume: Any = None) -> ResponsesStream:
    echo = msgspec.json.decode(b"{}", type=Echo)
    return ResponsesStream(
        ResponseTemplate(model="gpt-5", created_at=1, echo=echo, search_sources=sources),
        tools(),
        Envelope("k"),
        "claude-sonnet-4-5",
        summaries=False,
        ids=Ids(),
        clock=lambda: 2.0,
        resume=resume,
    )


def raw(reply: Reply, signer: Signer | None = None) -> bytes:
    events = stream_events(
        reply, "claude-sonnet-4-5", signer or Signer(), chunk_size=9, msg_id="msg_x"
    )
    return b"".join(sse_frame(name, data) for name, data in events)


def run(stream: ResponsesStream, data: bytes, *, close: bool = True, step: int = 0) -> bytes:
    """Feed ``data`` (in ``step``-byte chunks, whole if 0) and EOF, as the handler does."""
    decoder = SSEDecoder()
    out: list[ClientEvent] = []
    chunks = [data[i : i + step] for i in range(0, len(data), step)] if step else [data]
    for chunk in chunks:
        for ev in decoder.feed(chunk):
            if not stream.done:
                out.extend(stream.feed(ev))
    for ev in decoder.close():
        if not stream.done:
            out.extend(stream.feed(ev))
    if close and not stream.done and not stream.paused:
        out.extend(stream.close())
    return b"".join(encode_event(e.data, e.event) for e in out)


def search_reply() -> Reply:
    search = server_tool_use("python 3.13 release date", id="srvtoolu_01")
    return Reply(
        [
            text("Let me look that up."),
            search,
            web_search_result("srvtoolu_01", [(URL, TITLE), ("https://x.example/", "X")]),
            text(ANSWER, citations=[web_citation(URL, TITLE, "3.13.0 on Oct. 7, 2024")] * 2),
            text(" Enjoy."),
        ]
    )


def test_web_search_becomes_a_web_search_call_and_citations_annotations() -> None:
    events = check_responses_sse(run(make(), raw(search_reply())))
    types = [e["type"] for e in events]
    assert types == [
        "response.created",
        "response.in_progress",
        *["response.output_item.added", "response.content_part.added"],
        *["response.output_text.delta"] * 3,
        *["response.output_text.done", "response.content_part.done", "response.output_item.done"],
        "response.output_item.added",
        "response.web_search_call.in_progress",
        "response.web_search_call.searching",
        "response.web_search_call.completed",
        "response.output_item.done",
        *["response.output_item.added", "response.content_part.added"],
        *["response.output_text.delta"] * 5,
        "response.output_text.annotation.added",
        *["response.output_text.done", "response.content_part.done"],
        *["response.content_part.added", "response.output_text.delta"],
        *["response.output_text.done", "response.content_part.done", "response.output_item.done"],
        "response.completed",
    ]
    added = events[types.index("response.web_search_call.in_progress") - 1]
    assert added["item"] == {
        "type": "web_search_call",
        "id": "ws_1",
        "status": "in_progress",
        "action": {"type": "search", "query": "python 3.13 release date"},
    }
    annotation = next(e for e in events if e["type"] == "response.output_text.annotation.added")
    citation = {
        "type": "url_citation",
        "url": URL,
        "title": TITLE,
        "start_index": 0,
        "end_index": len(ANSWER),
    }
    assert annotation == {
        "type": "response.output_text.annotation.added",
        "sequence_number": annotation["sequence_number"],
        "item_id": "msg_2",
        "output_index": 2,
        "content_index": 0,
        "annotation_index": 0,  # the repeated citation of the same source is folded
        "annotation": citation,
    }
    output = events[-1]["response"]["output"]
    assert output[1] == {
        "type": "web_search_call",
        "id": "ws_1",
        "status": "completed",
        "action": {"type": "search", "query": "python 3.13 release date"},
    }
    assert output[2]["content"] == [
        {"type": "output_text", "text": ANSWER, "annotations": [citation], "logprobs": []},
        {"type": "output_text", "text": " Enjoy.", "annotations": [], "logprobs": []},
    ]


def test_search_sources_when_the_client_includes_them() -> None:
    events = check_responses_sse(run(make(sources=True), raw(search_reply())))
    action = events[-1]["response"]["output"][1]["action"]
    assert action == {
        "type": "search",
        "query": "python 3.13 release date",
        "sources": [{"type": "url", "url": URL}, {"type": "url", "url": "https://x.example/"}],
    }


@pytest.mark.parametrize("step", [1, 7, 64])
def test_web_search_stream_split_anywhere_translates_alike(step: int) -> None:
    whole = check_responses_sse(run(make(), raw(search_reply())))
    data = raw(search_reply())
    assert check_responses_sse(run(make(), data, step=step)) == whole


def test_a_failed_search_is_a_failed_web_search_call() -> None:
    search = server_tool_use("q", id="srvtoolu_02")
    error = Block(
        "web_search_tool_result",
        id="srvtoolu_02",
        content={"type": "web_search_tool_result_error", "error_code": "max_uses_exceeded"},
    )
    events = check_responses_sse(run(make(), raw(Reply([search, error, text("Sorry.")]))))
    types = [e["type"] for e in events]
    assert "response.web_search_call.completed" not in types
    assert events[-1]["response"]["output"][0]["status"] == "failed"


def test_a_search_without_result_is_closed_before_the_next_item() -> None:
    events = check_responses_sse(
        run(make(), raw(Reply([server_tool_use("q", id="srvtoolu_03"), text("No results.")])))
    )
    output = events[-1]["response"]["output"]
    assert [o["type"] for o in output] == ["web_search_call", "message"]
    assert output[0]["status"] == "completed"


def test_other_server_tools_are_skipped_and_counted() -> None:
    fetch = server_tool_use("x", id="srvtoolu_04", name="web_fetch")
    stream = make()
    events = check_responses_sse(run(stream, raw(Reply([fetch, text("ok")]))))
    assert [o["type"] for o in events[-1]["response"]["output"]] == ["message"]
    assert stream.skipped == 1


def test_tool_search_and_local_shell_calls() -> None:
    reply = Reply(
        [
            tool_use("tool_search", {"query": "calendar", "limit": 2}, id="toolu_ts"),
            tool_use(
                "local_shell",
                {"command": ["ls", "-la"], "workdir": "/w", "timeout_ms": 500},
                id="toolu_ls",
            ),
        ]
    )
    events = check_responses_sse(run(make(), raw(reply)))
    added = [e["item"] for e in events if e["type"] == "response.output_item.added"]
    assert added == [
        {
            "type": "tool_search_call",
            "id": "tsc_1",
            "call_id": "toolu_ts",
            "execution": "client",
            "arguments": {},
            "status": "in_progress",
        },
        {
            "type": "local_shell_call",
            "id": "lsh_1",
            "call_id": "toolu_ls",
            "status": "in_progress",
            "action": {"type": "exec", "command": [], "env": {}},
        },
    ]
    assert events[-1]["response"]["output"] == [
        {
            "type": "tool_search_call",
            "id": "tsc_1",
            "call_id": "toolu_ts",
            "execution": "client",
            "arguments": {"query": "calendar", "limit": 2},
            "status": "completed",
        },
        {
            "type": "local_shell_call",
            "id": "lsh_1",
            "call_id": "toolu_ls",
            "status": "completed",
            "action": {
                "type": "exec",
                "command": ["ls", "-la"],
                "env": {},
                "timeout_ms": 500,
                "working_directory": "/w",
            },
        },
    ]


# -- pause_turn ----------------------------------------------------------------------------------


class Resume:
    """Records what the translator hands over for the continuation request."""

    def __init__(self) -> None:
        self.calls: list[list[JSON]] = []

    def __call__(self, content: list[JSON]) -> UpstreamRequest:
        self.calls.append(content)
        body = json.dumps({"continue_with": content}).encode()
        return UpstreamRequest("POST", "/v1/messages", {}, body, stream=True)


def test_a_paused_turn_continues_into_one_response() -> None:
    signer = Signer()
    resume = Resume()
    stream = make(resume=resume)
    first = Reply(
        [thinking("I should search."), text("Searching. "), server_tool_use("q1", id="srvtoolu_p")],
        stop_reason="pause_turn",
        usage={"input_tokens": 100, "output_tokens": 10},
    )
    second = Reply(
        [web_search_result("srvtoolu_p", [(URL, TITLE)]), text(ANSWER)],
        usage={"input_tokens": 150, "output_tokens": 20, "cache_read_input_tokens": 90},
    )
    part1 = run(stream, raw(first, signer))
    assert stream.paused
    assert not stream.done
    request = stream.continuation()
    assert request is not None
    assert stream.continuation() is None  # handed over once
    content = json.loads(request.body or b"")["continue_with"]
    assert content == [
        {
            "type": "thinking",
            "thinking": "I should search.",
            "signature": signer.sign("I should search."),
        },
        {"type": "text", "text": "Searching. "},
        {
            "type": "server_tool_use",
            "id": "srvtoolu_p",
            "name": "web_search",
            "input": {"query": "q1"},
        },
    ]
    part2 = run(stream, raw(second, signer))
    events = check_responses_sse(part1 + part2)
    assert stream.done
    assert [e["type"] for e in events].count("response.created") == 1
    final = events[-1]["response"]
    assert final["status"] == "completed"
    assert [o["type"] for o in final["output"]] == [
        "reasoning",
        "message",
        "web_search_call",
        "message",
    ]
    assert final["output"][2]["status"] == "completed"  # its result came after the pause
    # Usage adds up over the two upstream turns.
    assert final["usage"]["input_tokens"] == 100 + 150 + 90
    assert final["usage"]["output_tokens"] == 30
    assert final["usage"]["input_tokens_details"]["cached_tokens"] == 90


def test_a_pause_that_is_not_continued_completes_with_what_was_done() -> None:
    stream = make(resume=Resume())
    paused = Reply([text("Partial answer.")], stop_reason="pause_turn")
    part = run(stream, raw(paused))
    assert stream.paused
    events = check_responses_sse(
        part + b"".join(encode_event(e.data, e.event) for e in stream.close())
    )
    assert events[-1]["type"] == "response.completed"


def test_without_a_resume_factory_a_pause_just_completes() -> None:
    stream = make()
    events = check_responses_sse(run(stream, raw(Reply([text("x")], stop_reason="pause_turn"))))
    assert events[-1]["type"] == "response.completed"
    assert stream.continuation() is None
