"""Prometheus metrics, one registry per application (tests never share global state).

Labels are bounded: route names come from the registry, status classes and outcomes from fixed
sets. No model string, host or user id ever becomes a label.
"""

from __future__ import annotations

import asyncio
from typing import Final

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)

__all__ = ["OUTCOMES", "Metrics"]

#: Outcome label values of ``llmproxy_requests_total``.
OUTCOMES: Final = (
    "ok",  # the client got a complete, successful reply
    "client_error",  # the request was refused (4xx from the gateway)
    "upstream_error",  # the upstream answered with an error or broke the stream
    "incomplete",  # the reply ended early on the model's side (max tokens, refusal)
    "cancelled",  # the client went away
    "internal_error",  # a bug in the gateway
)

_LATENCY: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
_OVERHEAD: Final = (
    0.0001,
    0.00025,
    0.0005,
    0.00075,
    0.001,
    0.0015,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
)


def _task_count() -> float:
    try:
        return float(len(asyncio.all_tasks()))
    except RuntimeError:  # no running loop (rendered outside the server)
        return 0.0


class Metrics:
    def __init__(self) -> None:
        self.registry: Final = CollectorRegistry(auto_describe=True)
        r = self.registry
        # process_cpu_seconds_total, process_resident_memory_bytes, open fds, ...
        ProcessCollector(registry=r)
        self.requests: Final = Counter(
            "llmproxy_requests",
            "Client requests by route and outcome.",
            ["route", "outcome"],
            registry=r,
        )
        self.duration: Final = Histogram(
            "llmproxy_request_duration_seconds",
            "Whole request duration.",
            ["route"],
            buckets=_LATENCY,
            registry=r,
        )
        self.first_event: Final = Histogram(
            "llmproxy_time_to_first_event_seconds",
            "From request received to the first byte written to the client.",
            ["route"],
            buckets=_LATENCY,
            registry=r,
        )
        self.overhead: Final = Histogram(
            "llmproxy_overhead_seconds",
            "Time the gateway itself spent on a request, excluding waiting for the upstream "
            "and the client.",
            ["route"],
            buckets=_OVERHEAD,
            registry=r,
        )
        self.upstream_responses: Final = Counter(
            "llmproxy_upstream_responses",
            "Upstream HTTP responses by status class.",
            ["route", "status_class"],
            registry=r,
        )
        self.retries: Final = Counter(
            "llmproxy_upstream_retries",
            "Upstream requests retried before any client byte.",
            ["route", "reason"],
            registry=r,
        )
        self.tokens: Final = Counter(
            "llmproxy_tokens",
            "Tokens reported by the upstream, by kind.",
            ["route", "kind"],
            registry=r,
        )
        self.streams: Final = Gauge(
            "llmproxy_streams_in_progress",
            "Client streams currently open.",
            ["route"],
            registry=r,
        )
        self.disconnects: Final = Counter(
            "llmproxy_client_disconnects",
            "Clients that went away before their reply ended.",
            ["route"],
            registry=r,
        )
        self.events_in: Final = Counter(
            "llmproxy_stream_events_in",
            "Upstream SSE events read.",
            ["route"],
            registry=r,
        )
        self.events_out: Final = Counter(
            "llmproxy_stream_events_out",
            "SSE events written to clients.",
            ["route"],
            registry=r,
        )
        self.skipped: Final = Counter(
            "llmproxy_upstream_events_skipped",
            "Upstream events skipped as unknown to the route.",
            ["route"],
            registry=r,
        )
        self.dropped_tools: Final = Counter(
            "llmproxy_dropped_tools",
            "Client tools a route dropped because the upstream has no counterpart, by tool "
            "type (a fixed set per route).",
            ["route", "tool"],
            registry=r,
        )
        self.continuations: Final = Counter(
            "llmproxy_upstream_continuations",
            "Paused upstream turns continued with another upstream request.",
            ["route"],
            registry=r,
        )

        self.tasks: Final = Gauge(
            "llmproxy_event_loop_tasks",
            "asyncio tasks alive in the gateway's event loop (leaks show here).",
            registry=r,
        )
        self.tasks.set_function(_task_count)

    def render(self) -> bytes:
        return generate_latest(self.registry)
