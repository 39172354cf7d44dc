"""Reasoning for claude2codex: thinking blocks round-trip through ``encrypted_content``
envelopes (``llmproxy.envelope``), and ``reasoning.effort`` maps to thinking by the model table
(``llmproxy.dialects.anthropic_models``). Re-exported here, where the route's readers look.
"""

from llmproxy.dialects.anthropic_models import (
    ADAPTIVE_EFFORT,
    BUDGET_BY_EFFORT,
    BUILTIN_PROFILES,
    profile_for,
)
from llmproxy.envelope import Envelope

__all__ = ["ADAPTIVE_EFFORT", "BUDGET_BY_EFFORT", "BUILTIN_PROFILES", "Envelope", "profile_for"]
