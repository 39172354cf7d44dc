"""The URL contract: ``/{route}/{upstream base URL}/{client endpoint}``.

``/claude2codex/https://api.z.ai/api/anthropic/v1/responses`` serves the route's ``responses``
endpoint and names the upstream base ``https://api.z.ai/api/anthropic``. Things users do that
must work, each handled here:

* a front proxy that merged ``//`` into ``/`` (``https:/api.z.ai/...``): repaired;
* a percent-encoded upstream (``https%3A%2F%2Fapi.z.ai%2F...``): decoded once;
* a base URL that already ends in ``/v1`` (``.../anthropic/v1`` + ``/responses``): the ``/v1``
  belongs to the endpoint, so the base never ends in ``/v1`` and routes add their own
  ``/v1/...`` path: no doubled ``/v1/v1``.

Pure functions; the policy check of the resulting base lives in ``llmproxy.upstream.policy``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final
from urllib.parse import unquote

from llmproxy.contract import Endpoint
from llmproxy.errors import BadRequest, RouteNotFound

__all__ = ["Target", "join_upstream", "parse_target", "split_route"]

_SCHEME_ENCODED: Final = re.compile(r"^https?%3a", re.IGNORECASE)
_SCHEME_MERGED: Final = re.compile(r"^(https?):/+(?=[^/])", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Target:
    route: str
    endpoint: Endpoint
    #: Upstream base URL, or an operator alias name; never ends in ``/`` or ``/v1``.
    upstream: str


def split_route(raw_path: str) -> tuple[str, str]:
    """``/claude2codex/rest...`` -> (``claude2codex``, ``rest...``). The query is not included."""
    path = raw_path.split("?", 1)[0].lstrip("/")
    route, _, rest = path.partition("/")
    return route, rest


def _normalise_upstream(rest: str) -> str:
    if _SCHEME_ENCODED.match(rest):
        rest = unquote(rest)
    m = _SCHEME_MERGED.match(rest)
    if m:
        rest = f"{m.group(1).lower()}://{rest[m.end() :]}"
    return rest


def parse_target(route: str, rest: str, method: str, endpoints: tuple[Endpoint, ...]) -> Target:
    """Split ``rest`` into the upstream base and the client endpoint the route serves."""
    rest = _normalise_upstream(rest)
    if not rest:
        raise BadRequest(
            f"no upstream in the path: use /{route}/<upstream base URL>/<endpoint>",
            param="path",
        )
    # Match against "/" + rest, so that a path that is only an endpoint ("responses",
    # "v1/responses") leaves an empty upstream (BadRequest) instead of matching no endpoint.
    path_only = "/" + rest.rstrip("/")
    best: tuple[Endpoint, str] | None = None
    method_mismatch: Endpoint | None = None
    for ep in sorted(endpoints, key=lambda e: len(e.path), reverse=True):
        suffix = "/" + ep.path
        if not path_only.endswith(suffix):
            continue
        if ep.method != method:
            method_mismatch = method_mismatch or ep
            continue
        best = (ep, path_only[: -len(suffix)])
        break
    if best is None:
        if method_mismatch is not None:
            raise RouteNotFound(
                f"{method} is not served at {method_mismatch.path}; "
                f"the {route} route accepts {method_mismatch.method} there"
            )
        served = ", ".join(f"{e.method} {e.path}" for e in endpoints)
        raise RouteNotFound(f"the {route} route serves {served}; this path ends in none of them")
    endpoint, base = best
    base = base.rstrip("/")
    if base.lower().endswith("/v1"):
        base = base[:-3]
    base = base[1:].rstrip("/")  # drop the "/" added above
    if not base:
        raise BadRequest(
            f"no upstream in the path: use /{route}/<upstream base URL>/{endpoint.path}",
            param="path",
        )
    return Target(route=route, endpoint=endpoint, upstream=base)


def join_upstream(base: str, path: str) -> str:
    """Join a base (without trailing ``/v1``) and a route's upstream path (``/v1/messages``)."""
    return base.rstrip("/") + "/" + path.lstrip("/")
