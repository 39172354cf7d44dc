"""Run the real Claude Code CLI (``claude -p``) against a local Anthropic Messages endpoint.

``run_claude`` runs, in ``workdir``::

    claude -p <prompt> --model <model> --output-format json --dangerously-skip-permissions
        [extra_args]

non-interactively (stdin closed), with an environment built from scratch: ``PATH``, a temporary
``HOME`` and ``CLAUDE_CONFIG_DIR``, ``ANTHROPIC_BASE_URL`` (the gateway's ``codex2claude`` base
URL), ``ANTHROPIC_API_KEY``, and the documented switches that keep it off the network and quiet:
``DISABLE_TELEMETRY``, ``DISABLE_AUTOUPDATER``, ``DISABLE_ERROR_REPORTING``,
``CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC``; ``CLAUDE_CODE_MAX_RETRIES=0`` so an error shows at
once. Nothing else of the caller's environment leaks in (no proxies, no real keys). A hard
timeout kills the whole process group.

Permissions: ``--dangerously-skip-permissions`` lets the Bash tool run without a prompt. Claude
Code refuses that flag as root unless ``IS_SANDBOX=1`` says it runs in a sandbox (CI containers
run as root), so the harness sets it; the commands come from our own scripted upstream and run in
the test's ``workdir``.

Claude Code is found via ``find_claude()``: ``$LLMPROXY_CLAUDE_BIN``, else
``<repo>/.cache/claude-code/node_modules/.bin/claude`` (``make test`` installs it with ``npm
install --prefix .cache/claude-code @anthropic-ai/claude-code@2.1.332``), else ``claude`` on
``PATH``.
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
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "CLAUDE_CODE_VERSION",
    "INSTALL_HINT",
    "ClaudeResult",
    "claude_env",
    "find_claude",
    "run_claude",
]

REPO_ROOT = Path(__file__).resolve().parents[2]
CLAUDE_CODE_VERSION = "2.1.332"
CLAUDE_BIN_ENV = "LLMPROXY_CLAUDE_BIN"
CLAUDE_CACHE_BIN = REPO_ROOT / ".cache" / "claude-code" / "node_modules" / ".bin" / "claude"
INSTALL_HINT = (
    f"npm install --prefix .cache/claude-code @anthropic-ai/claude-code@{CLAUDE_CODE_VERSION} "
    f"(make test does it; or set {CLAUDE_BIN_ENV}=/path/to/claude)"
)


def find_claude() -> str | None:
    """Path of the ``claude`` executable, or None if it is not installed."""
    configured = os.environ.get(CLAUDE_BIN_ENV)
    if configured:
        found = shutil.which(configured)
        return found or (configured if Path(configured).is_file() else None)
    if CLAUDE_CACHE_BIN.exists():
        return str(CLAUDE_CACHE_BIN)
    return shutil.which("claude")


def claude_env(home: Path, base_url: str, api_key: str) -> dict[str, str]:
    """The child's whole environment (nothing inherited but ``PATH``)."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "CLAUDE_CONFIG_DIR": str(home / ".claude"),
        "TMPDIR": str(home / "tmp"),
        "ANTHROPIC_BASE_URL": base_url,
        "ANTHROPIC_API_KEY": api_key,
        "IS_SANDBOX": "1",
        "DISABLE_TELEMETRY": "1",
        "DISABLE_AUTOUPDATER": "1",
        "DISABLE_ERROR_REPORTING": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        # Errors reach the test at once instead of after minutes of backoff.
        "CLAUDE_CODE_MAX_RETRIES": "0",
    }


@dataclass
class ClaudeResult:
    """What one ``claude -p`` run produced."""

    returncode: int
    stdout: str
    stderr: str
    #: The ``--output-format json`` result object (``result``, ``is_error``, ``num_turns``, ...).
    result: dict[str, Any] | None
    timed_out: bool = False
    duration: float = 0.0
    argv: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (
            self.returncode == 0
            and not self.timed_out
            and self.result is not None
            and not self.result.get("is_error")
        )

    @property
    def text(self) -> str:
        """The final answer Claude Code printed."""
        value = (self.result or {}).get("result")
        return value if isinstance(value, str) else ""

    def describe(self) -> str:
        return (
            f"claude exited {self.returncode} (timed out: {self.timed_out}) after "
            f"{self.duration:.1f}s\nargv: {self.argv}\nstdout: {self.stdout[-3000:]}\n"
            f"stderr: {self.stderr[-3000:]}"
        )


async def run_claude(
    prompt: str,
    *,
    base_url: str,
    workdir: Path,
    api_key: str,
    model: str = "gpt-5.5",
    extra_args: Sequence[str] = (),
    limit: float = 120.0,
) -> ClaudeResult:
    """Run ``claude -p`` to completion (or ``limit`` seconds, then kill it) and parse its JSON
    result."""
    binary = find_claude()
    if binary is None:
        raise RuntimeError(f"Claude Code is not installed: {INSTALL_HINT}")
    argv = [
        binary,
        "-p",
        prompt,
        "--model",
        model,
        "--output-format",
        "json",
        "--dangerously-skip-permissions",
        *extra_args,
    ]
    with tempfile.TemporaryDirectory(prefix="llmproxy-claude-") as tmp:
        home = Path(tmp)
        (home / "tmp").mkdir()
        started = time.monotonic()
        proc = await asyncio.create_subprocess_exec(
            *argv,
            cwd=workdir,
            env=claude_env(home, base_url, api_key),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,  # its own process group: the timeout kills the children too
        )
        timed_out = False
        try:
            out, err = await asyncio.wait_for(proc.communicate(), limit)
        except TimeoutError:
            timed_out = True
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            out, err = await proc.communicate()
        duration = time.monotonic() - started
    stdout = out.decode(errors="replace")
    result: dict[str, Any] | None = None
    with contextlib.suppress(ValueError):
        parsed = json.loads(stdout)
        if isinstance(parsed, dict):
            result = parsed
    return ClaudeResult(
        returncode=proc.returncode if proc.returncode is not None else -1,
        stdout=stdout,
        stderr=err.decode(errors="replace"),
        result=result,
        timed_out=timed_out,
        duration=duration,
        argv=argv,
    )
