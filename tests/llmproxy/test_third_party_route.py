"""A third-party route, installed the way a user installs one, served by the real command line.

``examples/llmproxy-echo-route`` is built and installed with pip (no network: ``--no-index``,
``--no-build-isolation``) into a temporary directory that only the child processes see through
``PYTHONPATH``: the shared venv is never touched, so no other test sees the plugin and nothing
is left to uninstall. ``llmproxy routes`` lists it and ``llmproxy serve`` serves it to
openai-python. Start-up failures of the registry (a plugin that cannot be imported, a duplicate
name, a bad name) make ``llmproxy serve`` exit 2 with a message naming the plugin.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Final

import pytest
from openai import AsyncOpenAI

from llmproxy.config import Settings
from llmproxy.registry import Registry
from tests.conftest import TEST_KEY, free_port
from tests.llmproxy.test_cli import wait_ready
from tests.support.fake_responses import FakeResponsesServer, reply, text_message

REPO: Final = Path(__file__).resolve().parents[2]
EXAMPLE: Final = REPO / "examples" / "llmproxy-echo-route"
#: Hard limits for the child processes.
PIP_LIMIT: Final = 180.0
CLI_LIMIT: Final = 30.0


def _run(argv: list[str], *, env: dict[str, str] | None = None, limit: float) -> tuple[int, str]:
    """Run a child to completion within ``limit`` seconds (killed past it)."""
    try:
        done = subprocess.run(
            argv, env=env, capture_output=True, text=True, timeout=limit, check=False
        )
    except subprocess.TimeoutExpired as e:
        raise AssertionError(f"{argv[:4]} did not finish within {limit}s: {e.stderr!r}") from e
    return done.returncode, done.stdout + done.stderr


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example package, built from a copy of its source (the build writes next to it) and
    installed into a directory of its own."""
    root = tmp_path_factory.mktemp("echo-route")
    source = root / "src"
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("build", "*.egg-info"))
    site = root / "site"
    argv = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index"]
    argv += ["--no-build-isolation", "--target", str(site), str(source)]
    rc, output = _run(argv, limit=PIP_LIMIT)
    assert rc == 0, output
    assert (site / "llmproxy_echo_route" / "__init__.py").is_file()
    return site


def child_env(*paths: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, "LLMPROXY_REASONING_KEY": "k", **extra}
    env["PYTHONPATH"] = os.pathsep.join([*map(str, paths), env.get("PYTHONPATH", "")]).rstrip(
        os.pathsep
    )
    return env


def test_routes_lists_the_plugin_beside_the_built_in_routes(plugin_site: Path) -> None:
    rc, output = _run(
        [sys.executable, "-m", "llmproxy", "routes"], env=child_env(plugin_site), limit=CLI_LIMIT
    )
    assert rc == 0, output
    lines = dict(line.split("\t", 1) for line in output.splitlines() if "\t" in line)
    assert lines["echo"] == "POST responses"
    assert lines["codex2claude"] == "POST messages, POST messages/count_tokens, GET models"
    assert "claude2codex" in lines


def test_the_shared_venv_does_not_see_the_plugin(plugin_site: Path) -> None:
    # The install went to a private directory: this process (and every other test) is unchanged.
    registry = Registry.from_entry_points(Settings(reasoning_key="k"))
    assert "echo" not in registry
    assert {"claude2codex", "codex2claude"} <= set(registry)


@pytest.fixture
async def upstream() -> AsyncIterator[FakeResponsesServer]:
    async with FakeResponsesServer(strict=True) as fake:
        yield fake


async def test_serve_serves_the_plugin(plugin_site: Path, upstream: FakeResponsesServer) -> None:
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "llmproxy",
        "serve",
        "--port",
        str(port),
        "--allow-upstream",
        upstream.origin,
        env=child_env(plugin_site),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        await wait_ready(url)
        upstream.enqueue(reply(text_message("Hello from the upstream!")))
        upstream.enqueue(reply(text_message("Streamed hello.")))
        base = f"{url}/echo/{upstream.origin}/v1"
        async with AsyncOpenAI(base_url=base, api_key=TEST_KEY, max_retries=0) as client:
            created = await client.responses.create(model="gpt-5.5", input="Say hello")
            async with client.responses.stream(model="gpt-5.5", input="Say hello") as stream:
                deltas = [e.delta async for e in stream if e.type == "response.output_text.delta"]
                final = await stream.get_final_response()
        assert created.output_text == "HELLO FROM THE UPSTREAM!"
        assert "".join(deltas) == "STREAMED HELLO."
        assert final.output_text == "STREAMED HELLO."
        sent = upstream.responses_requests
        assert [r.json.get("stream") for r in sent] == [None, True]
        assert all(r.header("authorization") == f"Bearer {TEST_KEY}" for r in sent)
        assert upstream.rejections == []
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), CLI_LIMIT) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


# -- registry errors at start-up, through the real command line --------------------------------


def fake_distribution(site: Path, name: str, entry_points: str) -> None:
    """What pip leaves for an installed package: a ``.dist-info`` with ``entry_points.txt``."""
    info = site / f"{name}-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text(f"[llmproxy.routes]\n{entry_points}\n")


BAD_NAME_MODULE: Final = """
from llmproxy_echo_route import EchoRoute

class Shouting(EchoRoute):
    name = "Shouting Route"

def route(settings):
    return Shouting()
"""


@pytest.mark.parametrize(
    ("entry_points", "module", "message"),
    [
        pytest.param(
            "broken = llmproxy_no_such_plugin:route",
            None,
            "route plugin 'broken' (llmproxy_no_such_plugin:route) failed to load: "
            "ModuleNotFoundError: No module named 'llmproxy_no_such_plugin'",
            id="import-error",
        ),
        pytest.param(
            "codex2claude = llmproxy_echo_route:route",
            None,
            "duplicate route name 'codex2claude'",
            id="duplicate",
        ),
        pytest.param(
            "Shouting Route = shouting_plugin:route",
            BAD_NAME_MODULE,
            "route name 'Shouting Route' must match",
            id="bad-name",
        ),
        pytest.param(
            "shouting = llmproxy_echo_route:route",
            None,
            "route plugin 'shouting' (llmproxy_echo_route:route) built a route named 'echo'",
            id="name-mismatch",
        ),
    ],
)
def test_serve_refuses_to_start_with_a_broken_registry(
    plugin_site: Path, tmp_path: Path, entry_points: str, module: str | None, message: str
) -> None:
    site = tmp_path / "site"
    fake_distribution(site, "broken_plugin", entry_points)
    if module is not None:
        (site / "shouting_plugin.py").write_text(module)
    rc, output = _run(
        [sys.executable, "-m", "llmproxy", "serve", "--port", str(free_port())],
        env=child_env(site, plugin_site),
        limit=CLI_LIMIT,
    )
    assert rc == 2, output
    assert message in output
    assert output.count("llmproxy: ") == 1  # one clear line, no traceback
    assert "Traceback" not in output
