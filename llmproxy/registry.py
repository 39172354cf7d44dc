"""The route registry: built once at start-up from the ``llmproxy.routes`` entry points.

Built-in routes register through the same entry-point group a third-party package uses. A
duplicate or malformed name, or a plugin that fails to load, is a start-up error naming the
plugin; nothing changes after start-up.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from importlib.metadata import EntryPoint, entry_points
from types import MappingProxyType
from typing import Final

from llmproxy.config import Settings
from llmproxy.contract import Route, RouteFactory
from llmproxy.errors import RouteNotFound

__all__ = ["ENTRY_POINT_GROUP", "Registry", "RegistryError"]

ENTRY_POINT_GROUP: Final = "llmproxy.routes"
_NAME: Final = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")


class RegistryError(RuntimeError):
    """The registry cannot be built; the message names the plugin."""


class Registry(Mapping[str, Route]):
    def __init__(self, routes: Iterable[Route]) -> None:
        table: dict[str, Route] = {}
        for route in routes:
            if not isinstance(route, Route):
                raise RegistryError(f"{route!r} does not implement the Route protocol")
            if not _NAME.fullmatch(route.name):
                raise RegistryError(
                    f"route name {route.name!r} must match {_NAME.pattern} (it is a path segment)"
                )
            if route.name in table:
                raise RegistryError(f"duplicate route name {route.name!r}")
            table[route.name] = route
        self._routes: Final = MappingProxyType(table)

    @classmethod
    def from_entry_points(
        cls, settings: Settings, eps: Iterable[EntryPoint] | None = None
    ) -> Registry:
        eps = entry_points(group=ENTRY_POINT_GROUP) if eps is None else eps
        routes: list[Route] = []
        seen: dict[str, str] = {}
        for ep in eps:
            if ep.name in seen:
                raise RegistryError(
                    f"duplicate route name {ep.name!r}: {seen[ep.name]} and {ep.value}"
                )
            seen[ep.name] = ep.value
            try:
                factory: RouteFactory = ep.load()
                route = factory(settings)
            except Exception as e:
                raise RegistryError(
                    f"route plugin {ep.name!r} ({ep.value}) failed to load: {type(e).__name__}: {e}"
                ) from e
            if getattr(route, "name", None) != ep.name:
                raise RegistryError(
                    f"route plugin {ep.name!r} ({ep.value}) built a route named "
                    f"{getattr(route, 'name', None)!r}; the entry point and the route must agree"
                )
            routes.append(route)
        return cls(routes)

    def lookup(self, name: str) -> Route:
        try:
            return self._routes[name]
        except KeyError:
            known = ", ".join(sorted(self._routes)) or "none"
            raise RouteNotFound(f"unknown route {name!r}; this gateway serves: {known}") from None

    def __getitem__(self, name: str) -> Route:
        return self._routes[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._routes)

    def __len__(self) -> int:
        return len(self._routes)
