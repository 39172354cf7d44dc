"""codex2claude: the Anthropic Messages API (JSON and SSE) in front of an OpenAI Responses
upstream, for Claude Code and Anthropic SDK clients on OpenAI models.

Registered through the ``llmproxy.routes`` entry point ``codex2claude = routes.codex2claude:route``.
"""

from __future__ import annotations

from llmproxy.config import Settings
from routes.codex2claude.route import Codex2Claude

__all__ = ["Codex2Claude", "route"]


def route(settings: Settings) -> Codex2Claude:
    return Codex2Claude(settings)
