"""Prompt-cache breakpoints for an Anthropic Messages request body. Pure: edits the dict.

OpenAI caches prompt prefixes implicitly; Anthropic caches only up to blocks marked with
``cache_control: {"type": "ephemeral"}`` (at most four per request), reading the longest
previously written prefix that ends at a block boundary within about 20 blocks before a
marker (platform.claude.com, "Prompt caching"). The cache key covers, in order, ``tools``,
``system`` and ``messages``. An agent loop (Codex, the Agents SDK) resends the whole
conversation with one more assistant turn and one more user turn each time, so these markers,
in this order of priority, make almost every request read what the previous one wrote:

1. the last block of the last user turn: the whole conversation so far is written;
2. the last ``system`` block: tools and instructions, stable across the session, survive even
   when the conversation part changes (a compaction, an edited history);
3. the last block of the user turn before it: the prefix the previous request wrote, read
   even when the new turns add more than the ~20-block look-back (many parallel tool calls);
4. the last tool: the tool definitions alone.

Markers the client placed (``input_text.prompt_cache_breakpoint``, already on their blocks)
come first and are never moved; automatic markers only fill the slots left, and a client that
placed more than four keeps its last four. ``ttl`` (``"1h"`` for ``prompt_cache_retention:
"24h"``; ``None`` for the default five minutes) applies to every marker, so the rule that
longer-lived markers come first always holds.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final

__all__ = ["MAX_BREAKPOINTS", "place_breakpoints"]

MAX_BREAKPOINTS: Final = 4
#: Blocks that cannot carry ``cache_control``.
_UNMARKABLE: Final = frozenset({"thinking", "redacted_thinking"})


def _marked(body: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every block of the request that carries ``cache_control``, in prefix order."""
    for tool in body.get("tools") or ():
        if isinstance(tool, dict) and tool.get("cache_control"):
            yield tool
    system = body.get("system")
    if isinstance(system, list):
        for block in system:
            if isinstance(block, dict) and block.get("cache_control"):
                yield block
    for message in body.get("messages") or ():
        content = message.get("content") if isinstance(message, dict) else None
        if not isinstance(content, list):
            continue
        for block in content:
            if not isinstance(block, dict):
                continue
            if block.get("cache_control"):
                yield block
            inner = block.get("content") if block.get("type") == "tool_result" else None
            if isinstance(inner, list):
                for sub in inner:
                    if isinstance(sub, dict) and sub.get("cache_control"):
                        yield sub


def _last_block(message: Any) -> dict[str, Any] | None:
    content = message.get("content") if isinstance(message, dict) else None
    if not isinstance(content, list) or not content:
        return None
    block = content[-1]
    if not isinstance(block, dict) or block.get("type") in _UNMARKABLE:
        return None
    return block


def place_breakpoints(body: dict[str, Any], *, auto: bool, ttl: str | None = None) -> int:
    """Complete the request's cache markers; returns how many it carries (at most four)."""
    marker: dict[str, Any] = {"type": "ephemeral"}
    if ttl is not None:
        marker["ttl"] = ttl
    client = list(_marked(body))
    for block in client[: max(0, len(client) - MAX_BREAKPOINTS)]:
        del block["cache_control"]
    client = client[-MAX_BREAKPOINTS:]
    for marked in client:
        marked["cache_control"] = dict(marker)
    count = len(client)
    if not auto:
        return count

    users = [
        m for m in body.get("messages") or () if isinstance(m, dict) and m.get("role") == "user"
    ]
    system = body.get("system")
    tools = body.get("tools")
    candidates: list[dict[str, Any] | None] = [
        _last_block(users[-1]) if users else None,
        system[-1] if isinstance(system, list) and system else None,
        _last_block(users[-2]) if len(users) >= 2 else None,
        tools[-1] if isinstance(tools, list) and tools else None,
    ]
    for candidate in candidates:
        if count >= MAX_BREAKPOINTS:
            break
        if isinstance(candidate, dict) and not candidate.get("cache_control"):
            candidate["cache_control"] = dict(marker)
            count += 1
    return count
