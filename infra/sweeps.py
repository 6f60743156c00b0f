"""The loops every worker process runs beside its worker (process.py starts them)."""

from __future__ import annotations

import asyncio
import logging
import random
from datetime import UTC, datetime, timedelta

from hookline.store.retention import SWEEP_BATCH, SWEEP_BATCHES, SWEEP_EVERY, delete_expired
from hookline.store.transactions import Store

log = logging.getLogger("hookline.retention")


class ExpirySweep:
    """Runs `delete_expired` every `every`, until cancelled (a background task)."""

    def __init__(
        self,
        store: Store,
        every: timedelta = SWEEP_EVERY,
        batch: int = SWEEP_BATCH,
        batches: int = SWEEP_BATCHES,
    ) -> None:
        self.store, self.every, self.batch, self.batches = store, every, batch, batches
        self.deleted = 0  # events, since the process started

    async def sweep(self, now: datetime | None = None) -> int:
        """One round: batches until one comes back short (or `batches` of them)."""
        now = now or datetime.now(UTC)
        deleted = 0
        for _ in range(self.batches):
            n = await self.store.transaction(delete_expired, now, self.batch)
            deleted += n
            if n < self.batch:
                break
            await asyncio.sleep(0)  # between two batches, the process's other work goes on
        self.deleted += deleted
        if deleted:
            log.info("deleted %d expired events", deleted)
        return deleted

    async def run(self) -> None:
        # Processes started together do not all sweep at the same moment.
        await asyncio.sleep(random.uniform(0, self.every.total_seconds()))
        while True:
            try:
                await self.sweep()
            except Exception:  # the store is down or busy: the next round will do
                log.warning("expiry sweep failed", exc_info=True)
            await asyncio.sleep(self.every.total_seconds())
