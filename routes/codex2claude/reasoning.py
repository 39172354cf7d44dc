"""Reasoning items <-> thinking blocks, and ``thinking`` <-> ``reasoning.effort``.

A Responses upstream reasons in ``reasoning`` items whose state is ``encrypted_content`` (the
gateway always asks for it with ``include: ["reasoning.encrypted_content"]`` and ``store:
false``). Anthropic clients hand back only a thinking block's ``thinking`` text and its opaque
``signature``, so the signature carries the item::

    "llmpr1." + base64url(JSON {"v": 1, "m": upstream model, "id": item id,
                                "ec": encrypted_content})

No sealing is needed: the ``encrypted_content`` is OpenAI's own authenticated blob (the upstream
refuses a tampered one), and the item id is not secret. A signature that is not in this form
(a real Claude signature from another session), or names another upstream model (reasoning is
model-bound), is dropped when the history goes back upstream. The item goes back without its
``id``: with ``store: false`` the API looks ids up and fails ("Item with id 'rs_...' not
found"); Codex replays reasoning the same way.

Effort (decision, written in the README)::

    thinking                          reasoning.effort
    enabled, budget_tokens <= 4096    low
    enabled, budget_tokens <= 16384   medium
    enabled, larger budget            high
    adaptive + output_config.effort   low / medium / high / xhigh (max -> xhigh); absent: high
    disabled / absent                 output_config.effort if given, else nothing (upstream
                                      default); reasoning is not shown
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Final

import msgspec

__all__ = [
    "EFFORT_BY_OUTPUT_EFFORT",
    "Carried",
    "effort_for_budget",
    "open_signature",
    "seal_signature",
]

_PREFIX: Final = "llmpr1."

#: ``thinking.budget_tokens`` upper bounds -> effort; above the last bound: ``high``.
_BUDGET_BUCKETS: Final = ((4096, "low"), (16384, "medium"))

#: Anthropic ``output_config.effort`` -> Responses ``reasoning.effort``.
EFFORT_BY_OUTPUT_EFFORT: Final = {
    "low": "low",
    "medium": "medium",
    "high": "high",
    "xhigh": "xhigh",
    "max": "xhigh",
}


def effort_for_budget(budget: int) -> str:
    for bound, effort in _BUDGET_BUCKETS:
        if budget <= bound:
            return effort
    return "high"


class _Sig(msgspec.Struct):
    v: int
    m: str
    id: str
    ec: str | None = None


_enc: Final = msgspec.json.Encoder()
_dec: Final = msgspec.json.Decoder(_Sig)


@dataclass(frozen=True, slots=True)
class Carried:
    """What a thinking block's signature carries back: the upstream reasoning item."""

    item_id: str
    encrypted_content: str | None


def seal_signature(model: str, item_id: str, encrypted_content: str | None) -> str:
    raw = _enc.encode(_Sig(v=1, m=model, id=item_id, ec=encrypted_content))
    return _PREFIX + base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def open_signature(signature: object, model: str) -> Carried | None:
    """The reasoning item inside ``signature``, or None if it is not ours or not ``model``'s."""
    if not isinstance(signature, str) or not signature.startswith(_PREFIX):
        return None
    raw = signature[len(_PREFIX) :]
    try:
        sig = _dec.decode(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except (binascii.Error, ValueError, msgspec.DecodeError):
        return None
    if sig.v != 1 or sig.m != model:
        return None
    return Carried(sig.id, sig.ec)
