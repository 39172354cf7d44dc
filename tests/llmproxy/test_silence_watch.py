"""The pump's silence timer: its own wake-up becomes TimeoutError, any other cancellation
(a client that went away, shutdown) propagates untouched."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, cast

import pytest

from llmproxy.handler import _SilenceWatch


class Reader:
    """Just enough of aiohttp's StreamReader: ``readany`` waits for ``push``."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes] = asyncio.Queue()

    async def readany(self) -> bytes:
        return await self.queue.get()

    def push(self, data: bytes) -> None:
        self.queue.put_nowait(data)


async def test_silence_becomes_timeout_then_data_still_arrives() -> None:
    watch = _SilenceWatch(0.05)
    reader = Reader()
    try:
        with pytest.raises(TimeoutError):
            await watch.read(cast(Any, reader))
        with pytest.raises(TimeoutError):  # and again: the timer re-arms itself
            await watch.read(cast(Any, reader))
        reader.push(b"data")
        assert await watch.read(cast(Any, reader)) == b"data"
        task = asyncio.current_task()
        assert task is not None
        assert task.cancelling() == 0  # nothing of the watch's own cancels is left over
    finally:
        watch.close()


async def test_data_before_the_interval_never_times_out() -> None:
    watch = _SilenceWatch(0.2)
    reader = Reader()
    try:
        for i in range(5):
            asyncio.get_running_loop().call_later(0.05, reader.push, b"%d" % i)
            assert await watch.read(cast(Any, reader)) == b"%d" % i
    finally:
        watch.close()


async def test_a_cancellation_from_elsewhere_propagates() -> None:
    async def pump() -> None:
        watch = _SilenceWatch(10.0)
        try:
            await watch.read(cast(Any, Reader()))
        finally:
            watch.close()

    task = asyncio.create_task(pump())
    await asyncio.sleep(0.02)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_elsewhere_cancel_wins_over_the_timer() -> None:
    async def pump() -> None:  # like the real pump: a timeout is a heartbeat, then read on
        watch = _SilenceWatch(0.05)
        try:
            while True:
                with contextlib.suppress(TimeoutError):
                    await watch.read(cast(Any, Reader()))
        finally:
            watch.close()

    task = asyncio.create_task(pump())
    await asyncio.sleep(0.049)
    task.cancel()  # the client leaves just as the timer fires
    await asyncio.sleep(0.01)
    with pytest.raises(asyncio.CancelledError):
        await task
