"""The route registry: built once from ``llmproxy.routes`` entry points, strict about names,
immutable afterwards. The factories below are loaded by the tests' own entry points."""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import dataclass
from importlib.metadata import EntryPoint

import pytest

from llmproxy.config import Settings
from llmproxy.contract import ClientRequest, Endpoint, Exchange, Reply, Route
from llmproxy.errors import GatewayError, RouteNotFound
from llmproxy.registry import ENTRY_POINT_GROUP, Registry, RegistryError

MODULE = __name__  # "tests.llmproxy.test_registry", importable by EntryPoint.load()


@dataclass
class FakeRoute:
    name: str
    endpoints: tuple[Endpoint, ...] = (Endpoint("POST", "responses"),)
    stream_content_type: str = "text/event-stream"

    def open(self, request: ClientRequest) -> Exchange:
        raise NotImplementedError

    def render_error(self, error: GatewayError) -> Reply:
        return Reply(status=error.http_status, body=error.message.encode())


class NotARoute:
    name = "incomplete"


def fake_factory(settings: Settings) -> FakeRoute:
    return FakeRoute("fake")


def other_factory(settings: Settings) -> FakeRoute:
    return FakeRoute("other")


def broken_factory(settings: Settings) -> FakeRoute:
    raise RuntimeError("the plugin is broken")


def settings_factory(settings: Settings) -> FakeRoute:
    # Proves the factory receives the gateway's settings.
    return FakeRoute(f"port-{settings.port}")


def not_a_route_factory(settings: Settings) -> NotARoute:
    return NotARoute()


def ep(name: str, attr: str) -> EntryPoint:
    return EntryPoint(name=name, value=f"{MODULE}:{attr}", group=ENTRY_POINT_GROUP)


# -- Registry(routes) -----------------------------------------------------------------------


def test_registry_is_a_read_only_mapping() -> None:
    a, b = FakeRoute("a"), FakeRoute("b")
    registry = Registry([a, b])
    assert len(registry) == 2
    assert list(registry) == ["a", "b"]
    assert registry["a"] is a
    assert registry.lookup("b") is b
    assert "a" in registry
    assert "c" not in registry
    assert not isinstance(registry, MutableMapping)
    assert not hasattr(registry, "__setitem__")


def test_registry_does_not_follow_the_input_list() -> None:
    routes: list[Route] = [FakeRoute("a")]
    registry = Registry(routes)
    routes.append(FakeRoute("b"))
    assert list(registry) == ["a"]


def test_duplicate_route_name() -> None:
    with pytest.raises(RegistryError, match="duplicate route name 'a'"):
        Registry([FakeRoute("a"), FakeRoute("b"), FakeRoute("a")])


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("Bad Name", id="space-and-upper-case"),
        pytest.param("../x", id="dot-dot"),
        pytest.param("a/b", id="slash"),
        pytest.param("", id="empty"),
        pytest.param("Claude2codex", id="upper-case"),
        pytest.param("2codex", id="leading-digit"),
        pytest.param("-x", id="leading-dash"),
        pytest.param("x" * 64, id="too-long"),
        pytest.param("route\n", id="trailing-newline"),
        pytest.param("https:", id="colon"),
    ],
)
def test_bad_route_name(name: str) -> None:
    with pytest.raises(RegistryError, match="must match"):
        Registry([FakeRoute(name)])


@pytest.mark.parametrize("name", ["a", "claude2codex", "chat2claude", "my-route_2", "x" * 63])
def test_good_route_name(name: str) -> None:
    assert list(Registry([FakeRoute(name)])) == [name]


def test_object_that_is_not_a_route() -> None:
    with pytest.raises(RegistryError, match="does not implement the Route protocol"):
        Registry([NotARoute()])  # type: ignore[list-item]


def test_lookup_unknown_route_lists_known_routes() -> None:
    registry = Registry([FakeRoute("zeta"), FakeRoute("alpha")])
    with pytest.raises(RouteNotFound) as info:
        registry.lookup("claude2codx")
    assert info.value.http_status == 404
    assert info.value.message == "unknown route 'claude2codx'; this gateway serves: alpha, zeta"


def test_lookup_in_an_empty_registry() -> None:
    with pytest.raises(RouteNotFound, match="this gateway serves: none"):
        Registry([]).lookup("claude2codex")


def test_getitem_unknown_is_a_key_error() -> None:
    with pytest.raises(KeyError):
        Registry([FakeRoute("a")])["b"]


# -- Registry.from_entry_points ---------------------------------------------------------------


def test_from_entry_points() -> None:
    registry = Registry.from_entry_points(
        Settings(), [ep("fake", "fake_factory"), ep("other", "other_factory")]
    )
    assert sorted(registry) == ["fake", "other"]
    assert isinstance(registry["fake"], FakeRoute)


def test_factory_receives_the_settings() -> None:
    registry = Registry.from_entry_points(
        Settings(port=9999), [ep("port-9999", "settings_factory")]
    )
    assert list(registry) == ["port-9999"]


def test_no_entry_points_is_an_empty_registry() -> None:
    assert len(Registry.from_entry_points(Settings(), [])) == 0


def test_plugin_whose_load_raises() -> None:
    with pytest.raises(RegistryError) as info:
        Registry.from_entry_points(Settings(), [ep("broken", "broken_factory")])
    message = str(info.value)
    assert "route plugin 'broken'" in message
    assert f"{MODULE}:broken_factory" in message
    assert "RuntimeError: the plugin is broken" in message
    assert isinstance(info.value.__cause__, RuntimeError)


@pytest.mark.parametrize(
    ("value", "error"),
    [
        pytest.param("tests.llmproxy.no_such_module:route", "ModuleNotFoundError", id="module"),
        pytest.param(f"{MODULE}:no_such_factory", "AttributeError", id="attribute"),
    ],
)
def test_plugin_that_cannot_be_imported(value: str, error: str) -> None:
    missing = EntryPoint(name="missing", value=value, group=ENTRY_POINT_GROUP)
    with pytest.raises(RegistryError, match=f"route plugin 'missing' .* failed to load: {error}"):
        Registry.from_entry_points(Settings(), [missing])


def test_entry_point_name_differs_from_route_name() -> None:
    with pytest.raises(RegistryError) as info:
        Registry.from_entry_points(Settings(), [ep("renamed", "fake_factory")])
    message = str(info.value)
    assert "'renamed'" in message
    assert "named 'fake'" in message
    assert "must agree" in message


def test_duplicate_entry_point_names_name_both_plugins() -> None:
    first = ep("fake", "fake_factory")
    second = EntryPoint(name="fake", value="thirdparty.routes:fake", group=ENTRY_POINT_GROUP)
    with pytest.raises(RegistryError, match="duplicate route name 'fake'") as info:
        Registry.from_entry_points(Settings(), [first, second])
    assert f"{MODULE}:fake_factory" in str(info.value)
    assert "thirdparty.routes:fake" in str(info.value)


def test_duplicate_is_refused_before_the_second_plugin_loads() -> None:
    # The duplicate's target does not exist: the name clash is reported, not an import error.
    first = ep("fake", "fake_factory")
    second = EntryPoint(name="fake", value="tests.llmproxy.nowhere:x", group=ENTRY_POINT_GROUP)
    with pytest.raises(RegistryError, match="duplicate route name"):
        Registry.from_entry_points(Settings(), [first, second])


def test_plugin_that_builds_something_else() -> None:
    with pytest.raises(RegistryError, match="does not implement the Route protocol"):
        Registry.from_entry_points(Settings(), [ep("incomplete", "not_a_route_factory")])


def test_installed_entry_points_include_claude2codex() -> None:
    registry = Registry.from_entry_points(Settings(reasoning_key="test-key"))
    assert "claude2codex" in registry
    route = registry.lookup("claude2codex")
    assert route.name == "claude2codex"
    assert isinstance(route, Route)
    assert {(e.method, e.path) for e in route.endpoints} >= {("POST", "responses")}
