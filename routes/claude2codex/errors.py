"""Gateway and Anthropic errors -> what OpenAI Responses clients expect (reference §6.10).

Before the stream, an HTTP error in OpenAI's shape: ``render_error``, shared with every route
that puts an OpenAI surface in front of Anthropic (``llmproxy.dialects.anthropic_openai``, which
holds the status table). Inside a stream the same errors end it with ``response.failed``, whose
``error.code`` Codex reads: ``context_length_exceeded`` stops it; ``server_error`` and
``rate_limit_exceeded`` (with "try again in Ns") are retried.
"""

from __future__ import annotations

from llmproxy.dialects.anthropic_openai import CONTEXT_OVERFLOW, render_error
from llmproxy.errors import GatewayError, UpstreamStatusError, UpstreamTimeout

__all__ = ["failure_code", "render_error"]


def failure_code(error: GatewayError) -> tuple[str, str]:
    """``response.failed`` error code and message for an error inside the stream."""
    if isinstance(error, UpstreamStatusError):
        etype = error.error_type or ""
        if etype == "rate_limit_error" or error.upstream_status == 429:
            wait = error.retry_after or "1"
            return "rate_limit_exceeded", f"{error.message}. Please try again in {wait}s."
        if CONTEXT_OVERFLOW.search(error.message):
            return "context_length_exceeded", error.message
        if etype == "invalid_request_error":
            return "invalid_prompt", error.message
        if etype == "billing_error":
            return "insufficient_quota", error.message
        # overloaded, api_error, timeout: retryable for Codex.
        return "server_error", f"{error.message} ({etype or error.upstream_status})"
    if isinstance(error, UpstreamTimeout):
        return "server_error", error.message
    return "server_error", error.message
