"""Reasoning: effort -> thinking configuration, and the envelope that carries thinking blocks
through stateless clients.

Anthropic needs every thinking block back exactly as it was sent (text and signature, or the
redacted ``data``), while Codex and other Responses clients return only a reasoning item's
``summary`` and ``encrypted_content``, without item ids. So each thinking block travels inside
``encrypted_content`` as a versioned, authenticated and encrypted envelope::

    "llmp1." + base64url(nonce[12] + AES-256-GCM(key, zlib(JSON {"v":1,"m":model,"b":[block]}),
                                                  aad="llmproxy/reasoning/v1"))

The key is derived from the configured secret (replicas must share it). A blob that is not
ours (OpenAI's ``gAAAA...``), was tampered with, was made with another key, or names another
upstream model is refused by ``open``; the request translator then drops it and turns thinking
off for that request rather than send an invalid history.
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import hashlib
import os
import zlib
from typing import Any, Final

import msgspec
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from llmproxy.config import ModelProfile

__all__ = [
    "BUDGET_BY_EFFORT",
    "BUILTIN_PROFILES",
    "Envelope",
    "profile_for",
]

_PREFIX: Final = "llmp1."
_AAD: Final = b"llmproxy/reasoning/v1"


class _Sealed(msgspec.Struct):
    v: int
    m: str
    b: list[dict[str, Any]]


_enc: Final = msgspec.json.Encoder()
_dec: Final = msgspec.json.Decoder(_Sealed)


class Envelope:
    """Seals and opens thinking blocks. ``secret`` None: a random per-process key."""

    def __init__(self, secret: str | None) -> None:
        material = secret.encode() if secret else os.urandom(32)
        self._aead: Final = AESGCM(hashlib.sha256(b"llmproxy-reasoning\0" + material).digest())
        self.ephemeral: Final = not secret

    def seal(self, model: str, blocks: list[dict[str, Any]]) -> str:
        nonce = os.urandom(12)
        plain = zlib.compress(_enc.encode(_Sealed(v=1, m=model, b=blocks)), 1)
        sealed = self._aead.encrypt(nonce, plain, _AAD)
        return _PREFIX + base64.urlsafe_b64encode(nonce + sealed).rstrip(b"=").decode()

    def open(self, token: object, model: str) -> list[dict[str, Any]] | None:
        """The blocks inside ``token``, or None if it is not a valid envelope for ``model``."""
        if not isinstance(token, str) or not token.startswith(_PREFIX):
            return None
        raw = token[len(_PREFIX) :]
        try:
            data = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
            plain = self._aead.decrypt(data[:12], data[12:], _AAD)
            sealed = _dec.decode(zlib.decompress(plain))
        except (binascii.Error, ValueError, InvalidTag, zlib.error, msgspec.DecodeError):
            return None
        if sealed.v != 1 or sealed.m != model:
            return None
        for block in sealed.b:
            if block.get("type") not in ("thinking", "redacted_thinking"):
                return None
        return sealed.b


#: ``reasoning.effort`` -> ``thinking.budget_tokens`` for budget-style models.
BUDGET_BY_EFFORT: Final = {
    "minimal": 1024,
    "low": 4096,
    "medium": 8192,
    "high": 16384,
    "xhigh": 32768,
    "max": 63999,
}

#: ``reasoning.effort`` -> ``output_config.effort`` for adaptive models.
ADAPTIVE_EFFORT: Final = {
    "minimal": "low",
    "low": "low",
    "medium": "medium",
    "high": "high",
    "xhigh": "xhigh",
    "max": "max",
}

#: Built-in model table, first match wins; ``Settings.models`` entries are tried before it.
BUILTIN_PROFILES: Final = (
    # Adaptive-only families: thinking.type "enabled" is refused; sampling params removed.
    ModelProfile(
        match="claude-opus-4-7*",
        thinking="adaptive",
        default_max_tokens=32000,
        max_tokens_limit=128000,
        sampling=False,
    ),
    *(
        ModelProfile(
            match=f"claude-{family}-5*",
            thinking="adaptive",
            default_max_tokens=32000,
            max_tokens_limit=128000,
            sampling=False,
        )
        for family in ("opus", "sonnet", "haiku")
    ),
    ModelProfile(
        match="claude-5*",
        thinking="adaptive",
        default_max_tokens=32000,
        max_tokens_limit=128000,
        sampling=False,
    ),
    # 4.6: adaptive recommended (budget form deprecated but accepted).
    ModelProfile(
        match="claude-*-4-6*",
        thinking="adaptive",
        default_max_tokens=32000,
        max_tokens_limit=128000,
        one_sampling_param=True,
    ),
    ModelProfile(
        match="claude-opus-4*",
        thinking="budget",
        default_max_tokens=32000,
        max_tokens_limit=32000,
        one_sampling_param=True,
    ),
    ModelProfile(
        match="claude-*-4*",
        thinking="budget",
        default_max_tokens=32000,
        max_tokens_limit=64000,
        one_sampling_param=True,
    ),
    ModelProfile(
        match="claude-3-7*", thinking="budget", default_max_tokens=32000, max_tokens_limit=64000
    ),
    ModelProfile(
        match="claude-3*", thinking="none", default_max_tokens=8192, max_tokens_limit=8192
    ),
    # Anthropic-compatible providers (GLM, Kimi, DeepSeek, MiniMax, ...): budget thinking.
    ModelProfile(match="*", thinking="budget", default_max_tokens=32000, max_tokens_limit=128000),
)


def profile_for(model: str, extra: tuple[ModelProfile, ...] = ()) -> ModelProfile:
    for p in (*extra, *BUILTIN_PROFILES):
        if fnmatch.fnmatchcase(model, p.match):
            return p
    return BUILTIN_PROFILES[-1]
