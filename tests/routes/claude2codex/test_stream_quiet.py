"""A client that did not ask to stream gets ``final`` only: the quiet translator encodes no
event, and its final Response is the one the streaming translator ends with."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from llmproxy.envelope import Envelope
from routes.claude2codex.request import Echo
from routes.claude2codex.stream import ResponsesStream, ResponseTemplate
from tests.routes.claude2codex.test_stream_golden import (
    CLIENT_MODEL,
    CREATED_AT,
    GOLDEN,
    KEY,
    NOW,
    UPSTREAM_MODEL,
    Ids,
    golden,
    tool_map,
    translate,
)


def stream(*, quiet: bool) -> ResponsesStream:
    return ResponsesStream(
        ResponseTemplate(model=CLIENT_MODEL, created_at=CREATED_AT, echo=Echo()),
        tool_map(),
        Envelope(KEY),
        UPSTREAM_MODEL,
        summaries=True,
        ids=Ids(),
        clock=lambda: NOW,
        quiet=quiet,
    )


def without_seals(response: Any) -> Any:
    value = msgspec.json.decode(msgspec.json.encode(response))
    for item in value["output"]:
        item.pop("encrypted_content", None)  # sealed with a random nonce each time
    return value


@pytest.mark.parametrize("name", sorted(p.stem for p in GOLDEN.glob("*.sse")))
def test_quiet_translator_reaches_the_same_final_response(name: str) -> None:
    loud, quiet = stream(quiet=False), stream(quiet=True)
    assert translate(loud, [golden(name)])
    assert translate(quiet, [golden(name)]) == []
    assert loud.final is not None
    assert quiet.final is not None
    assert without_seals(quiet.final) == without_seals(loud.final)
    assert (quiet.error is None) == (loud.error is None)
