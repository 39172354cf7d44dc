"""The HTTP client side of the I/O shell: pooled sessions, the address guard, timeouts.

Two sessions share one configuration: ``guarded`` (its resolver drops non-public addresses) for
upstreams named in request paths, and ``trusted`` for operator-exempted upstreams. Neither
follows redirects, reads proxy settings from the environment, or keeps cookies.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Final

import aiohttp
from aiohttp.abc import AbstractResolver

from llmproxy.config import Settings
from llmproxy.contract import UpstreamRequest
from llmproxy.errors import (
    UpstreamConnectError,
    UpstreamNotAllowed,
    UpstreamProtocolError,
    UpstreamTimeout,
)
from llmproxy.upstream.policy import BlockedAddress, GuardedResolver, UpstreamTarget
from llmproxy.urls import join_upstream

__all__ = ["UpstreamClient"]

_USER_AGENT: Final = "llmproxy/0.1"


class UpstreamClient:
    def __init__(self, settings: Settings, *, resolver: AbstractResolver | None = None) -> None:
        self._settings: Final = settings
        self._resolver = resolver
        self._guarded: aiohttp.ClientSession | None = None
        self._trusted: aiohttp.ClientSession | None = None

    def _session(self, resolver: AbstractResolver | None) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            limit=0,  # concurrency is bounded by the server, not the pool
            limit_per_host=0,
            ttl_dns_cache=60,
            resolver=resolver,
            enable_cleanup_closed=True,
        )
        return aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=self._settings.connect_timeout),
            cookie_jar=aiohttp.DummyCookieJar(),
            trust_env=False,
            auto_decompress=True,
            skip_auto_headers=("User-Agent",),
            read_bufsize=2**16,
        )

    async def start(self) -> None:
        self._guarded = self._session(GuardedResolver(self._resolver))
        self._trusted = self._session(self._resolver)

    async def close(self) -> None:
        for s in (self._guarded, self._trusted):
            if s is not None:
                await s.close()

    @asynccontextmanager
    async def open(
        self, target: UpstreamTarget, req: UpstreamRequest
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """Send ``req`` and yield the response once its headers arrived.

        Errors before the headers become ``UpstreamConnectError`` / ``UpstreamTimeout`` /
        ``UpstreamNotAllowed``. Leaving the block early closes the connection.
        """
        session = self._trusted if target.trusted else self._guarded
        assert session is not None, "UpstreamClient.start() was not awaited"
        headers: dict[str, str] = {"User-Agent": _USER_AGENT, **req.headers}
        url = join_upstream(target.base, req.path)
        try:
            async with asyncio.timeout(
                self._settings.connect_timeout + self._settings.first_byte_timeout
            ):
                resp = await session.request(
                    req.method,
                    url,
                    data=req.body,
                    headers=headers,
                    allow_redirects=False,
                    compress=None,
                )
        except TimeoutError as e:
            raise UpstreamTimeout("the upstream did not answer in time") from e
        except aiohttp.ClientConnectorDNSError as e:
            if isinstance(e.os_error, BlockedAddress) or isinstance(e.__cause__, BlockedAddress):
                raise UpstreamNotAllowed(
                    "the upstream host resolves to an address that is not publicly routable",
                    param="upstream",
                ) from e
            raise UpstreamConnectError(f"cannot resolve the upstream host {target.host}") from e
        except aiohttp.ClientConnectorError as e:
            raise UpstreamConnectError(f"cannot connect to the upstream {target.host}") from e
        except aiohttp.ClientError as e:
            raise UpstreamConnectError(
                f"the upstream {target.host} closed the connection: {type(e).__name__}"
            ) from e
        try:
            yield resp
        finally:
            if resp.content.at_eof():
                resp.release()  # fully read: the connection goes back to the pool
            else:
                resp.close()  # abandoned mid-reply: the connection is closed at once


async def read_limited(resp: aiohttp.ClientResponse, limit: int, within: float) -> bytes:
    """Read a whole reply body of at most ``limit`` bytes."""
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(within):
            async for chunk in resp.content.iter_any():
                size += len(chunk)
                if size > limit:
                    raise UpstreamProtocolError(f"the upstream reply is larger than {limit} bytes")
                chunks.append(chunk)
    except TimeoutError as e:
        raise UpstreamTimeout("the upstream reply did not complete in time") from e
    except aiohttp.ClientError as e:
        raise UpstreamProtocolError("the upstream connection broke during the reply") from e
    return b"".join(chunks)


def header_view(resp: aiohttp.ClientResponse) -> Mapping[str, str]:
    return {k.lower(): v for k, v in resp.headers.items()}
