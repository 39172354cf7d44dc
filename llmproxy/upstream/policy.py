"""Which upstreams the gateway may reach.

The upstream URL comes from the request path, so strangers steer the gateway's outbound
connections. The default policy keeps it from becoming a way into the network it runs in:

* ``https`` only; no userinfo, query or fragment in the base;
* a host that is an IP address, in any spelling ``inet_aton`` accepts (``2130706433``,
  ``0x7f.1``, ``0177.0.0.1``) or in IPv6 form, must be globally routable;
* names that are local by definition (``localhost``, ``*.localhost``, ``*.local``,
  ``*.internal``, cloud metadata names) are refused without a lookup;
* other names are resolved at connect time by ``GuardedResolver``, which drops every address
  that is not globally routable; aiohttp then connects to an address that was checked, so a
  second lookup (DNS rebinding) cannot swap it.

Operators exempt upstreams with ``allow_upstream`` prefixes (``http://127.0.0.1:9100``,
``http://llm-gw.internal:8080/anthropic``): an upstream whose URL starts with one at a path
boundary is "trusted": any scheme of http/https, any address.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from yarl import URL

from llmproxy.errors import UpstreamNotAllowed

__all__ = [
    "BlockedAddress",
    "GuardedResolver",
    "UpstreamPolicy",
    "UpstreamTarget",
    "is_public_address",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_LOCAL_NAMES: Final = frozenset(
    {
        "localhost",
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "instance-data",
        "instance-data.ec2.internal",
    }
)
_LOCAL_SUFFIXES: Final = (".localhost", ".local", ".internal", ".localdomain", ".home.arpa")
_ALIAS: Final = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_NAT64: Final = ipaddress.IPv6Network("64:ff9b::/96")
_NAT64_LOCAL: Final = ipaddress.IPv6Network("64:ff9b:1::/48")
_SIX_TO_FOUR: Final = ipaddress.IPv6Network("2002::/16")


def is_public_address(ip: IPAddress) -> bool:
    """True only for globally routable unicast addresses, looking inside IPv6 wrappers."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return is_public_address(ip.ipv4_mapped)
        if ip in _NAT64:
            return is_public_address(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
        if ip in _NAT64_LOCAL:
            return False
        if ip in _SIX_TO_FOUR:
            return is_public_address(ipaddress.IPv4Address((int(ip) >> 80) & 0xFFFFFFFF))
        if ip.teredo is not None:
            return False
        if ip.sixtofour is not None:  # pragma: no cover - covered by the 2002::/16 branch
            return is_public_address(ip.sixtofour)
    if ip.is_multicast or ip.is_unspecified or ip.is_loopback or ip.is_link_local:
        return False
    if ip.is_private or ip.is_reserved:
        return False
    return bool(ip.is_global)


def parse_ip_literal(host: str) -> IPAddress | None:
    """The address a host string denotes, in any spelling a resolver would accept, or None."""
    h = host.strip("[]")
    try:
        return ipaddress.ip_address(h)
    except ValueError:
        pass
    if h and all(c in "0123456789abcdefxABCDEFX." for c in h) and any(c.isdigit() for c in h):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(h))
        except OSError:
            return None
    return None


@dataclass(frozen=True, slots=True)
class UpstreamTarget:
    base: str
    #: Exempted by the operator: connect without the address guard.
    trusted: bool
    host: str


def _prefix_matches(url: str, prefix: str) -> bool:
    if not url.startswith(prefix):
        return False
    if len(url) == len(prefix) or prefix.endswith("/"):
        return True
    return url[len(prefix)] == "/"


class UpstreamPolicy:
    """``allow``: exempt URL prefixes. ``aliases``: operator-named upstreams
    (``/claude2codex/zai/v1/responses`` with ``zai = "https://api.z.ai/api/anthropic"``), trusted
    like exemptions. ``allowlist_only``: refuse every upstream that is neither an alias nor
    under an ``allow`` prefix (a private deployment that must not relay openly)."""

    def __init__(
        self,
        allow: Sequence[str] = (),
        aliases: Mapping[str, str] | None = None,
        *,
        allowlist_only: bool = False,
    ) -> None:
        self._allow: Final = tuple(self._canonical(p, "allow_upstream entry") for p in allow)
        self._aliases: Final = {
            name: _strip_v1(self._canonical(url, f"upstream alias {name!r}"))
            for name, url in (aliases or {}).items()
        }
        for name in self._aliases:
            if not _ALIAS.fullmatch(name):
                raise ValueError(f"upstream alias {name!r} must match {_ALIAS.pattern}")
        self._allowlist_only: Final = allowlist_only

    @staticmethod
    def _canonical(url: str, what: str) -> str:
        try:
            u = URL(url)
        except ValueError as e:
            raise ValueError(f"{what} is not a URL") from e
        if u.scheme not in ("http", "https") or not u.host:
            raise ValueError(f"{what} must be an http(s) URL with a host")
        return str(u.with_query(None).with_fragment(None)).rstrip("/")

    def check(self, base: str) -> UpstreamTarget:
        """Refuse (``UpstreamNotAllowed``) or accept an upstream base URL or alias; no I/O."""
        if "://" not in base:
            alias = self._aliases.get(base.strip("/"))
            if alias is None:
                raise UpstreamNotAllowed(
                    "the upstream must be an absolute https URL or a configured alias",
                    param="upstream",
                )
            url = URL(alias)
            return UpstreamTarget(base=alias, trusted=True, host=(url.host or "").lower())
        try:
            url = URL(base)
        except ValueError as e:
            raise UpstreamNotAllowed("the upstream is not a valid URL", param="upstream") from e
        if url.scheme not in ("http", "https") or not url.host:
            raise UpstreamNotAllowed(
                "the upstream must be an absolute http(s) URL", param="upstream"
            )
        if url.user is not None or url.password is not None or "@" in (url.raw_authority or ""):
            raise UpstreamNotAllowed("the upstream URL must not carry userinfo", param="upstream")
        if url.query_string or url.fragment:
            raise UpstreamNotAllowed(
                "the upstream URL must not carry a query or fragment", param="upstream"
            )
        host = url.host.rstrip(".").lower()
        canonical = str(url).rstrip("/")
        for prefix in self._allow:
            if _prefix_matches(canonical, prefix):
                return UpstreamTarget(base=canonical, trusted=True, host=host)
        if self._allowlist_only:
            raise UpstreamNotAllowed(
                "this gateway only serves its configured upstreams", param="upstream"
            )
        if url.scheme != "https":
            raise UpstreamNotAllowed(
                "only https upstreams are allowed (an operator can exempt one with "
                "--allow-upstream)",
                param="upstream",
            )
        ip = parse_ip_literal(host)
        if ip is not None:
            if not is_public_address(ip):
                raise UpstreamNotAllowed(
                    "the upstream address is not publicly routable", param="upstream"
                )
        elif "%" in host or "%" in (url.raw_host or ""):
            raise UpstreamNotAllowed(
                "the upstream host must not be percent-encoded", param="upstream"
            )
        elif host in _LOCAL_NAMES or host.endswith(_LOCAL_SUFFIXES) or "." not in host:
            raise UpstreamNotAllowed("the upstream host is a local name", param="upstream")
        return UpstreamTarget(base=canonical, trusted=False, host=host)


def _strip_v1(base: str) -> str:
    # Routes add their own /v1/... path (llmproxy.urls): an alias base ends before it.
    return base[:-3] if base.lower().endswith("/v1") else base


class BlockedAddress(OSError):
    """Every address a name resolved to is not publicly routable."""


class GuardedResolver(AbstractResolver):
    """Resolves like the wrapped resolver, then keeps only publicly routable addresses."""

    def __init__(self, inner: AbstractResolver | None = None) -> None:
        self._inner: Final[AbstractResolver] = inner or DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        infos = await self._inner.resolve(host, port, family)
        allowed = [i for i in infos if _allowed(i)]
        if not allowed:
            raise BlockedAddress(f"{host} resolves only to addresses that are not public")
        return allowed

    async def close(self) -> None:
        await self._inner.close()


def _allowed(info: ResolveResult | dict[str, Any]) -> bool:
    try:
        return is_public_address(ipaddress.ip_address(info["host"]))
    except ValueError:
        return False
