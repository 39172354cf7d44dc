"""Operations tests run real programs beside the gateway (Debian's ``prometheus``). CI installs
them (``.ci/run``); a missing one fails every test here instead of skipping it."""

from __future__ import annotations

import pytest

from tests.support.binaries import require_binary


@pytest.fixture
def prometheus_bin() -> str:
    return require_binary("prometheus")
