"""Decoding a client's JSON body into a route's request struct, with errors every dialect can
render: a ``BadRequest`` whose ``param`` names the offending field (``input[3].call_id``), or
``body`` when the bytes are not JSON at all. Shared by every route."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Final, TypeVar

import msgspec

from llmproxy.errors import BadRequest

__all__ = ["decode_body"]

T = TypeVar("T")

_PATH: Final = re.compile(r"at `\$\.?(.*)`$")
_MISSING: Final = re.compile(r"missing required field `([^`]+)`")


def _same(path: str) -> str:
    return path


def decode_body(
    decoder: msgspec.json.Decoder[T],
    body: bytes,
    *,
    loc: Callable[[str], str] = _same,
    missing_message: str | None = None,
) -> T:
    """``decoder.decode(body)``, or a ``BadRequest`` naming the field.

    ``loc`` rewrites msgspec's path (``messages[0].role``) into the dialect's own spelling;
    ``missing_message`` replaces the message when a required field is absent.
    """
    if not body.strip():
        raise BadRequest("the request body is empty; expected a JSON object", param="body")
    try:
        return decoder.decode(body)
    except msgspec.ValidationError as e:
        text = str(e)
        m = _PATH.search(text)
        param = loc(m.group(1)) if m else None
        missing = _MISSING.search(text)
        if missing:  # name the missing field itself
            param = f"{param}.{missing.group(1)}" if param else missing.group(1)
            if missing_message is not None:
                raise BadRequest(missing_message, param=param) from None
        raise BadRequest(f"invalid request: {text}", param=param) from None
    except msgspec.DecodeError as e:
        raise BadRequest(f"the request body is not valid JSON: {e}", param="body") from None
