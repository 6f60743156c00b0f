"""The bench's progress bars follow the deliveries counted at the receiver."""

from __future__ import annotations

import asyncio
import io

from rich.console import Console

from bench.progress import progress_bar, tracked


async def test_a_bar_follows_the_count_and_ends_at_the_final_one() -> None:
    arrived = 0

    async def done() -> int:
        return arrived

    progress = progress_bar(Console(file=io.StringIO(), width=120))
    seen: list[float] = []
    with progress:
        async with tracked(progress, "fan-out x10", 300, done, every=0.01):
            for count in (40, 120, 250):
                arrived = count  # what done() answers from now on
                await asyncio.sleep(0.05)
                seen.append(progress.tasks[0].completed)
            arrived = 320  # more than expected (a duplicate): the bar stops at its total
    task = progress.tasks[0]
    assert (task.description, task.total, task.completed) == ("fan-out x10", 300, 300)
    assert seen == [40, 120, 250]


async def test_without_a_progress_bar_the_block_just_runs() -> None:
    calls = 0

    async def done() -> int:
        nonlocal calls
        calls += 1
        return 0

    async with tracked(None, "B", 10, done):
        await asyncio.sleep(0.01)
    assert calls == 0
