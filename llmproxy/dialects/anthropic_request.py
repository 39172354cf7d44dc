"""Building valid Anthropic Messages requests, shared by every route whose upstream speaks
Messages (``claude2codex``, ``claude2chat``, ...). Pure: dicts in, dicts out.

A route converts its client's conversation into ``Conversation.add*`` calls; this module makes
the result acceptable to Anthropic's validation (protocol reference §4.5):

* consecutive blocks of the same side merge into one turn (alternating roles);
* every ``tool_use`` is answered by a ``tool_result`` in the very next user turn, results
  first; a missing result gets an error result, an orphan result becomes text;
* ``tool_use`` ids are unique and match ``^[a-zA-Z0-9_-]+$``;
* the conversation starts with a user turn; a final assistant turn (prefill) has no trailing
  whitespace;
* with thinking on, the current tool loop's assistant turn starts with a thinking block, or
  thinking is turned off (``plan_thinking``); with thinking off, thinking blocks are stripped;
* sampling parameters follow the model's rules (``sampling_params``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Container, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import msgspec

from llmproxy.config import ModelProfile
from llmproxy.dialects.anthropic_models import ADAPTIVE_EFFORT, BUDGET_BY_EFFORT
from llmproxy.dialects.anthropic_providers import ProviderProfile, provider_for
from llmproxy.errors import BadRequest

__all__ = [
    "ANTHROPIC_VERSION",
    "EFFORTS",
    "JSON_OBJECT_INSTRUCTION",
    "NO_OUTPUT",
    "Conversation",
    "ThinkingPlan",
    "Turn",
    "declare_history_tools",
    "document_block",
    "every_tool_turn_thinks",
    "finish_turns",
    "image_block",
    "media_note",
    "orphan_text",
    "parse_arguments",
    "plan_thinking",
    "provider_sampling",
    "repair_tool_pairing",
    "sampling_params",
    "sanitize_id",
    "schema_instruction",
    "strip_thinking",
    "thinking_ok",
    "tool_name",
    "unique_tool_name",
    "upstream_headers",
]

ANTHROPIC_VERSION: Final = "2023-06-01"
EFFORTS: Final = frozenset({"none", *BUDGET_BY_EFFORT})
IMAGE_TYPES: Final = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
_DATA_URL: Final = re.compile(r"^data:([\w.+-]+/[\w.+-]+)?(;[^,]*)?,(.*)$", re.DOTALL)
_ID_BAD: Final = re.compile(r"[^a-zA-Z0-9_-]")
_MAX_NAME: Final = 128
_MIN_BUDGET: Final = 1024
#: Output room kept beside the thinking budget when the client set no output limit.
_ANSWER_ROOM: Final = 8192
NOT_EXECUTED: Final = "This tool call was not executed: the conversation has no result for it."
CONTINUE: Final = "(continue)"
#: A tool result with nothing in it (Anthropic refuses empty text).
NO_OUTPUT: Final = "(no output)"


def sanitize_id(call_id: str) -> str:
    """A ``tool_use.id`` Anthropic accepts (``^[a-zA-Z0-9_-]+$``), deterministic, so that a
    ``tool_use`` and its ``tool_result`` get the same id."""
    return _ID_BAD.sub("_", call_id) or "call_empty"


def parse_arguments(arguments: object) -> dict[str, Any]:
    """A ``tool_use.input`` (a JSON object) from a client's call arguments (a JSON string)."""
    if isinstance(arguments, dict):
        return arguments
    if not isinstance(arguments, str) or not arguments.strip():
        return {}
    try:
        value = msgspec.json.decode(arguments)
    except msgspec.DecodeError:
        # Not JSON (a model that emitted broken arguments): keep the text, do not lose it.
        return {"_raw_arguments": arguments}
    return value if isinstance(value, dict) else {"value": value}


def tool_name(name: str) -> str:
    """A tool name Anthropic accepts (``^[a-zA-Z0-9_-]{1,128}$``), deterministic: other
    characters become ``_``, a long name is cut and suffixed with a short hash of the original."""
    cleaned = _ID_BAD.sub("_", name) or "tool"
    if len(cleaned) > _MAX_NAME:
        digest = hashlib.sha256(name.encode()).hexdigest()[:8]
        cleaned = cleaned[: _MAX_NAME - 9] + "_" + digest
    return cleaned


def unique_tool_name(name: str, taken: Container[str]) -> str:
    """``tool_name(name)``, with a numeric suffix if that is already ``taken`` (two client names
    that clean alike)."""
    base = candidate = tool_name(name)
    n = 2
    while candidate in taken:
        suffix = f"_{n}"
        candidate = base[: _MAX_NAME - len(suffix)] + suffix
        n += 1
    return candidate


@dataclass(slots=True)
class Turn:
    role: str
    blocks: list[dict[str, Any]]


@dataclass(slots=True)
class Conversation:
    """Accumulates turns, merging consecutive blocks of the same side."""

    turns: list[Turn] = field(default_factory=list)
    system: list[dict[str, Any]] = field(default_factory=list)
    #: True once a user or assistant message was seen (later system text is mid-conversation).
    seen_conversation: bool = False
    _tool_use_ids: set[str] = field(default_factory=set)
    _call_ids: dict[str, str] = field(default_factory=dict)

    def add(self, role: str, block: dict[str, Any]) -> None:
        self.seen_conversation = True
        if self.turns and self.turns[-1].role == role:
            self.turns[-1].blocks.append(block)
        else:
            self.turns.append(Turn(role, [block]))

    def add_tool_use(self, call_id: str, name: str, tool_input: dict[str, Any]) -> None:
        """An assistant tool call. Its id is made unique even if the client reuses call ids or
        two ids sanitise alike; later results for ``call_id`` answer the latest such call."""
        tool_id = base_id = sanitize_id(call_id)
        n = 2
        while tool_id in self._tool_use_ids:
            tool_id, n = f"{base_id}_{n}", n + 1
        self._tool_use_ids.add(tool_id)
        self._call_ids[call_id] = tool_id
        self.add(
            "assistant", {"type": "tool_use", "id": tool_id, "name": name, "input": tool_input}
        )

    def add_tool_result(
        self, call_id: str, content: str | list[dict[str, Any]], *, is_error: bool = False
    ) -> None:
        result: dict[str, Any] = {
            "type": "tool_result",
            "tool_use_id": self._call_ids.get(call_id, sanitize_id(call_id)),
            "content": content,
        }
        if is_error:
            result["is_error"] = True
        if call_id not in self._call_ids:
            # No call before it: an orphan, kept as text (its sanitised id could match
            # another call's).
            self.add("user", {"type": "text", "text": orphan_text(result)})
        else:
            self.add("user", result)


def repair_tool_pairing(turns: list[Turn]) -> list[Turn]:
    """Make tool pairing valid: every tool_use answered in the next user turn (tool_results
    first), every tool_result answering a tool_use of the turn right before it."""
    out: list[Turn] = []
    for idx, turn in enumerate(turns):
        if turn.role == "user":
            prev_ids: set[str] = set()
            if out and out[-1].role == "assistant":
                prev_ids = {blk["id"] for blk in out[-1].blocks if blk.get("type") == "tool_use"}
            results: list[dict[str, Any]] = []
            others: list[dict[str, Any]] = []
            answered: set[str] = set()
            for blk in turn.blocks:
                if blk.get("type") != "tool_result":
                    others.append(blk)
                    continue
                tid = blk["tool_use_id"]
                if tid in prev_ids and tid not in answered:
                    answered.add(tid)
                    results.append(blk)
                else:
                    # An orphan (or duplicate) result: keep what it says as plain text.
                    others.append({"type": "text", "text": orphan_text(blk)})
            missing = [i for i in _ordered_ids(out[-1]) if i not in answered] if prev_ids else []
            results.extend(_not_executed(i) for i in missing)
            blocks = results + others
            if blocks:
                out.append(Turn("user", blocks))
        else:
            if out and out[-1].role == "assistant":  # can happen after dropping empty turns
                out[-1].blocks.extend(turn.blocks)
            else:
                out.append(Turn("assistant", list(turn.blocks)))
            nxt = turns[idx + 1] if idx + 1 < len(turns) else None
            if nxt is None and any(blk.get("type") == "tool_use" for blk in turn.blocks):
                # The history ends on unanswered calls: answer them, so the model can go on.
                out.append(Turn("user", [_not_executed(i) for i in _ordered_ids(out[-1])]))
    return out


def _ordered_ids(turn: Turn) -> list[str]:
    return [blk["id"] for blk in turn.blocks if blk.get("type") == "tool_use"]


def _not_executed(tool_use_id: str) -> dict[str, Any]:
    return {
        "type": "tool_result",
        "tool_use_id": tool_use_id,
        "content": NOT_EXECUTED,
        "is_error": True,
    }


def orphan_text(blk: dict[str, Any]) -> str:
    content = blk.get("content")
    if isinstance(content, list):
        content = "\n".join(c.get("text", "") for c in content if c.get("type") == "text")
    return f"[result of tool call {blk['tool_use_id']}]\n{content}"


def thinking_ok(turns: list[Turn]) -> bool:
    """Anthropic: with thinking on, the assistant turn before the last tool_result turn (the
    current tool loop) must start with a thinking or redacted_thinking block."""
    if len(turns) < 2 or turns[-1].role != "user":
        return True
    if not any(blk.get("type") == "tool_result" for blk in turns[-1].blocks):
        return True
    last_assistant = turns[-2]
    return last_assistant.blocks[0].get("type") in ("thinking", "redacted_thinking")


def strip_thinking(turns: list[Turn]) -> list[Turn]:
    out: list[Turn] = []
    for t in turns:
        blocks = [b for b in t.blocks if b.get("type") not in ("thinking", "redacted_thinking")]
        if not blocks:
            continue
        if out and out[-1].role == t.role:
            out[-1].blocks.extend(blocks)
        else:
            out.append(Turn(t.role, blocks))
    return out


def finish_turns(turns: list[Turn]) -> list[dict[str, Any]]:
    """The ``messages`` array: starts with a user turn; a final assistant turn (prefill) keeps
    no trailing whitespace, which Anthropic refuses."""
    if turns[0].role != "user":
        turns.insert(0, Turn("user", [{"type": "text", "text": CONTINUE}]))
    if turns[-1].role == "assistant":
        last = turns[-1].blocks[-1]
        if last.get("type") == "text":
            last["text"] = last["text"].rstrip()
    return [{"role": t.role, "content": t.blocks} for t in turns]


def declare_history_tools(body: dict[str, Any], turns: list[Turn]) -> None:
    """A history with tool blocks needs tools defined: declare the ones it used, unusable."""
    if body.get("tools") or not any(
        blk.get("type") in ("tool_use", "tool_result") for t in turns for blk in t.blocks
    ):
        return
    names = sorted(
        {blk["name"] for t in turns for blk in t.blocks if blk.get("type") == "tool_use"}
    )
    body["tools"] = [
        {"name": n, "input_schema": {"type": "object", "properties": {}}} for n in names
    ] or [{"name": "unused", "input_schema": {"type": "object", "properties": {}}}]
    body["tool_choice"] = {"type": "none"}


@dataclass(slots=True)
class ThinkingPlan:
    max_tokens: int
    thinking: dict[str, Any] | None = None
    output_config: dict[str, Any] | None = None
    #: Why thinking is off although it was asked for.
    off_reason: str | None = None

    @property
    def on(self) -> bool:
        return self.thinking is not None


def plan_thinking(
    effort: str | None,
    profile: ModelProfile,
    client_max_tokens: int | None,
    *,
    blocked: str | None = None,
) -> ThinkingPlan:
    """``max_tokens`` and the thinking configuration for ``effort`` on this model.

    ``blocked`` names a reason the conversation cannot carry thinking (a forced tool, a tool
    loop without its thinking block, a prefill); thinking is then off.
    """
    limit = profile.max_tokens_limit
    if client_max_tokens is not None:
        if client_max_tokens < 1:
            raise BadRequest("the output token limit must be at least 1", param="max_tokens")
        max_tokens = min(client_max_tokens, limit)
    else:
        max_tokens = min(profile.default_max_tokens, limit)
    plan = ThinkingPlan(max_tokens=max_tokens)
    if effort in (None, "none") or profile.thinking == "none":
        return plan
    if blocked is not None:
        plan.off_reason = blocked
        return plan
    assert effort is not None
    if profile.thinking == "adaptive":
        plan.thinking = {"type": "adaptive"}
        plan.output_config = {"effort": ADAPTIVE_EFFORT[effort]}
        return plan
    budget = BUDGET_BY_EFFORT[effort]
    if client_max_tokens is None and max_tokens < budget + _ANSWER_ROOM:
        plan.max_tokens = max_tokens = min(limit, budget + _ANSWER_ROOM)
    budget = min(budget, max_tokens - 1)
    if budget < _MIN_BUDGET:
        plan.off_reason = "the output token limit leaves no room for thinking"
        return plan
    plan.thinking = {"type": "enabled", "budget_tokens": budget}
    return plan


def sampling_params(
    profile: ModelProfile, temperature: float | None, top_p: float | None, *, thinking: bool
) -> dict[str, float]:
    """Anthropic's rules: temperature in [0, 1]; with thinking only temperature 1 (omitted)
    and top_p in [0.95, 1]; some models take one of the two only; some none."""
    if not profile.sampling:
        return {}
    t = None if temperature is None else min(max(temperature, 0.0), 1.0)
    p = top_p
    if thinking:
        t = None
        if p is not None and p < 0.95:
            p = None
    if profile.one_sampling_param and t is not None and p is not None:
        p = None
    out: dict[str, float] = {}
    if t is not None:
        out["temperature"] = t
    if p is not None:
        out["top_p"] = p
    return out


def image_block(url: str, param: str) -> dict[str, Any]:
    """An image block from a data URL or an http(s) URL."""
    if url.startswith("data:"):
        m = _DATA_URL.match(url)
        if not m or not (m.group(2) or "").endswith(";base64"):
            raise BadRequest("image data URLs must be base64-encoded", param=param)
        media = (m.group(1) or "").lower()
        if media == "image/jpg":
            media = "image/jpeg"
        if media not in IMAGE_TYPES:
            raise BadRequest(
                f"unsupported image type {media or 'unknown'!r}; the upstream accepts "
                "image/jpeg, image/png, image/gif and image/webp",
                param=param,
            )
        data = m.group(3)
        try:
            base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise BadRequest("the image data URL is not valid base64", param=param) from None
        return {"type": "image", "source": {"type": "base64", "media_type": media, "data": data}}
    if url.startswith(("https://", "http://")):
        return {"type": "image", "source": {"type": "url", "url": url}}
    raise BadRequest("an image URL must be a data URL or an http(s) URL", param=param)


def document_block(
    *, data: str | None, url: str | None, title: str | None, param: str
) -> dict[str, Any]:
    """A document block from file data (a data URL or bare base64, PDF or text) or a URL."""
    block: dict[str, Any]
    if data:
        m = _DATA_URL.match(data)
        media = (m.group(1) or "").lower() if m else "application/pdf"
        payload = m.group(3) if m else data
        if media == "application/pdf":
            block = {
                "type": "document",
                "source": {"type": "base64", "media_type": "application/pdf", "data": payload},
            }
        elif media.startswith("text/"):
            try:
                text = base64.b64decode(payload).decode("utf-8")
            except (binascii.Error, ValueError):
                raise BadRequest("file data is not valid base64 text", param=param) from None
            block = {
                "type": "document",
                "source": {"type": "text", "media_type": "text/plain", "data": text},
            }
        else:
            raise BadRequest(
                f"unsupported file type {media!r}; the upstream accepts PDF and text files",
                param=param,
            )
    elif url and url.startswith(("https://", "http://")):
        block = {"type": "document", "source": {"type": "url", "url": url}}
    else:
        raise BadRequest("a file needs data or an http(s) URL", param=param)
    if title:
        block["title"] = title
    return block


def upstream_headers(
    client_headers: Mapping[str, str], upstream: str, request_id: str
) -> dict[str, str]:
    """Credentials and Anthropic headers for the upstream; nothing else of the client's.

    The client's ``x-api-key`` or ``Authorization: Bearer`` token goes upstream as
    ``x-api-key``, and also as a Bearer token to Anthropic-compatible providers (GLM, Kimi,
    DeepSeek, MiniMax take Bearer tokens; Anthropic itself reads ``x-api-key`` and would treat
    ``Authorization`` as an OAuth token): the provider profile's ``auth``
    (``llmproxy.dialects.anthropic_providers``). ``anthropic-version`` is defaulted,
    ``anthropic-beta`` passed through, the request id sent along.
    """
    h = client_headers
    out: dict[str, str] = {
        "anthropic-version": h.get("anthropic-version") or ANTHROPIC_VERSION,
        "x-request-id": request_id,
    }
    key = h.get("x-api-key")
    auth = h.get("authorization", "")
    token = auth[7:].strip() if auth[:7].lower() == "bearer " else ""
    if key:
        out["x-api-key"] = key
    elif token:
        out["x-api-key"] = token
        if provider_for(upstream).auth == "both":
            out["authorization"] = f"Bearer {token}"
    if h.get("anthropic-beta"):
        out["anthropic-beta"] = h["anthropic-beta"]
    return out


# -- provider quirks (``llmproxy.dialects.anthropic_providers``) -------------------------------

#: ``json_object`` output has no Anthropic counterpart: an instruction.
JSON_OBJECT_INSTRUCTION: Final = "Respond with a single valid JSON object and nothing else."


def schema_instruction(
    schema: dict[str, Any], name: object = None, description: object = None
) -> str:
    """A JSON Schema output format as a system instruction, for upstreams or modes without
    constrained output (``output_config.format``)."""
    parts = [
        "Respond with a single JSON value that conforms to the JSON Schema below, and nothing "
        "else: no prose, no Markdown code fence."
    ]
    if isinstance(name, str) and name:
        parts.append(f"Schema name: {name}")
    if isinstance(description, str) and description:
        parts.append(f"Purpose: {description}")
    parts.append(msgspec.json.encode(schema).decode())
    return "\n\n".join(parts)


def media_note(kind: str, provider: ProviderProfile) -> dict[str, Any]:
    """What replaces an image or document the upstream does not accept: the model learns that
    something was there, and the conversation goes on instead of failing on every request."""
    return {
        "type": "text",
        "text": f"[{kind} omitted: the {provider.name} upstream does not accept {kind}s]",
    }


def every_tool_turn_thinks(turns: list[Turn]) -> bool:
    """Every assistant turn that called a tool starts with its thinking block (the stricter rule
    of providers that want all of the reasoning chain back, ``thinking_on_every_tool_turn``)."""
    return all(
        t.blocks[0].get("type") in ("thinking", "redacted_thinking")
        for t in turns
        if t.role == "assistant" and any(blk.get("type") == "tool_use" for blk in t.blocks)
    )


def provider_sampling(
    body: dict[str, Any],
    provider: ProviderProfile,
    model: str,
    temperature: float | None,
    *,
    thinking: bool,
) -> None:
    """Provider quirks on top of ``sampling_params`` (which follows Anthropic's [0, 1]): models
    whose sampling the provider fixes get none, wider and open ranges are honoured."""
    if provider.fixed_sampling(model):
        body.pop("temperature", None)
        body.pop("top_p", None)
        return
    if "temperature" not in body:
        return
    if not thinking and temperature is not None and provider.temperature_max > 1.0:
        body["temperature"] = min(max(temperature, 0.0), provider.temperature_max)
    if body["temperature"] < provider.temperature_floor:
        body["temperature"] = provider.temperature_floor
