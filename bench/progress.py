"""The run's progress bar: one bar per scenario, filled as its deliveries reach the receiver."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


def timed_log(console: Console) -> Callable[[str], None]:
    """Logs each message with the seconds since this was called (the run's start)."""
    started = time.monotonic()

    def say(message: str) -> None:
        console.log(f"[{time.monotonic() - started:5.1f}s] {message}")

    return say


def progress_bar(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description:<36}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        refresh_per_second=4,  # its thread shares the 2 cores with what is measured
    )


@contextlib.asynccontextmanager
async def tracked(
    progress: Progress | None,
    label: str,
    total: int,
    done: Callable[[], Awaitable[int]],
    every: float = 0.5,
) -> AsyncIterator[None]:
    """A bar for the block, set to `await done()` (deliveries so far) every `every` seconds
    while it runs, and once more at its end."""
    if progress is None:
        yield
        return
    task = progress.add_task(label, total=total)

    async def poll() -> None:
        while True:
            progress.update(task, completed=min(total, await done()))
            await asyncio.sleep(every)

    poller = asyncio.create_task(poll())
    try:
        yield
    finally:
        poller.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await poller
        with contextlib.suppress(Exception):  # the receiver gone: the bar stays where it was
            progress.update(task, completed=min(total, await done()))
