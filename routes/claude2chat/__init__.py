"""claude2chat: the OpenAI Chat Completions API (JSON and SSE) in front of an Anthropic Messages
upstream, for openai-python, LangChain, the Agents SDK's chat model and any chat-only tool.

Registered through the ``llmproxy.routes`` entry point ``claude2chat = routes.claude2chat:route``.
"""

from __future__ import annotations

from llmproxy.config import Settings
from routes.claude2chat.route import Claude2Chat

__all__ = ["Claude2Chat", "route"]


def route(settings: Settings) -> Claude2Chat:
    return Claude2Chat(settings)
