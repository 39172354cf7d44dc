"""claude2codex: the OpenAI Responses API (JSON and SSE) in front of an Anthropic Messages
upstream, for Codex CLI, the OpenAI Agents SDK and any Responses client.

Registered through the ``llmproxy.routes`` entry point ``claude2codex = routes.claude2codex:route``.
"""

from __future__ import annotations

from llmproxy.config import Settings
from routes.claude2codex.route import Claude2Codex

__all__ = ["Claude2Codex", "route"]


def route(settings: Settings) -> Claude2Codex:
    return Claude2Codex(settings)
