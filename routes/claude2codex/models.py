"""``GET /models``: Anthropic's model list -> OpenAI's list shape (pure)."""

from __future__ import annotations

from datetime import datetime
from typing import Final

import msgspec

__all__ = ["translate_models"]


class _AnthropicModel(msgspec.Struct):
    id: str
    created_at: str | None = None
    display_name: str | None = None


class _AnthropicList(msgspec.Struct):
    data: list[_AnthropicModel] = msgspec.field(default_factory=list)


class _OpenAIModel(msgspec.Struct):
    id: str
    object: str
    created: int
    owned_by: str


class _OpenAIList(msgspec.Struct):
    object: str
    data: list[_OpenAIModel]


_decode: Final = msgspec.json.Decoder(_AnthropicList).decode
_encode: Final = msgspec.json.Encoder().encode


def _created(value: str | None) -> int:
    if not value:
        return 0
    try:
        return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp())
    except ValueError:
        return 0


def translate_models(body: bytes) -> bytes:
    """Raises ``msgspec.DecodeError``/``ValidationError`` on a body that is not a model list."""
    src = _decode(body)
    out = _OpenAIList(
        object="list",
        data=[
            _OpenAIModel(
                id=m.id, object="model", created=_created(m.created_at), owned_by="anthropic"
            )
            for m in src.data
        ],
    )
    return _encode(out)
