"""What differs between Anthropic-compatible upstreams: one small profile per provider, matched
by the upstream's host. Pure data and lookups; the request builders read the profile.

The Messages API is implemented by Anthropic and, with gaps, by Z.ai (GLM), Moonshot (Kimi),
DeepSeek and MiniMax. Each quirk below names its source; "assumed" marks behaviour read from
other clients' code or issue threads rather than from the provider's own documentation (the
README repeats this table for operators)::

    quirk                        anthropic  zai   kimi  deepseek  minimax  generic
    auth header                  x-api-key  both  both  both      both     both
    image / document blocks      yes        yes   yes   no (doc)  no (doc) yes
    output_config.format         yes        no*   no*   no (doc)  no*      yes
    server tools (web_search)    yes        no*   no*   no*       no*      yes
    unsigned thinking replayed   no         yes*  yes*  yes*      yes*     no
    thinking on every tool turn  no         no    yes*  yes (err) yes(doc) no
    temperature range            [0,1]      [0,1] [0,1] [0,2](doc) (0,1](doc) [0,1]
    fixed sampling models        -          -     yes*  -         -        -

    * assumed (not in the provider's documentation; see README "Upstream providers")

``generic`` is any other upstream (a private gateway in front of Anthropic, a test fake): it is
treated like Anthropic except that the client's token also goes as a Bearer token.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal
from urllib.parse import urlsplit

__all__ = [
    "ANTHROPIC",
    "DEEPSEEK",
    "GENERIC",
    "KIMI",
    "MINIMAX",
    "PROVIDERS",
    "ZAI",
    "ProviderProfile",
    "provider_for",
    "structured_outputs_ok",
]


@dataclass(frozen=True, slots=True)
class ProviderProfile:
    name: str
    #: Host names this profile applies to (the host itself or any subdomain of it).
    hosts: tuple[str, ...] = ()
    #: ``x-api-key``: only that header (Anthropic reads ``Authorization`` as an OAuth token);
    #: ``both``: ``x-api-key`` and ``Authorization: Bearer``.
    auth: Literal["x-api-key", "both"] = "both"
    #: ``image`` / ``document`` content blocks are accepted. If not, each one is replaced by a
    #: short text note, so a conversation holding a screenshot keeps working.
    images: bool = True
    documents: bool = True
    #: ``output_config.format`` (JSON-schema constrained output) is accepted. If not, the
    #: schema travels as an instruction in ``system``.
    structured_outputs: bool = True
    #: Anthropic server tools (``web_search_20250305``) are accepted.
    server_tools: bool = True
    #: Thinking blocks may come without a signature, and are replayed unsigned.
    unsigned_thinking: bool = False
    #: With thinking on, every assistant turn that called tools (not only the current tool
    #: loop) must start with its thinking block; otherwise thinking is turned off.
    thinking_on_every_tool_turn: bool = False
    #: Accepted temperature range; ``temperature_floor`` > 0 for a range open at 0.
    temperature_max: float = 1.0
    temperature_floor: float = 0.0
    #: Model globs whose sampling the provider fixes: temperature and top_p are never sent.
    fixed_sampling_models: tuple[str, ...] = ()

    def fixed_sampling(self, model: str) -> bool:
        return any(fnmatch.fnmatchcase(model.lower(), g) for g in self.fixed_sampling_models)


ANTHROPIC: Final = ProviderProfile(name="anthropic", hosts=("api.anthropic.com",), auth="x-api-key")
GENERIC: Final = ProviderProfile(name="generic")
ZAI: Final = ProviderProfile(
    name="zai",
    hosts=("api.z.ai", "open.bigmodel.cn"),
    structured_outputs=False,
    server_tools=False,
    unsigned_thinking=True,
)
KIMI: Final = ProviderProfile(
    name="kimi",
    hosts=("api.moonshot.ai", "api.moonshot.cn", "api.kimi.com"),
    structured_outputs=False,
    server_tools=False,
    unsigned_thinking=True,
    thinking_on_every_tool_turn=True,
    fixed_sampling_models=(
        "kimi-k2-thinking*",
        "kimi-k2.6*",
        "kimi-k2.7*",
        "kimi-k3*",
        "kimi-for-*",
    ),
)
DEEPSEEK: Final = ProviderProfile(
    name="deepseek",
    hosts=("api.deepseek.com",),
    images=False,
    documents=False,
    structured_outputs=False,
    server_tools=False,
    unsigned_thinking=True,
    thinking_on_every_tool_turn=True,
    temperature_max=2.0,
)
MINIMAX: Final = ProviderProfile(
    name="minimax",
    hosts=("api.minimax.io", "api.minimaxi.com", "api.minimax.chat"),
    images=False,
    documents=False,
    structured_outputs=False,
    server_tools=False,
    unsigned_thinking=True,
    thinking_on_every_tool_turn=True,
    temperature_floor=0.01,
)

PROVIDERS: Final[Mapping[str, ProviderProfile]] = {
    p.name: p for p in (ANTHROPIC, ZAI, KIMI, DEEPSEEK, MINIMAX, GENERIC)
}

#: Anthropic models without structured outputs (GA from the 4.5 family on; reference §6.1).
_NO_STRUCTURED_OUTPUTS: Final = (
    "claude-3*",
    "claude-opus-4-0*",
    "claude-opus-4-1*",
    "claude-sonnet-4-0*",
    "claude-opus-4-2025*",
    "claude-sonnet-4-2025*",
)


def _host(upstream: str) -> str:
    try:
        return (urlsplit(upstream).hostname or "").lower()
    except ValueError:
        return ""


def provider_for(upstream: str, overrides: Mapping[str, str] | None = None) -> ProviderProfile:
    """The profile of the upstream base URL ``upstream``: an operator override for its host
    (``Settings.upstream_providers``: host -> profile name) first, then the built-in hosts."""
    host = _host(upstream)
    if overrides:
        name = overrides.get(host)
        if name is not None and name in PROVIDERS:
            return PROVIDERS[name]
    for profile in PROVIDERS.values():
        for h in profile.hosts:
            if host == h or host.endswith("." + h):
                return profile
    return GENERIC


def structured_outputs_ok(provider: ProviderProfile, model: str) -> bool:
    """Whether ``output_config.format`` may be sent for ``model`` on this provider."""
    if not provider.structured_outputs:
        return False
    return not any(fnmatch.fnmatchcase(model, g) for g in _NO_STRUCTURED_OUTPUTS)
