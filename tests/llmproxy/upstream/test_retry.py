from __future__ import annotations

from datetime import UTC, datetime

import pytest

from llmproxy.upstream.retry import RetryPolicy, parse_retry_after

NOW = datetime(2026, 12, 4, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("7", 7.0),
        ("0.5", 0.5),
        ("-3", 0.0),
        ("Fri, 04 Dec 2026 12:00:30 GMT", 30.0),
        ("Fri, 04 Dec 2026 11:00:00 GMT", 0.0),
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, now=NOW) == expected


def test_only_retryable_failures() -> None:
    p = RetryPolicy()
    assert p.delay(0, 0, status=400, rand=0.5) is None
    assert p.delay(0, 0, status=500, rand=0.5) is None
    assert p.delay(0, 0, status=401, rand=0.5) is None
    for status in (429, 503, 529):
        assert p.delay(0, 0, status=status, rand=0.5) == pytest.approx(0.25)
    assert p.delay(0, 0, connect_error=True, rand=0.5) == pytest.approx(0.25)


def test_backoff_grows_and_count_is_bounded() -> None:
    p = RetryPolicy(max_retries=3, base_delay=0.1)
    assert p.delay(0, 0, status=529, rand=0.5) == pytest.approx(0.1)
    assert p.delay(1, 0, status=529, rand=0.5) == pytest.approx(0.2)
    assert p.delay(2, 0, status=529, rand=0.5) == pytest.approx(0.4)
    assert p.delay(3, 0, status=529, rand=0.5) is None


def test_retry_after_is_honoured_within_the_budget() -> None:
    p = RetryPolicy(max_wait=10)
    assert p.delay(0, 0, status=429, retry_after="4") == 4.0
    assert p.delay(1, 4, status=429, retry_after="4") == 4.0
    # Beyond the budget: give up now; the client gets the error and the header.
    assert p.delay(0, 0, status=429, retry_after="11") is None
    assert p.delay(1, 8, status=429, retry_after="4") is None
