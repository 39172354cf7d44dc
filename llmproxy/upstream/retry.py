"""When to retry an upstream request: pure decisions, no sleeping here.

Only before the first byte reaches the client, so a retry is invisible to it; only for failures
that a second try can fix: connection failures, 429 and 529/503 (overloaded). Bounded in count
and in total wait; an upstream ``retry-after`` (seconds or an HTTP date) is honoured when it
fits in the remaining budget, and a longer one ends the retrying (the client gets the error and
the header, and decides).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Final

__all__ = ["RETRYABLE_STATUSES", "RetryPolicy", "parse_retry_after"]

RETRYABLE_STATUSES: Final = frozenset({429, 503, 529})


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait, from ``retry-after`` (delta-seconds or HTTP-date), or None."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    now = now or datetime.now(UTC)
    return max(0.0, (when - now).total_seconds())


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_retries: int = 2
    #: Total seconds the gateway may spend waiting between attempts of one request.
    max_wait: float = 10.0
    base_delay: float = 0.25

    def delay(
        self,
        attempt: int,
        waited: float,
        *,
        status: int | None = None,
        retry_after: str | None = None,
        connect_error: bool = False,
        rand: float | None = None,
    ) -> float | None:
        """Seconds to wait before attempt ``attempt + 1``, or None to give up now.

        ``attempt`` counts from 0 (the first try); ``waited`` is the wait so far.
        """
        if attempt >= self.max_retries:
            return None
        if not connect_error and status not in RETRYABLE_STATUSES:
            return None
        hinted = parse_retry_after(retry_after)
        if hinted is not None:
            wait = hinted
        else:
            jitter = random.random() if rand is None else rand
            wait = self.base_delay * (2**attempt) * (0.5 + jitter)
        if waited + wait > self.max_wait:
            return None
        return wait
