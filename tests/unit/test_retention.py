"""The expiry sweep (store/retention.py) on SQLite and PostgreSQL: it deletes the events past
their `expires_at` with their deliveries and attempts, nothing else, a bounded batch at a
time, and sweeping twice (or from two processes at once) is harmless."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from hookline.infra.sweeps import ExpirySweep
from hookline.store.engine import create_engine
from hookline.store.transactions import Store
from tests.support.events import add_event
from tests.support.store import event_rows


async def gone(sessions, event_id: str) -> bool:
    event, deliveries, attempts = await event_rows(sessions, event_id)
    return event is None and deliveries == {} and attempts == []


async def test_the_sweep_deletes_expired_events_and_only_them(store, sessions, tenant):
    now = datetime.now(UTC)
    expired = [
        (await add_event(sessions, tenant.tenant_id, "wh_a", now - timedelta(minutes=m)))[0]
        for m in (1, 2, 3)
    ]
    live, _ = await add_event(sessions, tenant.tenant_id, "wh_a", now + timedelta(days=7))
    sweep = ExpirySweep(store, batch=2, batches=1)
    assert await sweep.sweep(now) == 2  # one batch of two: the oldest first
    assert [await gone(sessions, e) for e in expired] == [False, True, True]
    assert await sweep.sweep(now) == 1
    assert await sweep.sweep(now) == 0  # idempotent: nothing left to do
    assert all([await gone(sessions, e) for e in expired])
    event, deliveries, attempts = await event_rows(sessions, live)
    assert event is not None and len(deliveries) == 1 and len(attempts) == 1
    assert sweep.deleted == 3


async def test_two_sweeps_at_once_delete_each_event_once(store, sessions, tenant, settings):
    now = datetime.now(UTC)
    expired = [
        (await add_event(sessions, tenant.tenant_id, "wh_b", now - timedelta(seconds=s)))[0]
        for s in range(1, 8)
    ]
    other_engine = create_engine(settings.resolved_database_url)
    other = Store(settings.resolved_database_url, other_engine)  # as another process
    try:
        counts = await asyncio.gather(
            ExpirySweep(store, batch=3).sweep(now), ExpirySweep(other, batch=3).sweep(now)
        )
    finally:
        other.close()
        await other_engine.dispose()
    assert sum(counts) == len(expired)
    assert all([await gone(sessions, e) for e in expired])
