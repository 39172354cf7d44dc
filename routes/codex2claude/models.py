"""``GET /v1/models`` and ``count_tokens`` replies: OpenAI's shapes -> Anthropic's (pure)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

import msgspec

__all__ = ["translate_input_tokens", "translate_models"]


class _OpenAIModel(msgspec.Struct):
    id: str
    created: int | None = None


class _OpenAIList(msgspec.Struct):
    data: list[_OpenAIModel] = msgspec.field(default_factory=list)


class _AnthropicModel(msgspec.Struct, tag_field="type", tag="model"):
    id: str
    display_name: str
    created_at: str
    #: Required by current Anthropic SDKs; OpenAI lists only models it serves.
    lifecycle: str = "active"


class _AnthropicList(msgspec.Struct):
    data: list[_AnthropicModel]
    has_more: bool
    first_id: str | None
    last_id: str | None


class _InputTokens(msgspec.Struct):
    input_tokens: int


_decode_list: Final = msgspec.json.Decoder(_OpenAIList).decode
_decode_count: Final = msgspec.json.Decoder(_InputTokens).decode
_encode: Final = msgspec.json.Encoder().encode


def _rfc3339(created: int | None) -> str:
    when = datetime.fromtimestamp(created or 0, UTC)
    return when.isoformat().replace("+00:00", "Z")


def translate_models(body: bytes) -> bytes:
    """OpenAI's ``{"object": "list", "data": [{id, created, owned_by}]}`` -> Anthropic's
    ``{"data": [{type, id, display_name, created_at, lifecycle}], "has_more", "first_id",
    "last_id"}``.
    Raises ``msgspec.DecodeError``/``ValidationError`` on a body that is not a model list."""
    src = _decode_list(body)
    data = [_AnthropicModel(m.id, m.id, _rfc3339(m.created)) for m in src.data]
    return _encode(
        _AnthropicList(
            data=data,
            has_more=False,
            first_id=data[0].id if data else None,
            last_id=data[-1].id if data else None,
        )
    )


def translate_input_tokens(body: bytes) -> bytes:
    """``{"object": "response.input_tokens", "input_tokens": N}`` -> ``{"input_tokens": N}``.
    Raises ``msgspec.DecodeError``/``ValidationError`` on anything else."""
    return _encode(_InputTokens(_decode_count(body).input_tokens))
