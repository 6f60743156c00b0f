"""Retention: an event is gone from its `expires_at` on.

The API answers 404 for an event past its `expires_at` (`is_live`), whether or not its rows
are still there; the rows (event, deliveries, attempts) are deleted by `ExpirySweep`, which
every worker process (the standalone worker and the API's embedded one) runs beside its
worker. The sweep is idempotent: several processes may sweep at once, each deletes what is
still there, a bounded batch per transaction. EventWorkflow no longer deletes anything at
expiry (runs begun before that change still run `expire_event`, which is just as harmless).
"""

from __future__ import annotations

import asyncio
import logging
import random
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, Connection, delete, select

from hookline.core.store import Store
from hookline.core.tables import Attempt, Delivery, Event

log = logging.getLogger("hookline.retention")

SWEEP_EVERY = timedelta(minutes=1)
SWEEP_BATCH = 500  # events per transaction: a short write, even on SQLite on the loop
# Per round at most (100,000 events a minute per process by default); the next round takes
# the rest.
SWEEP_BATCHES = 200


def is_live(now: datetime | None = None) -> ColumnElement[bool]:
    """Events still in their window: the filter of every read of events."""
    return Event.expires_at > (now or datetime.now(UTC))


def has_expired(expires_at: datetime, now: datetime | None = None) -> bool:
    """The same test on one event's `expires_at`."""
    return expires_at <= (now or datetime.now(UTC))


def delete_expired(connection: Connection, now: datetime, batch: int = SWEEP_BATCH) -> int:
    """Deletes up to `batch` events past their `expires_at`, with their deliveries and
    attempts; returns how many events it deleted. On PostgreSQL the batch's rows are locked
    and those another sweep holds are skipped (two processes take different batches, neither
    waits); SQLite has one writer at a time anyway."""
    events = Event.__table__
    ids = list(
        connection.execute(
            select(events.c.id)
            .where(events.c.expires_at <= now)
            .order_by(events.c.expires_at, events.c.id)
            .limit(batch)
            .with_for_update(skip_locked=True)
        ).scalars()
    )
    if not ids:
        return 0
    attempts, deliveries = Attempt.__table__, Delivery.__table__
    connection.execute(delete(attempts).where(attempts.c.event_id.in_(ids)))
    connection.execute(delete(deliveries).where(deliveries.c.event_id.in_(ids)))
    return connection.execute(delete(events).where(events.c.id.in_(ids))).rowcount


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
