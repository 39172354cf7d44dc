"""Replay a Codex-shaped agent conversation through the gateway against the fake upstream's
simulated prompt cache, and measure what share of the input tokens is read from the cache.

    .venv/bin/python -m tests.support.cache_replay [TURNS]

The conversation starts from a real Codex 0.171.0 request (``codex-gpt55-1``: its tools,
developer instructions and environment context) and runs a tool loop: every turn the model
thinks and runs a command, the client sends back the reasoning item, the call and a command
output of a few kilobytes, the way Codex does; the last turn answers. Each request goes
through the gateway to ``FakeAnthropic(cache_simulation=True)``, which reports cache reads and
writes as Anthropic would for the request's breakpoints (``PrefixCache``). The share is read
from what the client sees (``usage.input_tokens_details.cached_tokens`` over
``usage.input_tokens``), once with the gateway's automatic breakpoints and once without.
"""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import aiohttp

from tests.conftest import TEST_KEY, make_settings, start_gateway
from tests.support.fake_anthropic import FakeAnthropic, Reply, text, thinking, tool_use
from tests.support.lifecycle import check_responses_sse

CAPTURE: Final = (
    Path(__file__).resolve().parents[2].parent / "shared" / "captures" / "codex-gpt55-1.json"
)
MODEL: Final = "claude-sonnet-4-5"


@dataclass
class CacheRun:
    breakpoints: bool
    turns: list[dict[str, int]] = field(default_factory=list)

    @property
    def input_tokens(self) -> int:
        return sum(t["input_tokens"] for t in self.turns)

    @property
    def cache_read(self) -> int:
        return sum(t["cached_tokens"] for t in self.turns)

    @property
    def cache_write(self) -> int:
        return sum(t["cache_write_tokens"] for t in self.turns)

    @property
    def read_share(self) -> float:
        return self.cache_read / self.input_tokens if self.input_tokens else 0.0

    def line(self) -> str:
        mode = "with breakpoints   " if self.breakpoints else "without breakpoints"
        return (
            f"{mode}: {len(self.turns)} requests, input {self.input_tokens} tokens, cache read "
            f"{self.cache_read}, cache write {self.cache_write}, read share "
            f"{self.read_share:.1%}"
        )


def _command_output(turn: int) -> str:
    """A few kilobytes of deterministic "file contents", different every turn."""
    lines = [
        f"{n:4d}  def step_{turn}_{n}(x):  return x * {turn} + {n}  # module {turn}"
        for n in range(60)
    ]
    return "\n".join(lines)


def _responder(turns: int) -> Any:
    def answer(body: dict[str, Any]) -> Reply:
        done = sum(
            1
            for m in body["messages"]
            for b in m["content"]
            if isinstance(b, dict) and b.get("type") == "tool_result"
        )
        if done + 1 >= turns:
            return Reply([thinking("Every module is read; the fix is clear."), text("Fixed.")])
        return Reply(
            [
                thinking(f"Next I read module {done + 1} to follow the call chain."),
                tool_use("exec_command", {"cmd": f"sed -n 1,60p src/module_{done + 1}.py"}),
            ]
        )

    return answer


def _first_request() -> dict[str, Any]:
    body: dict[str, Any] = json.loads(CAPTURE.read_text())["body"]
    body["model"] = MODEL
    body["input"][-1] = {
        "type": "message",
        "role": "user",
        "content": [{"type": "input_text", "text": "Find out why the pipeline is slow."}],
    }
    return body


async def replay(turns: int = 20, *, breakpoints: bool) -> CacheRun:
    run = CacheRun(breakpoints)
    async with FakeAnthropic(cache_simulation=True) as fake:
        fake.responder = _responder(turns)
        settings = make_settings(fake.base_url, auto_cache_breakpoints=breakpoints)
        gw, server = await start_gateway(settings, fake.base_url)
        try:
            body = _first_request()
            async with aiohttp.ClientSession() as session:
                for turn in range(turns):
                    async with session.post(
                        gw.base() + "/responses",
                        json=body,
                        headers={"Authorization": f"Bearer {TEST_KEY}"},
                    ) as r:
                        raw = await r.read()
                    if r.status != 200:
                        raise RuntimeError(f"turn {turn}: HTTP {r.status}: {raw[:300]!r}")
                    events = check_responses_sse(raw)
                    final = events[-1]["response"]
                    if final["status"] != "completed":
                        raise RuntimeError(f"turn {turn}: {final['status']}: {final['error']}")
                    usage = final["usage"]
                    run.turns.append(
                        {
                            "input_tokens": usage["input_tokens"],
                            "cached_tokens": usage["input_tokens_details"]["cached_tokens"],
                            "cache_write_tokens": usage["input_tokens_details"][
                                "cache_write_tokens"
                            ],
                        }
                    )
                    # Codex sends the items back without ids, with the command's output.
                    for item in final["output"]:
                        if item["type"] == "reasoning":
                            body["input"].append(
                                {
                                    "type": "reasoning",
                                    "summary": item["summary"],
                                    "encrypted_content": item["encrypted_content"],
                                }
                            )
                        elif item["type"] == "function_call":
                            body["input"].append(
                                {
                                    "type": "function_call",
                                    "name": item["name"],
                                    "arguments": item["arguments"],
                                    "call_id": item["call_id"],
                                }
                            )
                            body["input"].append(
                                {
                                    "type": "function_call_output",
                                    "call_id": item["call_id"],
                                    "output": _command_output(turn + 1),
                                }
                            )
            if fake.rejections:
                raise RuntimeError(f"the upstream refused a request: {fake.rejections[0]}")
        finally:
            await server.close()
    return run


async def measure(turns: int = 20) -> tuple[CacheRun, CacheRun]:
    return await replay(turns, breakpoints=True), await replay(turns, breakpoints=False)


def main() -> None:
    turns = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    with_bp, without = asyncio.run(measure(turns))
    print(with_bp.line())
    print(without.line())


if __name__ == "__main__":
    main()
