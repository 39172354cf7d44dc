"""What the gateway knows about Anthropic-compatible models: how each family thinks, its
output token default and ceiling, and its sampling rules. A table of ``ModelProfile`` entries
matched by glob; operators prepend their own (``Settings.models``).
"""

from __future__ import annotations

import fnmatch
from typing import Final

from llmproxy.config import ModelProfile

__all__ = ["ADAPTIVE_EFFORT", "BUDGET_BY_EFFORT", "BUILTIN_PROFILES", "profile_for"]

#: ``reasoning.effort`` -> ``thinking.budget_tokens`` for budget-style models.
BUDGET_BY_EFFORT: Final = {
    "minimal": 1024,
    "low": 4096,
    "medium": 8192,
    "high": 16384,
    "xhigh": 32768,
    "max": 63999,
}

#: ``reasoning.effort`` -> ``output_config.effort`` for adaptive models.
ADAPTIVE_EFFORT: Final = {
    "minimal": "low",
    "low": "low",
    "medium": "medium",
    "high": "high",
    "xhigh": "xhigh",
    "max": "max",
}

#: Built-in model table, first match wins; ``Settings.models`` entries are tried before it.
BUILTIN_PROFILES: Final = (
    # Adaptive-only families: thinking.type "enabled" is refused; sampling params removed.
    ModelProfile(
        match="claude-opus-4-7*",
        thinking="adaptive",
        default_max_tokens=32000,
        max_tokens_limit=128000,
        sampling=False,
    ),
    *(
        ModelProfile(
            match=f"claude-{family}-5*",
            thinking="adaptive",
            default_max_tokens=32000,
            max_tokens_limit=128000,
            sampling=False,
        )
        for family in ("opus", "sonnet", "haiku")
    ),
    ModelProfile(
        match="claude-5*",
        thinking="adaptive",
        default_max_tokens=32000,
        max_tokens_limit=128000,
        sampling=False,
    ),
    # 4.6: adaptive recommended (budget form deprecated but accepted).
    ModelProfile(
        match="claude-*-4-6*",
        thinking="adaptive",
        default_max_tokens=32000,
        max_tokens_limit=128000,
        one_sampling_param=True,
    ),
    ModelProfile(
        match="claude-opus-4*",
        thinking="budget",
        default_max_tokens=32000,
        max_tokens_limit=32000,
        one_sampling_param=True,
    ),
    ModelProfile(
        match="claude-*-4*",
        thinking="budget",
        default_max_tokens=32000,
        max_tokens_limit=64000,
        one_sampling_param=True,
    ),
    ModelProfile(
        match="claude-3-7*", thinking="budget", default_max_tokens=32000, max_tokens_limit=64000
    ),
    ModelProfile(
        match="claude-3*", thinking="none", default_max_tokens=8192, max_tokens_limit=8192
    ),
    # Anthropic-compatible providers (GLM, Kimi, DeepSeek, MiniMax, ...): budget thinking.
    ModelProfile(match="*", thinking="budget", default_max_tokens=32000, max_tokens_limit=128000),
)


def profile_for(model: str, extra: tuple[ModelProfile, ...] = ()) -> ModelProfile:
    for p in (*extra, *BUILTIN_PROFILES):
        if fnmatch.fnmatchcase(model, p.match):
            return p
    return BUILTIN_PROFILES[-1]
