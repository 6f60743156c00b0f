"""Retention: an event is gone from its `expires_at` on.

The API answers 404 for an event past its `expires_at` (`is_live`), whether or not its rows
are still there; the rows (event, deliveries, attempts) are deleted by `delete_expired`, run
by the expiry sweep (infra/sweeps.py) of every worker process (the standalone worker and the
API's embedded one). The sweep is idempotent: several processes may sweep at once, each
deletes what is still there, a bounded batch per transaction. EventWorkflow deletes nothing at
expiry (runs begun by the release before it still run `expire_event`: just as harmless).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, Connection, delete, select

from hookline.store.tables import Attempt, Delivery, Event

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
