"""JSON Schema -> the subset Anthropic's structured outputs accept (``output_config.format`` and
strict tools). Pure.

Anthropic documents the limits (platform.claude.com, "Structured outputs", JSON Schema
limitations) and its SDKs transform schemas the same way before sending them
(anthropic-sdk-python ``lib/_parse/_transform.py``):

* kept: ``type``, ``enum`` (of primitives), ``const``, ``anyOf``, ``allOf``, local ``$ref`` with
  ``$defs``/``definitions``, ``properties``, ``required``, ``items``, ``description``,
  ``title``, ``default``, string ``format`` among date-time, time, date, duration, email,
  hostname, uri, ipv4, ipv6, uuid, and ``minItems`` 0 or 1;
* rewritten: every object gets ``additionalProperties: false`` (required by Anthropic),
  ``oneOf`` becomes ``anyOf``, a list ``type`` becomes an ``anyOf`` of single types;
* moved into ``description`` (the model still reads them; the client validates its own result
  as it would have anyway): numeric bounds, string lengths and ``pattern``, other ``format``
  values, other array bounds, ``uniqueItems``, ``patternProperties``, ``not``, conditionals and
  any other keyword;
* dropped silently: ``$schema``, ``$id``, ``$comment``.

Recursive schemas are not detected (Anthropic refuses them with a 400 the client sees).
"""

from __future__ import annotations

from typing import Any, Final

import msgspec

__all__ = ["STRING_FORMATS", "strict_schema"]

STRING_FORMATS: Final = frozenset(
    {"date-time", "time", "date", "duration", "email", "hostname", "uri", "ipv4", "ipv6", "uuid"}
)
_SILENT: Final = frozenset({"$schema", "$id", "$comment"})
_PRIMITIVE: Final = (str, int, float, bool, type(None))
_encode: Final = msgspec.json.Encoder(order="sorted").encode


def strict_schema(schema: Any) -> tuple[Any, bool]:
    """The adapted schema, and whether it is lossless (nothing moved into a description and no
    object closed that was open)."""
    state = [True]
    return _walk(schema, state), state[0]


def _walk(node: Any, lossless: list[bool]) -> Any:
    if not isinstance(node, dict):
        return node  # ``true``/``false`` schemas and garbage: left for the upstream to judge
    rest = {k: v for k, v in node.items() if k not in _SILENT}
    out: dict[str, Any] = {}
    for key in ("$defs", "definitions"):
        defs = rest.pop(key, None)
        if isinstance(defs, dict):
            out[key] = {name: _walk(sub, lossless) for name, sub in defs.items()}
        elif defs is not None:
            rest[key] = defs
    ref = rest.pop("$ref", None)
    if isinstance(ref, str):
        out["$ref"] = ref
        for key in ("description", "title"):
            if isinstance(rest.get(key), str):
                out[key] = rest.pop(key)
        _describe(out, rest, lossless)
        return out

    type_ = rest.pop("type", None)
    if isinstance(type_, list):
        kinds = [t for t in type_ if isinstance(t, str)]
        if len(kinds) == 1:
            type_ = kinds[0]
        elif kinds:
            # A list type is a union: each branch gets the keywords that apply to it.
            shared = {k: rest.pop(k) for k in ("description", "title", "default") if k in rest}
            out.update(shared)
            out["anyOf"] = [_walk({**rest, "type": t}, lossless) for t in kinds]
            return out
        else:
            type_ = None

    for key in ("anyOf", "oneOf", "allOf"):
        variants = rest.pop(key, None)
        if isinstance(variants, list):
            target = "allOf" if key == "allOf" else "anyOf"
            out[target] = [*out.get(target, []), *(_walk(v, lossless) for v in variants)]
        elif variants is not None:
            rest[key] = variants
    if isinstance(type_, str):
        out["type"] = type_
    elif type_ is not None:
        rest["type"] = type_

    enum = rest.pop("enum", None)
    if isinstance(enum, list) and all(isinstance(v, _PRIMITIVE) for v in enum):
        out["enum"] = enum
    elif enum is not None:
        rest["enum"] = enum
    for key in ("const", "description", "title", "default"):
        if key in rest:
            out[key] = rest.pop(key)

    if type_ == "object" or "properties" in rest:
        props = rest.pop("properties", None)
        if isinstance(props, dict):
            out["properties"] = {name: _walk(sub, lossless) for name, sub in props.items()}
        elif props is not None:
            rest["properties"] = props
        required = rest.pop("required", None)
        if isinstance(required, list):
            out["required"] = required
        elif required is not None:
            rest["required"] = required
        extra = rest.pop("additionalProperties", False)
        if extra is not False:
            lossless[0] = False  # an open object (or a schema for extra keys) gets closed
        out["additionalProperties"] = False
    if type_ == "string":
        fmt = rest.pop("format", None)
        if fmt in STRING_FORMATS:
            out["format"] = fmt
        elif fmt is not None:
            rest["format"] = fmt
    if type_ == "array" or "items" in rest:
        items = rest.pop("items", None)
        if isinstance(items, dict):
            out["items"] = _walk(items, lossless)
        elif items is not None:
            rest["items"] = items
        min_items = rest.pop("minItems", None)
        if min_items in (0, 1) and not isinstance(min_items, bool):
            out["minItems"] = min_items
        elif min_items is not None:
            rest["minItems"] = min_items
    _describe(out, rest, lossless)
    return out


def _describe(out: dict[str, Any], rest: dict[str, Any], lossless: list[bool]) -> None:
    """Keywords Anthropic does not accept, appended to the description."""
    if not rest:
        return
    lossless[0] = False
    try:
        note = _encode(rest).decode()
    except (TypeError, msgspec.EncodeError):
        note = repr(rest)
    description = out.get("description")
    prefix = f"{description}\n\n" if isinstance(description, str) and description else ""
    out["description"] = f"{prefix}Constraints: {note}"
