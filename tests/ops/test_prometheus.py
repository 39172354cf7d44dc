"""A real Prometheus scrapes a real ``llmproxy serve``: the metrics arrive with the values the
traffic implies, the alert rules of ``deploy/prometheus`` load and evaluate cleanly, and every
Grafana panel query runs. Everything listens on 127.0.0.1; every wait is bounded, and both
subprocesses are stopped in ``finally``.

Run with ``-s`` to see the sample of scraped series the test prints."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import yaml

from tests.conftest import TEST_KEY, free_port
from tests.support.fake_anthropic import ErrorReply, FakeAnthropic, Reply, text

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yaml"
DASHBOARD = ROOT / "deploy" / "grafana" / "llmproxy-dashboard.json"
ROUTE = "claude2codex"
#: Upper bound of each wait; the whole test takes a few seconds.
WAIT = 30.0

JSON = dict[str, Any]


async def start(
    argv: list[str], log: Path, env: dict[str, str] | None = None
) -> asyncio.subprocess.Process:
    with log.open("wb") as out:  # the child keeps its own copy of the descriptor
        return await asyncio.create_subprocess_exec(
            *argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
        )


async def stop(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), 10)
        except TimeoutError:
            proc.kill()
            await proc.wait()


async def until(
    what: str, probe: Callable[[], Awaitable[T | None]], procs: list[asyncio.subprocess.Process]
) -> T:
    """Poll ``probe`` until it returns something; fail after ``WAIT`` seconds or if a
    subprocess died."""
    deadline = time.monotonic() + WAIT
    last: BaseException | None = None
    while time.monotonic() < deadline:
        for proc in procs:
            assert proc.returncode is None, f"a subprocess exited ({proc.returncode}) while {what}"
        try:
            result = await probe()
        except (aiohttp.ClientError, AssertionError, KeyError) as e:
            result, last = None, e
        if result is not None:
            return result
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out after {WAIT}s waiting until {what} (last error: {last!r})")


async def query(s: aiohttp.ClientSession, prom: str, promql: str) -> list[JSON]:
    async with s.get(f"{prom}/api/v1/query", params={"query": promql}) as r:
        body = await r.json()
    assert body["status"] == "success", body
    result: list[JSON] = body["data"]["result"]
    return result


def by(label: str, result: list[JSON]) -> dict[str, float]:
    return {r["metric"][label]: float(r["value"][1]) for r in result}


def scalar(result: list[JSON]) -> float:
    (only,) = result
    return float(only["value"][1])


def series_line(r: JSON) -> str:
    metric = dict(r["metric"])
    name = metric.pop("__name__")
    labels = ",".join(f'{k}="{v}"' for k, v in sorted(metric.items()))
    return f"{name}{{{labels}}} {r['value'][1]}"


async def test_prometheus_scrapes_the_gateway(
    fake: FakeAnthropic, prometheus_bin: str, tmp_path: Path
) -> None:
    began = time.monotonic()
    gw_port, prom_port = free_port(), free_port()
    gateway, prom = f"http://127.0.0.1:{gw_port}", f"http://127.0.0.1:{prom_port}"
    config = tmp_path / "prometheus.yml"
    config.write_text(
        yaml.safe_dump(
            {
                "global": {
                    "scrape_interval": "1s",
                    "scrape_timeout": "1s",
                    "evaluation_interval": "1s",
                },
                "rule_files": [str(ALERTS)],
                "scrape_configs": [
                    {
                        "job_name": "llmproxy",
                        "static_configs": [{"targets": [f"127.0.0.1:{gw_port}"]}],
                    }
                ],
            }
        )
    )
    env = {
        **os.environ,
        "LLMPROXY_ALLOW_UPSTREAM": fake.base_url,
        "LLMPROXY_REASONING_KEY": "test-reasoning-key",
        "LLMPROXY_LOG_FORMAT": "json",
    }
    logs = {"gateway": tmp_path / "gateway.log", "prometheus": tmp_path / "prometheus.log"}
    procs: list[asyncio.subprocess.Process] = []
    try:
        procs.append(
            await start(
                [sys.executable, "-m", "llmproxy", "serve", "--port", str(gw_port)],
                logs["gateway"],
                env,
            )
        )
        procs.append(
            await start(
                [
                    prometheus_bin,
                    f"--config.file={config}",
                    f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                    f"--web.listen-address=127.0.0.1:{prom_port}",
                    "--log.level=warn",
                ],
                logs["prometheus"],
            )
        )
        timeout = aiohttp.ClientTimeout(total=10)
        async with aiohttp.ClientSession(timeout=timeout) as s:

            async def ready(url: str) -> bool | None:
                async with s.get(url) as r:
                    return True if r.status == 200 else None

            await until("the gateway is ready", lambda: ready(f"{gateway}/readyz"), procs)

            # The traffic: one JSON reply, one stream, one upstream error.
            fake.script.extend(
                [
                    Reply([text("hello")]),
                    Reply([text("a streamed hello")]),
                    ErrorReply(500, "api_error", "Internal server error"),
                ]
            )
            url = f"{gateway}/{ROUTE}/{fake.base_url}/v1/responses"
            headers = {"Authorization": f"Bearer {TEST_KEY}"}
            body = {"model": "claude-sonnet-4-5", "input": "hi"}
            async with s.post(url, json=body, headers=headers) as r:
                assert r.status == 200, await r.text()
                assert (await r.json())["status"] == "completed"
            async with s.post(url, json={**body, "stream": True}, headers=headers) as r:
                assert r.status == 200
                assert "event: response.completed" in await r.text()
            async with s.post(url, json=body, headers=headers) as r:
                assert r.status >= 500, await r.text()
            assert fake.rejections == []
            sent = time.monotonic()

            await until("Prometheus is ready", lambda: ready(f"{prom}/-/ready"), procs)
            prom_ready = time.monotonic() - began

            async def scraped_all() -> float | None:
                result = await query(s, prom, "sum(llmproxy_requests_total)")
                return 1.0 if result and scalar(result) == 3 else None

            await until("Prometheus has scraped the three requests", scraped_all, procs)
            scrape_wait = time.monotonic() - sent

            # What arrived, as Prometheus stores it.
            requests = await query(s, prom, "llmproxy_requests_total")
            for series in requests:
                assert series["metric"]["job"] == "llmproxy"
                assert series["metric"]["route"] == ROUTE
            assert by("outcome", requests) == {"ok": 2, "upstream_error": 1}
            tokens = await query(s, prom, "llmproxy_tokens_total")
            # The fake reports 12 input and 7 output tokens per successful reply.
            assert by("kind", tokens) == {
                "input": 24,
                "output": 14,
                "cache_read": 0,
                "cache_write": 0,
                "reasoning": 0,
            }
            assert scalar(await query(s, prom, 'llmproxy_tokens_total{kind="input"}')) == 24
            upstream = await query(s, prom, "llmproxy_upstream_responses_total")
            assert by("status_class", upstream) == {"2xx": 2, "5xx": 1}
            durations = await query(s, prom, "llmproxy_request_duration_seconds_count")
            assert scalar(durations) == 3
            assert scalar(await query(s, prom, "llmproxy_streams_in_progress")) == 0
            assert await query(s, prom, "llmproxy_upstream_retries_total") == []

            sample = await query(
                s, prom, '{__name__=~"llmproxy_.+", __name__!~".+_(bucket|created)"}'
            )
            buckets = await query(
                s, prom, 'llmproxy_request_duration_seconds_bucket{le=~"0.01|0.1|1.0|\\\\+Inf"}'
            )

            # The alert rules load and evaluate without error against the real series.
            async def rules_evaluated() -> list[JSON] | None:
                async with s.get(f"{prom}/api/v1/rules") as r:
                    groups = (await r.json())["data"]["groups"]
                rules: list[JSON] = [rule for g in groups for rule in g["rules"]]
                return rules if rules and all(x["health"] != "unknown" for x in rules) else None

            rules = await until("the alert rules are evaluated", rules_evaluated, procs)
            assert len(rules) == len(yaml.safe_load(ALERTS.read_text())["groups"][0]["rules"])
            unhealthy = {x["name"]: x.get("lastError") for x in rules if x["health"] != "ok"}
            assert not unhealthy, unhealthy

            # Every dashboard query runs on the real data; the traffic panels show something
            # once two scrapes are in the rate window.
            subs = {"$__rate_interval": "1m", "$job": "llmproxy", "$route": ROUTE}
            panels: dict[str, list[str]] = {}
            for panel in json.loads(DASHBOARD.read_text())["panels"]:
                for target in panel["targets"]:
                    expr = target["expr"]
                    for var, value in subs.items():
                        expr = expr.replace(var, value)
                    panels.setdefault(panel["title"], []).append(expr)

            async def shows(title: str) -> bool | None:
                results = [await query(s, prom, expr) for expr in panels[title]]
                return True if any(results) else None

            for title in (
                "Requests by outcome",
                "Tokens by kind",
                "Upstream responses by status class",
            ):
                await until(f"panel {title!r} shows data", functools.partial(shows, title), procs)
            empty = [title for title in panels if not await shows(title)]
            # This traffic has no retries, disconnects, dropped tools or paused turns.
            quiet = {"Upstream retries", "Client disconnects", "Dropped tools and continued turns"}
            assert set(empty) <= quiet, empty

        print(f"\n--- sample of the series Prometheus scraped from {gateway}/metrics ---")
        for line in sorted(series_line(r) for r in sample + buckets):
            print(line)
        print(f"--- dashboard panels with no data (no such traffic): {empty}")
        print(
            f"--- Prometheus ready {prom_ready:.1f}s after start; the traffic scraped "
            f"{scrape_wait:.1f}s after it was sent; the test took {time.monotonic() - began:.1f}s"
        )
    except BaseException:
        for name, path in logs.items():
            with contextlib.suppress(OSError):
                print(f"--- {name} log ---\n{path.read_text()[-4000:]}")
        raise
    finally:
        for proc in reversed(procs):
            await stop(proc)
    assert TEST_KEY not in logs["gateway"].read_text()
