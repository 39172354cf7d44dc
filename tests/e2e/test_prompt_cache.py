"""Prompt caching measured: a 20-turn Codex-shaped tool loop replayed through the gateway
against the fake upstream's simulated Anthropic prompt cache (``tests.support.cache_replay``),
with the gateway's automatic breakpoints and without. Run with ``-s`` to see the numbers (the
same as ``python -m tests.support.cache_replay``)."""

from __future__ import annotations

import pytest

from tests.support.cache_replay import measure
from tests.support.fake_anthropic import PrefixCache

pytestmark = pytest.mark.e2e


async def test_breakpoints_make_most_input_a_cache_read() -> None:
    with_bp, without = await measure(20)
    print()
    print(with_bp.line())
    print(without.line())
    assert len(with_bp.turns) == len(without.turns) == 20
    # The same conversation costs the same input either way; only its pricing differs.
    assert with_bp.input_tokens == without.input_tokens
    assert without.cache_read == 0
    assert without.cache_write == 0
    assert with_bp.read_share > 0.9
    # From the second request on, every request reads what the one before it wrote.
    for before, after in zip(with_bp.turns, with_bp.turns[1:], strict=False):
        assert after["cached_tokens"] == before["input_tokens"]


def _body(n_user_blocks: int, marks: list[int]) -> dict[str, object]:
    blocks = [
        {
            "type": "text",
            "text": f"block {i} " * 50,
            **({"cache_control": {"type": "ephemeral"}} if i in marks else {}),
        }
        for i in range(n_user_blocks)
    ]
    return {"messages": [{"role": "user", "content": blocks}]}


def test_simulated_cache_reads_the_longest_written_prefix() -> None:
    cache = PrefixCache()
    first = cache.account(_body(5, [4]))
    assert first["cache_read_input_tokens"] == 0
    assert first["input_tokens"] == 0  # everything up to the marker is written
    second = cache.account(_body(8, [7]))
    assert second["cache_read_input_tokens"] == first["cache_creation_input_tokens"]
    assert second["input_tokens"] == 0


def test_simulated_cache_looks_back_at_most_20_blocks() -> None:
    cache = PrefixCache()
    cache.account(_body(2, [1]))
    far = cache.account(_body(30, [29]))  # the written prefix ends 28 blocks before the marker
    assert far["cache_read_input_tokens"] == 0
    cache = PrefixCache()
    cache.account(_body(2, [1]))
    both = cache.account(_body(30, [1, 29]))  # a marker at the old end finds it
    assert both["cache_read_input_tokens"] > 0


def test_simulated_cache_ignores_where_markers_were() -> None:
    cache = PrefixCache()
    cache.account(_body(4, [3]))
    # Same content, marker elsewhere: the prefix up to block 3 is still a hit.
    again = cache.account(_body(6, [5]))
    assert again["cache_read_input_tokens"] > 0
    assert PrefixCache().account(_body(4, []))["cache_creation_input_tokens"] == 0
