"""Shared helpers for the claude2chat request-translation tests: run a Chat Completions body
through ``decode_request`` + ``translate_request`` and check the result against the strict fake
upstream's ``validate``."""

from __future__ import annotations

import json
from typing import Any, Final

import pytest

from llmproxy.dialects.anthropic_models import profile_for
from llmproxy.dialects.anthropic_providers import GENERIC, ProviderProfile
from llmproxy.envelope import Envelope
from llmproxy.errors import BadRequest
from routes.claude2chat.request import Translated, decode_request, translate_request
from tests.support.fake_anthropic import Signer, validate

JSON = dict[str, Any]

SONNET: Final = "claude-sonnet-4-5"  # budget thinking, one sampling param
OPUS_47: Final = "claude-opus-4-7"  # adaptive only, no sampling params
SONNET_46: Final = "claude-sonnet-4-6"  # adaptive recommended
GLM: Final = "glm-4.6"  # an Anthropic-compatible provider: the catch-all profile
MODELS: Final = (SONNET, OPUS_47, GLM)

KEY: Final = "k"

WEATHER: Final[JSON] = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
            "additionalProperties": False,
        },
        "strict": True,
    },
}


def translate(
    body: JSON,
    model: str = SONNET,
    *,
    envelope: Envelope | None = None,
    provider: ProviderProfile = GENERIC,
    auto_cache: bool = False,
) -> Translated:
    """decode + translate, like the route does (the body goes through real JSON bytes). Cache
    breakpoints are off unless asked for, so the tests compare plain blocks."""
    req = decode_request(json.dumps(body).encode())
    return translate_request(
        req,
        upstream_model=model,
        profile=profile_for(model),
        envelope=envelope or Envelope(KEY),
        provider=provider,
        auto_cache=auto_cache,
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


def chat(*messages: JSON, **fields: Any) -> JSON:
    return {"model": "gpt-4o", "messages": list(messages), **fields}


def user(content: Any) -> JSON:
    return {"role": "user", "content": content}


def assistant(content: Any = None, **fields: Any) -> JSON:
    return {"role": "assistant", "content": content, **fields}


def tool_call(call_id: str, name: str = "get_weather", arguments: str = '{"city":"Oslo"}') -> JSON:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def tool(call_id: str, content: Any = "rain") -> JSON:
    return {"role": "tool", "tool_call_id": call_id, "content": content}


def messages(t: Translated) -> list[JSON]:
    msgs: list[JSON] = t.body["messages"]
    return msgs


def block_types(t: Translated) -> list[list[str]]:
    return [[b["type"] for b in m["content"]] for m in messages(t)]


def sealed_thinking(
    signer: Signer, text: str, model: str = SONNET, *, envelope: Envelope | None = None
) -> JSON:
    """A ``thinking_blocks`` entry as the route hands it out: the upstream-signed block sealed."""
    block = {"type": "thinking", "thinking": text, "signature": signer.sign(text)}
    token = (envelope or Envelope(KEY)).seal(model, [block])
    return {"type": "thinking", "thinking": text, "signature": token}
