"""The URL contract of DESIGN.md: ``/{route}/{upstream base URL}/{client endpoint}``, with every
form users produce (merged ``//``, percent-encoding, a base ending in ``/v1``, aliases)."""

from __future__ import annotations

import pytest

from llmproxy.contract import Endpoint
from llmproxy.errors import BadRequest, RouteNotFound
from llmproxy.urls import Target, join_upstream, parse_target, split_route

ROUTE = "claude2codex"
RESPONSES = Endpoint("POST", "responses")
MODELS = Endpoint("GET", "models")
ENDPOINTS = (RESPONSES, MODELS)
ZAI = "https://api.z.ai/api/anthropic"


def target(path: str, method: str = "POST", endpoints: tuple[Endpoint, ...] = ENDPOINTS) -> Target:
    """The whole contract: a raw request path (as aiohttp's ``raw_path``) to a Target."""
    route, rest = split_route(path)
    assert route == ROUTE
    return parse_target(route, rest, method, endpoints)


@pytest.mark.parametrize(
    ("path", "method", "endpoint", "upstream"),
    [
        # The two forms clients append to the base URL.
        pytest.param(
            f"/claude2codex/{ZAI}/v1/responses", "POST", RESPONSES, ZAI, id="v1-responses"
        ),
        pytest.param(f"/claude2codex/{ZAI}/responses", "POST", RESPONSES, ZAI, id="responses"),
        pytest.param(f"/claude2codex/{ZAI}/models", "GET", MODELS, ZAI, id="models"),
        pytest.param(f"/claude2codex/{ZAI}/v1/models", "GET", MODELS, ZAI, id="v1-models"),
        # A front proxy merged "//" into "/".
        pytest.param(
            "/claude2codex/https:/api.z.ai/api/anthropic/v1/responses",
            "POST",
            RESPONSES,
            ZAI,
            id="merged-slashes",
        ),
        pytest.param(
            "/claude2codex/https:/api.z.ai/api/anthropic/models",
            "GET",
            MODELS,
            ZAI,
            id="merged-slashes-models",
        ),
        pytest.param(
            "/claude2codex/http:/127.0.0.1:9100/v1/responses",
            "POST",
            RESPONSES,
            "http://127.0.0.1:9100",
            id="merged-slashes-http",
        ),
        pytest.param(
            "/claude2codex/https:///api.z.ai/api/anthropic/responses",
            "POST",
            RESPONSES,
            ZAI,
            id="three-slashes",
        ),
        pytest.param(
            "/claude2codex/HTTPS:/api.z.ai/api/anthropic/responses",
            "POST",
            RESPONSES,
            ZAI,
            id="upper-case-scheme",
        ),
        # A percent-encoded upstream.
        pytest.param(
            "/claude2codex/https%3A%2F%2Fapi.z.ai%2Fapi%2Fanthropic/v1/responses",
            "POST",
            RESPONSES,
            ZAI,
            id="percent-encoded",
        ),
        pytest.param(
            "/claude2codex/https%3a%2f%2fapi.z.ai%2fapi%2fanthropic/responses",
            "POST",
            RESPONSES,
            ZAI,
            id="percent-encoded-lower-case",
        ),
        pytest.param(
            "/claude2codex/https%3A%2F%2Fapi.z.ai%2Fapi%2Fanthropic%2Fv1%2Fresponses",
            "POST",
            RESPONSES,
            ZAI,
            id="percent-encoded-whole",
        ),
        pytest.param(
            "/claude2codex/https%3A%2Fapi.z.ai%2Fapi%2Fanthropic/responses",
            "POST",
            RESPONSES,
            ZAI,
            id="percent-encoded-and-merged",
        ),
        # A base URL that already ends in /v1: the /v1 belongs to the endpoint.
        pytest.param(
            f"/claude2codex/{ZAI}/v1/v1/responses",
            "POST",
            RESPONSES,
            f"{ZAI}/v1",
            id="only-one-v1-removed",
        ),
        pytest.param(f"/claude2codex/{ZAI}/V1/responses", "POST", RESPONSES, ZAI, id="upper-V1"),
        # Query strings are not part of the contract.
        pytest.param(
            f"/claude2codex/{ZAI}/v1/responses?api-version=2025-01-01",
            "POST",
            RESPONSES,
            ZAI,
            id="query",
        ),
        pytest.param(f"/claude2codex/{ZAI}/models?limit=5", "GET", MODELS, ZAI, id="query-models"),
        pytest.param(
            f"/claude2codex/{ZAI}/v1/responses?next=/v1/models", "POST", RESPONSES, ZAI, id="q-path"
        ),
        # Trailing slashes.
        pytest.param(f"/claude2codex/{ZAI}/v1/responses/", "POST", RESPONSES, ZAI, id="slash-end"),
        pytest.param(f"/claude2codex/{ZAI}//responses", "POST", RESPONSES, ZAI, id="slash-before"),
        pytest.param(f"/claude2codex/{ZAI}/v1//responses//", "POST", RESPONSES, ZAI, id="slashes"),
        pytest.param(f"/claude2codex/{ZAI}/models/", "GET", MODELS, ZAI, id="slash-models"),
        # Host-only upstreams.
        pytest.param(
            "/claude2codex/https://api.anthropic.com/v1/responses",
            "POST",
            RESPONSES,
            "https://api.anthropic.com",
            id="host-only",
        ),
        pytest.param(
            "/claude2codex/https://api.anthropic.com/responses",
            "POST",
            RESPONSES,
            "https://api.anthropic.com",
            id="host-only-no-v1",
        ),
        pytest.param(
            "/claude2codex/https://[2606:4700::1111]:8443/v1/responses",
            "POST",
            RESPONSES,
            "https://[2606:4700::1111]:8443",
            id="ipv6-literal-port",
        ),
        # Alias-like bare names (the policy decides whether the alias exists).
        pytest.param("/claude2codex/zai/v1/responses", "POST", RESPONSES, "zai", id="alias"),
        pytest.param("/claude2codex/zai/responses", "POST", RESPONSES, "zai", id="alias-no-v1"),
        pytest.param("/claude2codex/zai/models", "GET", MODELS, "zai", id="alias-models"),
        pytest.param(
            "/claude2codex/my-gw/anthropic/v1/responses",
            "POST",
            RESPONSES,
            "my-gw/anthropic",
            id="alias-with-path",
        ),
        # A path segment that merely ends in an endpoint's name is not that endpoint.
        pytest.param(
            "/claude2codex/https://x.example/responses/v1/responses",
            "POST",
            RESPONSES,
            "https://x.example/responses",
            id="endpoint-name-in-base",
        ),
    ],
)
def test_parse_target(path: str, method: str, endpoint: Endpoint, upstream: str) -> None:
    assert target(path, method) == Target(route=ROUTE, endpoint=endpoint, upstream=upstream)


@pytest.mark.parametrize(
    "path",
    [
        pytest.param(f"/claude2codex/{ZAI}/v1/responses", id="v1"),
        pytest.param(f"/claude2codex/{ZAI}/responses", id="no-v1"),
        pytest.param(
            "/claude2codex/https%3A%2F%2Fapi.z.ai%2Fapi%2Fanthropic%2Fv1/responses", id="enc"
        ),
        pytest.param("/claude2codex/https:/api.z.ai/api/anthropic/v1/responses", id="merged"),
    ],
)
def test_join_never_doubles_v1(path: str) -> None:
    url = join_upstream(target(path).upstream, "/v1/messages")
    assert url == "https://api.z.ai/api/anthropic/v1/messages"
    assert "/v1/v1" not in url


@pytest.mark.parametrize(
    ("base", "path", "joined"),
    [
        pytest.param(ZAI, "/v1/messages", f"{ZAI}/v1/messages", id="plain"),
        pytest.param(ZAI + "/", "/v1/messages", f"{ZAI}/v1/messages", id="base-slash"),
        pytest.param(ZAI, "v1/messages", f"{ZAI}/v1/messages", id="path-no-slash"),
        pytest.param(ZAI + "//", "//v1/models", f"{ZAI}/v1/models", id="many-slashes"),
        pytest.param(
            "https://api.anthropic.com", "/v1/messages", "https://api.anthropic.com/v1/messages"
        ),
    ],
)
def test_join_upstream(base: str, path: str, joined: str) -> None:
    assert join_upstream(base, path) == joined


@pytest.mark.parametrize(
    ("path", "method"),
    [
        pytest.param(f"/claude2codex/{ZAI}/v1/responses", "GET", id="get-responses"),
        pytest.param(f"/claude2codex/{ZAI}/responses", "PUT", id="put-responses"),
        pytest.param(f"/claude2codex/{ZAI}/v1/models", "POST", id="post-models"),
        pytest.param(f"/claude2codex/{ZAI}/models", "DELETE", id="delete-models"),
    ],
)
def test_method_mismatch_is_route_not_found(path: str, method: str) -> None:
    with pytest.raises(RouteNotFound, match=f"{method} is not served at") as info:
        target(path, method)
    assert info.value.http_status == 404


@pytest.mark.parametrize(
    "path",
    [
        pytest.param(f"/claude2codex/{ZAI}/v1/messages", id="messages"),
        pytest.param(f"/claude2codex/{ZAI}/v1/chat/completions", id="chat"),
        pytest.param(f"/claude2codex/{ZAI}/v1/responsesx", id="suffix-glued"),
        pytest.param(f"/claude2codex/{ZAI}/v1/xresponses", id="prefix-glued"),
        pytest.param(f"/claude2codex/{ZAI}/v1/responses/abc", id="sub-resource"),
        pytest.param(f"/claude2codex/{ZAI}/v1/Responses", id="case"),
        pytest.param(f"/claude2codex/{ZAI}", id="no-endpoint"),
        pytest.param("/claude2codex/https://api.z.ai", id="host-only-no-endpoint"),
        pytest.param("/claude2codex//", id="slashes-only"),
    ],
)
def test_unknown_endpoint_is_route_not_found(path: str) -> None:
    with pytest.raises(RouteNotFound, match="ends in none of them") as info:
        target(path)
    assert "POST responses" in info.value.message
    assert "GET models" in info.value.message


@pytest.mark.parametrize(
    ("path", "method"),
    [
        pytest.param("/claude2codex", "POST", id="nothing"),
        pytest.param("/claude2codex/", "POST", id="slash-only"),
        pytest.param("/claude2codex//responses", "POST", id="empty-segment"),
        pytest.param("/claude2codex//v1/responses", "POST", id="empty-segment-v1"),
        pytest.param("/claude2codex/responses", "POST", id="endpoint-only"),
        pytest.param("/claude2codex/v1/responses", "POST", id="v1-endpoint-only"),
        pytest.param("/claude2codex/V1/responses/", "POST", id="v1-endpoint-only-slash"),
        pytest.param("/claude2codex/models", "GET", id="models-only"),
        pytest.param("/claude2codex/v1/models", "GET", id="v1-models-only"),
        pytest.param("/claude2codex?x=1", "POST", id="query-only"),
    ],
)
def test_empty_upstream_is_bad_request(path: str, method: str) -> None:
    with pytest.raises(BadRequest, match="no upstream in the path") as info:
        target(path, method)
    assert info.value.param == "path"
    assert info.value.http_status == 400


def test_longest_endpoint_wins() -> None:
    chat = Endpoint("POST", "chat/completions")
    completions = Endpoint("POST", "completions")
    got = target(f"/claude2codex/{ZAI}/v1/chat/completions", endpoints=(completions, chat))
    assert got == Target(ROUTE, chat, ZAI)
    got = target(f"/claude2codex/{ZAI}/v1/completions", endpoints=(completions, chat))
    assert got == Target(ROUTE, completions, ZAI)


def test_method_mismatch_on_longer_endpoint_falls_back_to_shorter() -> None:
    # POST is not served at "chat/completions", but "completions" also matches at a path
    # boundary, so "/chat" becomes part of the base (and the policy judges that base).
    chat = Endpoint("GET", "chat/completions")
    completions = Endpoint("POST", "completions")
    got = target(f"/claude2codex/{ZAI}/v1/chat/completions", "POST", endpoints=(chat, completions))
    assert got == Target(ROUTE, completions, f"{ZAI}/v1/chat")


@pytest.mark.parametrize(
    ("raw", "route", "rest"),
    [
        pytest.param(f"/claude2codex/{ZAI}/v1/responses", ROUTE, f"{ZAI}/v1/responses", id="full"),
        pytest.param(f"/claude2codex/{ZAI}/responses?a=b&c=d", ROUTE, f"{ZAI}/responses", id="q"),
        pytest.param("/claude2codex", ROUTE, "", id="route-only"),
        pytest.param("/claude2codex/", ROUTE, "", id="route-slash"),
        pytest.param("/claude2codex?x=/y", ROUTE, "", id="route-query"),
        pytest.param("//claude2codex/zai/responses", ROUTE, "zai/responses", id="leading-slashes"),
        pytest.param("/", "", "", id="root"),
        pytest.param("", "", "", id="empty"),
    ],
)
def test_split_route(raw: str, route: str, rest: str) -> None:
    assert split_route(raw) == (route, rest)


def test_target_is_frozen() -> None:
    t = target(f"/claude2codex/{ZAI}/responses")
    with pytest.raises(AttributeError):
        t.upstream = "https://evil.example"  # type: ignore[misc]
