"""Run the real Codex CLI (``codex exec``) against a local Responses endpoint.

``run_codex`` writes a throw-away ``CODEX_HOME/config.toml`` that points a custom model provider
(``llmproxy``, ``wire_api = "responses"``) at ``base_url``, then runs::

    codex exec --skip-git-repo-check --strict-config -C <workdir> --json --color never \\
        -o <last-message-file> --dangerously-bypass-approvals-and-sandbox -m <model> \\
        [extra_args] -- <prompt>

with stdin closed, ``HOME``/``CODEX_HOME`` in a temporary directory, the API key in the
``env_key`` variable, proxy variables removed and a hard timeout that kills the process group.

Sandbox: Codex 0.171.0 sandboxes commands with its bundled ``bwrap`` + seccomp.  That works as
root on this VM, but in containers without namespace support (Docker's default seccomp profile,
no ``CAP_SYS_ADMIN``) every command fails with ``bwrap: Creating new namespace failed`` and
``apply_patch`` with ``Failed to write file`` -- while ``codex exec`` still exits 0.  The
harness therefore bypasses the sandbox by default (``sandbox="bypass"``, or
``$LLMPROXY_CODEX_SANDBOX``); the commands come from our own scripted server and run in the
test's ``workdir``.

Codex is found via ``find_codex()``: ``$LLMPROXY_CODEX_BIN``, else
``<repo>/.cache/codex/node_modules/.bin/codex`` (``npm install --prefix .cache/codex
@openai/codex@0.171.0``), else ``codex`` on ``PATH``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeAlias, get_args

JSONDict: TypeAlias = dict[str, Any]
SandboxMode: TypeAlias = Literal["bypass", "workspace-write", "read-only", "danger-full-access"]
_SANDBOX_MODES: tuple[SandboxMode, ...] = get_args(SandboxMode)

REPO_ROOT = Path(__file__).resolve().parents[2]
CODEX_VERSION = "0.171.0"
CODEX_BIN_ENV = "LLMPROXY_CODEX_BIN"
CODEX_SANDBOX_ENV = "LLMPROXY_CODEX_SANDBOX"
CODEX_CACHE_BIN = REPO_ROOT / ".cache" / "codex" / "node_modules" / ".bin" / "codex"
INSTALL_HINT = (
    f"npm install --prefix .cache/codex @openai/codex@{CODEX_VERSION}  "
    f"(or set {CODEX_BIN_ENV}=/path/to/codex)"
)
PROVIDER_ID = "llmproxy"
API_KEY_ENV = "LLMPROXY_CODEX_API_KEY"

# Environment variables removed from the child: proxies (they would capture 127.0.0.1 traffic)
# and anything that could point Codex at another home, key or endpoint.
_SCRUBBED_ENV = (
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "CODEX_API_KEY",
    "CODEX_HOME",
    "CODEX_SANDBOX",
    "CODEX_SANDBOX_NETWORK_DISABLED",
    "RUST_LOG",
)


def find_codex() -> str | None:
    """Path of the ``codex`` executable, or None if it is not installed."""
    configured = os.environ.get(CODEX_BIN_ENV)
    if configured:
        found = shutil.which(configured)
        return found or (configured if Path(configured).is_file() else None)
    if CODEX_CACHE_BIN.exists():
        return str(CODEX_CACHE_BIN)
    return shutil.which("codex")


def _toml_str(value: str) -> str:
    # JSON string escapes are a subset of TOML basic-string escapes.
    return json.dumps(value)


def codex_config_toml(
    base_url: str,
    *,
    model: str,
    env_key: str = API_KEY_ENV,
    reasoning_effort: str | None = None,
    request_max_retries: int = 0,
    stream_max_retries: int = 0,
    stream_idle_timeout_ms: int = 30_000,
) -> str:
    """The ``config.toml`` used by ``run_codex`` (quiet, offline, fast-failing)."""
    lines = [
        f"model_provider = {_toml_str(PROVIDER_ID)}",
        f"model = {_toml_str(model)}",
    ]
    if reasoning_effort is not None:
        lines.append(f"model_reasoning_effort = {_toml_str(reasoning_effort)}")
    lines += [
        "check_for_update_on_startup = false",
        "",
        f"[model_providers.{PROVIDER_ID}]",
        'name = "LLMProxy"',
        f"base_url = {_toml_str(base_url)}",
        'wire_api = "responses"',
        f"env_key = {_toml_str(env_key)}",
        f"request_max_retries = {request_max_retries}",
        f"stream_max_retries = {stream_max_retries}",
        f"stream_idle_timeout_ms = {stream_idle_timeout_ms}",
        "",
        "[analytics]",
        "enabled = false",
        "",
        "[features]",
        "plugins = false",
        "remote_plugin = false",
        "apps = false",
        "",
    ]
    return "\n".join(lines)


@dataclass
class CodexResult:
    """What one ``codex exec`` run produced."""

    returncode: int
    stdout: str
    stderr: str
    last_message: str | None
    events: list[JSONDict] = field(default_factory=list)
    timed_out: bool = False
    duration: float = 0.0
    argv: list[str] = field(default_factory=list)
    config_toml: str = ""
    codex_home: str = ""

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out

    def items(self, item_type: str | None = None) -> list[JSONDict]:
        """Completed thread items from ``--json`` (``agent_message``, ``command_execution``,
        ``file_change``, ...)."""
        found: list[JSONDict] = []
        for event in self.events:
            item = event.get("item")
            if (
                event.get("type") == "item.completed"
                and isinstance(item, dict)
                and (item_type is None or item.get("type") == item_type)
            ):
                found.append(item)
        return found

    @property
    def agent_messages(self) -> list[str]:
        return [str(item.get("text", "")) for item in self.items("agent_message")]

    @property
    def error_messages(self) -> list[str]:
        """``error`` / ``turn.failed`` messages from ``--json`` (reconnects, stream errors)."""
        messages: list[str] = []
        for event in self.events:
            if event.get("type") == "error":
                messages.append(str(event.get("message", "")))
            elif event.get("type") == "turn.failed":
                error = event.get("error")
                messages.append(str(error.get("message", "")) if isinstance(error, dict) else "")
        return messages

    def describe(self) -> str:
        """A multi-line summary for assertion messages."""
        return (
            f"codex exited {self.returncode} (timed_out={self.timed_out}, {self.duration:.1f}s)\n"
            f"argv: {self.argv}\n"
            f"last_message: {self.last_message!r}\n"
            f"--- stdout ---\n{self.stdout[-6000:]}\n--- stderr ---\n{self.stderr[-6000:]}"
        )


def _parse_jsonl(text: str) -> list[JSONDict]:
    events: list[JSONDict] = []
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            parsed = json.loads(line)
        except ValueError:
            continue
        if isinstance(parsed, dict):
            events.append(parsed)
    return events


def sandbox_mode() -> SandboxMode:
    """``$LLMPROXY_CODEX_SANDBOX`` if set (``bypass``, ``workspace-write``, ``read-only``,
    ``danger-full-access``), else ``bypass``."""
    value = os.environ.get(CODEX_SANDBOX_ENV, "bypass")
    if value not in _SANDBOX_MODES:
        raise ValueError(f"{CODEX_SANDBOX_ENV}={value!r}; expected one of {_SANDBOX_MODES}")
    return value


def _sandbox_args(sandbox: SandboxMode) -> list[str]:
    if sandbox == "bypass":
        return ["--dangerously-bypass-approvals-and-sandbox"]
    # `codex exec` never asks for approval; set it explicitly anyway.
    return ["-s", sandbox, "-c", 'approval_policy="never"']


def _child_env(
    home: Path, codex_home: Path, api_key: str, extra: Mapping[str, str]
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED_ENV}
    env.update(
        {
            "HOME": str(home),
            "CODEX_HOME": str(codex_home),
            API_KEY_ENV: api_key,
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
            "NO_COLOR": "1",
        }
    )
    env.update(extra)
    return env


def _kill_group(proc: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        proc.kill()


async def _drain(stream: asyncio.StreamReader | None, sink: bytearray) -> None:
    if stream is None:
        return
    while chunk := await stream.read(65536):
        sink.extend(chunk)


async def run_codex(
    prompt: str,
    *,
    base_url: str,
    workdir: Path,
    model: str | None = "gpt-5.5",
    api_key: str = "sk-test-codex-0000",
    reasoning_effort: str | None = None,
    extra_args: Sequence[str] = (),
    timeout: float = 120,  # noqa: ASYNC109 - a hard limit that also kills the process group
    sandbox: SandboxMode | None = None,
    env: Mapping[str, str] | None = None,
    keep_home: bool = False,
) -> CodexResult:
    """Run ``codex exec`` once against ``base_url`` (the provider base; Codex appends
    ``/responses``).

    ``model=None`` leaves ``-m`` out so Codex uses its built-in default model.  ``extra_args``
    go before the prompt (e.g. ``["-c", "model_providers.llmproxy.stream_max_retries=2"]``).
    ``timeout`` is a hard limit: the whole process group is killed and ``timed_out`` is set.
    ``keep_home`` keeps the temporary HOME (sessions, logs) for debugging; see ``codex_home``.
    """
    sandbox = sandbox or sandbox_mode()
    codex = find_codex()
    if codex is None:
        raise RuntimeError(f"Codex CLI not found; install it with: {INSTALL_HINT}")
    root = Path(tempfile.mkdtemp(prefix="llmproxy-codex-"))
    home = root / "home"
    codex_home = home / ".codex"
    codex_home.mkdir(parents=True)
    config = codex_config_toml(
        base_url,
        model=model or "gpt-5.5",
        reasoning_effort=reasoning_effort,
    )
    if model is None:
        # Let Codex pick its default model: no `model` key at all.
        config = "\n".join(line for line in config.splitlines() if not line.startswith("model ="))
    (codex_home / "config.toml").write_text(config, encoding="utf-8")
    last_message_file = root / "last-message.txt"
    argv = [
        codex,
        "exec",
        "--skip-git-repo-check",
        "--strict-config",  # fail on config keys this Codex version does not know
        "-C",
        str(workdir),
        "--json",
        "--color",
        "never",
        "-o",
        str(last_message_file),
        *_sandbox_args(sandbox),
    ]
    if model is not None:
        argv += ["-m", model]
    argv += [*extra_args, "--", prompt]

    stdout = bytearray()
    stderr = bytearray()
    timed_out = False
    started = time.monotonic()
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=str(workdir),
            env=_child_env(home, codex_home, api_key, env or {}),
            start_new_session=True,
        )
        readers = asyncio.gather(_drain(proc.stdout, stdout), _drain(proc.stderr, stderr))
        try:
            await asyncio.wait_for(proc.wait(), timeout)
        except TimeoutError:
            timed_out = True
            _kill_group(proc)
            await proc.wait()
        finally:
            if proc.returncode is None:  # cancelled from outside
                _kill_group(proc)
                await proc.wait()
            # Grandchildren may still hold the pipes; do not wait for them forever.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(readers, 10)
        duration = time.monotonic() - started
        last_message: str | None = None
        if last_message_file.exists():
            last_message = last_message_file.read_text(encoding="utf-8")
        stdout_text = stdout.decode("utf-8", errors="replace")
        return CodexResult(
            returncode=proc.returncode if proc.returncode is not None else -1,
            stdout=stdout_text,
            stderr=stderr.decode("utf-8", errors="replace"),
            last_message=last_message,
            events=_parse_jsonl(stdout_text),
            timed_out=timed_out,
            duration=duration,
            argv=argv,
            config_toml=config,
            codex_home=str(codex_home),
        )
    finally:
        if not keep_home:
            shutil.rmtree(root, ignore_errors=True)
