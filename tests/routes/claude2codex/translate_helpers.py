"""Shared helpers for the claude2codex request-translation tests: run a Responses request body
through ``decode_request`` + ``translate_request`` and check the result against the strict fake
upstream's ``validate``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import pytest

from llmproxy.dialects.anthropic_providers import GENERIC, ProviderProfile
from llmproxy.errors import BadRequest
from routes.claude2codex.reasoning import Envelope, profile_for
from routes.claude2codex.request import Translated, decode_request, translate_request
from tests.support.fake_anthropic import Signer, validate

JSON = dict[str, Any]

#: /work/main/tests/routes/claude2codex/x.py -> parents[3] is the repo, its sibling "shared".
SHARED: Final = Path(__file__).resolve().parents[3].parent / "shared"
CAPTURES: Final = SHARED / "captures"

SONNET: Final = "claude-sonnet-4-5"  # budget thinking, one sampling param
OPUS_47: Final = "claude-opus-4-7"  # adaptive only, no sampling params
SONNET_46: Final = "claude-sonnet-4-6"  # adaptive recommended
GLM: Final = "glm-4.6"  # an Anthropic-compatible provider: the catch-all profile
MODELS: Final = (SONNET, OPUS_47, GLM)

KEY: Final = "k"

USER_HI: Final[JSON] = {"role": "user", "content": "hi"}

FN_TOOL: Final[JSON] = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather for a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
        "additionalProperties": False,
    },
    "strict": True,
}


def translate(
    body: JSON,
    model: str = SONNET,
    *,
    envelope: Envelope | None = None,
    provider: ProviderProfile = GENERIC,
    auto_cache: bool = False,
    restore_reasoning: bool = True,
) -> Translated:
    """decode + translate, like the route does (the body goes through real JSON bytes).

    Automatic cache breakpoints are off by default here, so that tests of the message mapping
    compare bodies without markers; the cache tests and the capture tests turn them on."""
    req, _ = decode_request(json.dumps(body).encode())
    return translate_request(
        req,
        upstream_model=model,
        profile=profile_for(model),
        envelope=envelope or Envelope(KEY),
        provider=provider,
        auto_cache=auto_cache,
        restore_reasoning=restore_reasoning,
    )


def accepted(
    body: JSON,
    model: str = SONNET,
    *,
    signer: Signer | None = None,
    envelope: Envelope | None = None,
    provider: ProviderProfile = GENERIC,
    auto_cache: bool = False,
) -> Translated:
    """Translate and assert the fake upstream accepts the result."""
    t = translate(body, model, envelope=envelope, provider=provider, auto_cache=auto_cache)
    error = validate(t.body, signer=signer or Signer())
    assert error is None, f"upstream would refuse: {error}\n{json.dumps(t.body, indent=1)}"
    return t


def refused(body: JSON, model: str = SONNET) -> BadRequest:
    with pytest.raises(BadRequest) as info:
        translate(body, model)
    return info.value


def request(*items: JSON | str, **fields: Any) -> JSON:
    """A Responses body; a single str item becomes the string ``input``."""
    inp: Any = items[0] if len(items) == 1 and isinstance(items[0], str) else list(items)
    return {"model": "gpt-5", "input": inp, **fields}


def user(text: str) -> JSON:
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


def assistant(text: str) -> JSON:
    return {
        "type": "message",
        "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": []}],
    }


def developer(text: str) -> JSON:
    return {
        "type": "message",
        "role": "developer",
        "content": [{"type": "input_text", "text": text}],
    }


def call(call_id: str, name: str = "get_weather", arguments: str = '{"city":"Oslo"}') -> JSON:
    return {"type": "function_call", "call_id": call_id, "name": name, "arguments": arguments}


def output(call_id: str, out: Any = "rain") -> JSON:
    return {"type": "function_call_output", "call_id": call_id, "output": out}


def reasoning(encrypted_content: Any, summary: str = "thinking") -> JSON:
    return {
        "type": "reasoning",
        "summary": [{"type": "summary_text", "text": summary}],
        "encrypted_content": encrypted_content,
    }


def messages(t: Translated) -> list[JSON]:
    msgs: list[JSON] = t.body["messages"]
    return msgs


def blocks(t: Translated) -> Iterator[JSON]:
    for m in messages(t):
        yield from m["content"]


def block_types(t: Translated) -> list[list[str]]:
    return [[b["type"] for b in m["content"]] for m in messages(t)]


def roles(t: Translated) -> list[str]:
    return [m["role"] for m in messages(t)]


def texts_of(value: Any) -> Iterator[str]:
    """Every string anywhere inside ``value``."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from texts_of(v)
    elif isinstance(value, list):
        for v in value:
            yield from texts_of(v)
