"""Settings: strict (unknown keys are errors), built from defaults, the environment, an optional
TOML file and command-line flags, in increasing order of precedence.

Environment variables (all optional)::

    LLMPROXY_HOST, LLMPROXY_PORT
    LLMPROXY_ALLOW_UPSTREAM        upstream URL prefixes exempt from the default policy,
                                   separated by commas or whitespace
    LLMPROXY_REASONING_KEY         secret for reasoning envelopes; replicas must share it
    LLMPROXY_LOG_FORMAT            json | console
    LLMPROXY_LOG_LEVEL             debug | info | warning | error
    LLMPROXY_MODEL_MAP             client model -> upstream model, "gpt-5.5=glm-4.6,..."
    LLMPROXY_UPSTREAMS             upstream aliases, "zai=https://api.z.ai/api/anthropic,..."
    LLMPROXY_ALLOWLIST_ONLY        "1"/"true": serve only aliases and allow_upstream prefixes
    LLMPROXY_SHUTDOWN_GRACE        seconds in-flight streams get to finish after SIGTERM
    LLMPROXY_LOG_BODIES            "1": log redacted request bodies at debug level
    LLMPROXY_CONFIG                path of a TOML settings file
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from typing import Literal

import msgspec

__all__ = ["ModelProfile", "Settings", "load_settings", "parse_pairs"]


class ModelProfile(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """How to talk to one family of upstream models, matched by a glob on the model id.

    ``thinking``: ``budget`` (``thinking.type=enabled`` + ``budget_tokens``), ``adaptive``
    (``thinking.type=adaptive`` + ``output_config.effort``) or ``none``.
    """

    match: str
    thinking: Literal["budget", "adaptive", "none"] = "budget"
    #: ``max_tokens`` when the client sends no ``max_output_tokens`` (Codex never does).
    default_max_tokens: int = 32000
    #: The model's own ceiling; client values above it are clamped.
    max_tokens_limit: int = 64000
    #: False for models that refuse temperature/top_p entirely.
    sampling: bool = True
    #: True for models that refuse temperature and top_p together.
    one_sampling_param: bool = False


class Settings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    host: str = "127.0.0.1"
    port: int = 8080
    #: URL prefixes (origin, or origin + path) allowed even where the default policy refuses.
    allow_upstream: list[str] = msgspec.field(default_factory=list)
    #: Operator-named upstreams: ``/claude2codex/zai/v1/responses`` with
    #: ``zai = "https://api.z.ai/api/anthropic"``. Trusted like ``allow_upstream``.
    upstreams: dict[str, str] = msgspec.field(default_factory=dict)
    #: Refuse every upstream that is neither an alias nor under an ``allow_upstream`` prefix.
    allowlist_only: bool = False
    log_format: Literal["json", "console"] = "json"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    #: Debug aid: log client and upstream request bodies (redacted: secrets replaced, long
    #: text cut, media elided) at debug level. Off by default: prompts are user data.
    log_bodies: bool = False
    #: Secret for reasoning envelopes. Unset: a random per-process key (logged as a warning);
    #: envelopes then do not survive a restart or another replica, and thinking is dropped.
    reasoning_key: str | None = None
    #: Client model name -> upstream model name.
    model_map: dict[str, str] = msgspec.field(default_factory=dict)
    #: Extra model profiles, tried before the built-in table.
    models: list[ModelProfile] = msgspec.field(default_factory=list)
    #: Limits.
    max_body_bytes: int = 32 * 1024 * 1024
    max_input_items: int = 20000
    max_sse_line_bytes: int = 4 * 1024 * 1024
    max_error_body_bytes: int = 256 * 1024
    max_reply_bytes: int = 64 * 1024 * 1024
    #: Timeouts, seconds.
    connect_timeout: float = 10.0
    first_byte_timeout: float = 120.0
    idle_timeout: float = 300.0
    #: Upstream silence after which the client gets a keep-alive event, seconds.
    heartbeat_interval: float = 15.0
    #: Upstream retries before the first byte reaches the client (connect errors, 429, 503,
    #: 529), and the total seconds they may wait (``retry-after`` honoured within it).
    max_retries: int = 2
    max_retry_wait: float = 10.0
    #: Seconds in-flight streams get to finish after SIGTERM.
    shutdown_grace: float = 30.0
    #: Prompt caching: mark the stable prefix of Anthropic requests with cache breakpoints
    #: (a client turns it off per request with ``prompt_cache_options.mode: "explicit"``).
    auto_cache_breakpoints: bool = True
    #: Upstream turns a paused response (Anthropic ``pause_turn``) may be continued with.
    max_continuations: int = 4
    #: Upstream host -> provider profile (``anthropic``, ``zai``, ``kimi``, ``deepseek``,
    #: ``minimax``, ``generic``) for hosts the built-in table does not know (a private proxy).
    upstream_providers: dict[str, str] = msgspec.field(default_factory=dict)


_ENV: Mapping[str, str] = {
    "LLMPROXY_HOST": "host",
    "LLMPROXY_PORT": "port",
    "LLMPROXY_ALLOW_UPSTREAM": "allow_upstream",
    "LLMPROXY_REASONING_KEY": "reasoning_key",
    "LLMPROXY_LOG_FORMAT": "log_format",
    "LLMPROXY_LOG_LEVEL": "log_level",
    "LLMPROXY_MODEL_MAP": "model_map",
    "LLMPROXY_UPSTREAMS": "upstreams",
    "LLMPROXY_ALLOWLIST_ONLY": "allowlist_only",
    "LLMPROXY_SHUTDOWN_GRACE": "shutdown_grace",
    "LLMPROXY_LOG_BODIES": "log_bodies",
}


def _split_list(value: str) -> list[str]:
    return [p for p in value.replace(",", " ").split() if p]


def parse_pairs(value: str) -> dict[str, str]:
    """``a=b,c=d`` (commas or whitespace between pairs) -> ``{a: b, c: d}``."""
    out: dict[str, str] = {}
    for pair in _split_list(value):
        client, sep, upstream = pair.partition("=")
        if not sep or not client or not upstream:
            raise ValueError(f"entry {pair!r} is not NAME=VALUE")
        out[client] = upstream
    return out


def load_settings(
    overrides: Mapping[str, object] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    config_file: str | None = None,
) -> Settings:
    """Defaults < TOML file < environment < ``overrides`` (command-line flags)."""
    env = os.environ if environ is None else environ
    raw: dict[str, object] = {}
    path = config_file or env.get("LLMPROXY_CONFIG")
    if path:
        with open(path, "rb") as f:
            raw.update(tomllib.load(f))
    for var, key in _ENV.items():
        env_value = env.get(var)
        if not env_value:
            continue
        if key == "allow_upstream":
            raw[key] = _split_list(env_value)
        elif key in ("model_map", "upstreams"):
            raw[key] = parse_pairs(env_value)
        elif key in ("allowlist_only", "log_bodies"):
            raw[key] = env_value.strip().lower() in ("1", "true", "yes", "on")
        else:
            raw[key] = env_value
    for key, value in (overrides or {}).items():
        if value is None:
            continue
        if key == "upstreams" and isinstance(value, dict):
            existing_map = raw.get(key)
            raw[key] = {**(existing_map if isinstance(existing_map, dict) else {}), **value}
        elif key == "allow_upstream":
            existing = raw.get(key)
            merged = list(existing) if isinstance(existing, list) else []
            merged.extend(value if isinstance(value, list) else [value])
            raw[key] = merged
        else:
            raw[key] = value
    try:
        return msgspec.convert(raw, Settings, strict=False)
    except msgspec.ValidationError as e:
        raise ValueError(f"invalid settings: {e}") from e
