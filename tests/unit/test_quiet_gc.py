"""Full collections wait for a quiet moment, or for `force_after` units of work."""

from __future__ import annotations

import asyncio
import gc
import weakref

from hookline.infra.quiet_gc import QuietCollector


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


def cycle() -> weakref.ref:
    a, b = Node(), Node()
    a.other, b.other = b, a
    return weakref.ref(a)


async def test_collects_cyclic_garbage_once_quiet():
    collector = QuietCollector(quiet=0.05, force_after=10_000)
    gc.disable()  # only the collector may free the cycle
    try:
        garbage = cycle()
        running = asyncio.create_task(collector.run())
        for _ in range(8):  # busy: touched more often than `quiet`
            collector.touch()
            await asyncio.sleep(0.01)
        assert garbage() is not None and collector.collections == 0
        for _ in range(100):  # up to 2 s of quiet
            if garbage() is None:
                break
            await asyncio.sleep(0.02)
        running.cancel()
    finally:
        gc.enable()
    assert garbage() is None
    assert collector.collections == 1 and collector.pending == 0


def test_nothing_to_do_without_work_and_forced_under_sustained_work():
    collector = QuietCollector(quiet=60, force_after=3)
    assert not collector.due()  # idle since start, but nothing happened
    collector.touch()
    collector.touch()
    assert not collector.due()  # busy, under the cap
    collector.touch()
    assert collector.due()  # busy, at the cap
    collector.collect()
    assert not collector.due()
