"""Full garbage collections in quiet moments.

Every event leaves cyclic garbage behind when its workflow leaves the worker's cache (the
SDK's tasks, coroutines and frames refer to each other). By then those objects have aged
into the oldest generation, which the tuned thresholds (`tune_gc` below) almost never
collect, so the process's memory grows with every event while a periodic full collection
keeps it flat (docs/PERFORMANCE.md, "Memory"). A full collection pauses the process for a
noticeable time, so it runs once the process has had no store work for `quiet` seconds, or
regardless after `force_after` units of work (sustained load: memory stays bounded, at the
price of one pause). A process-wide policy: the process builder (`process.process_resources`)
owns the collector and runs it; the store only tells it when it works.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time

log = logging.getLogger("hookline.gc")


class QuietCollector:
    def __init__(self, quiet: float = 0.5, force_after: int = 5000) -> None:
        self.quiet, self.force_after = quiet, force_after
        self.pending = 0  # units of work since the last collection
        self.collections = 0
        self._last = time.monotonic()

    def touch(self) -> None:
        """One unit of work (a store transaction) was done."""
        self.pending += 1
        self._last = time.monotonic()

    def due(self) -> bool:
        quiet = time.monotonic() - self._last >= self.quiet
        return self.pending > 0 and (quiet or self.pending >= self.force_after)

    def collect(self) -> int:
        started = time.perf_counter()
        freed = gc.collect()
        self.pending, self.collections = 0, self.collections + 1
        log.debug("full GC: %d freed in %.0f ms", freed, (time.perf_counter() - started) * 1000)
        return freed

    async def run(self) -> None:
        """Until cancelled."""
        while True:
            await asyncio.sleep(self.quiet / 2)
            if self.due():
                self.collect()


def tune_gc() -> None:
    """Once started: startup objects (modules, app, SDK) never die, so keep them out of every
    GC pass, and collect less often (attempts allocate many short-lived objects). Measured
    with `hookline bench`: fewer latency spikes in the open-loop scenario."""
    gc.freeze()
    gc.set_threshold(10_000, 20, 20)
