"""External programs some tests need (``promtool`` and ``prometheus`` from Debian's
``prometheus`` package, installed by ``.ci/run``). A missing one fails the test with the
install command: CI provides them, so a skip would only hide a broken setup."""

from __future__ import annotations

import shutil

import pytest

__all__ = ["require_binary"]

INSTALL_HINT = "apt-get update && apt-get install -y --no-install-recommends prometheus"


def require_binary(name: str) -> str:
    """The path of ``name`` on PATH, or a test failure explaining how to install it."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"`{name}` is not installed (on Debian: {INSTALL_HINT}); .ci/run installs it")
    return path
