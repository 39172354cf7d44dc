"""Sealed envelopes: state a stateless gateway hands to its client and gets back later.

Anthropic needs every thinking block back exactly as it was sent (text and signature, or the
redacted ``data``), while Responses clients such as Codex return only a reasoning item's
``summary`` and ``encrypted_content``, without item ids. So each thinking block travels inside
``encrypted_content`` as a versioned, authenticated and encrypted envelope::

    "llmp1." + base64url(nonce[12] + AES-256-GCM(key, zlib(JSON {"v":1,"m":model,"b":[block]}),
                                                  aad="llmproxy/reasoning/v1"))

The key is derived from the configured secret (replicas must share it). A blob that is not
ours (OpenAI's ``gAAAA...``), was tampered with, was made with another key, or names another
upstream model is refused by ``open``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import zlib
from typing import Any, Final

import msgspec
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = ["Envelope"]

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
