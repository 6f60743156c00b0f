"""On PostgreSQL, recording an attempt and admitting another delivery take a webhook's row
and a delivery's lease in one order: the webhook first. A recording that deleted its lease
before locking the webhook deadlocked with an admission that held the webhook and reclaimed
that lease (expired: its POST outlived it), under one tenant's burst to a hanging receiver."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, insert, select

from hookline.core.models import DeliverInput, SendResult
from hookline.core.retry import RetrySpec, decide
from hookline.store.admission import BreakerPolicy
from hookline.store.attempts import AttemptRecord, record_attempts
from hookline.store.engine import create_engine
from hookline.store.tables import Attempt, DeliveryLease, Webhook
from tests.support.events import add_event
from tests.support.store import add_webhook

SPEC = RetrySpec()


@pytest.fixture
def store_kind() -> str:
    return "postgres"  # SQLite's writers are serial: no cycle to wait in


async def test_a_recording_and_an_admission_reclaiming_its_lease_do_not_deadlock(
    store, sessions, tenant, settings
) -> None:
    now = datetime.now(UTC)
    webhook = await add_webhook(sessions, tenant.tenant_id, "https://example.com/slow")
    event_id, delivery_id = await add_event(
        sessions, tenant.tenant_id, webhook.id, now + timedelta(days=7), attempted=False
    )
    async with sessions.begin() as session:  # its POST outlived the lease
        await session.execute(
            insert(DeliveryLease).values(
                delivery_id=delivery_id,
                webhook_id=webhook.id,
                expires_at=now - timedelta(seconds=1),
            )
        )
    target = DeliverInput(
        event_id=event_id,
        tenant_id=tenant.tenant_id,
        webhook_id=webhook.id,
        delivery_id=delivery_id,
        retry=SPEC,
    )
    timed_out = SendResult(None, None, "timeout after 15s", 15_000, None, now)
    record = AttemptRecord(target, webhook.url, 1, timed_out, decide(None, 1, SPEC), None)

    engine = create_engine(settings.resolved_database_url)
    deadlocks_before = await _deadlocks(engine)
    try:
        async with engine.connect() as admission:
            await admission.begin()
            # An admission: the webhook's row, locked; then, below, the expired lease reclaimed.
            await admission.execute(
                select(Webhook.id).where(Webhook.id == webhook.id).with_for_update()
            )
            recording = asyncio.create_task(
                store.transaction(
                    record_attempts, [record], now, now - timedelta(days=3), BreakerPolicy()
                )
            )
            await asyncio.sleep(0.5)  # the recording now waits for the webhook's row
            await admission.execute(
                delete(DeliveryLease).where(DeliveryLease.delivery_id == delivery_id)
            )
            await admission.commit()
        await asyncio.wait_for(recording, 30)
        # The cycle, had there been one, was broken by aborting one side (and the store's
        # retry would have hidden it): the server's count says.
        assert await _deadlocks(engine) == deadlocks_before
    finally:
        await engine.dispose()
    async with sessions() as session:
        attempts = (await session.scalars(select(Attempt.error))).all()
        leases = (await session.scalars(select(DeliveryLease.delivery_id))).all()
    assert attempts == ["timeout after 15s"] and leases == []


async def _deadlocks(engine) -> int:
    """The database's deadlocks so far, as the server counts them (its statistics are
    reported by each backend; a fresh snapshot is asked for)."""
    async with engine.connect() as connection:
        await connection.exec_driver_sql("SELECT pg_stat_clear_snapshot()")
        await asyncio.sleep(1.2)  # backends report their counts at most once a second
        found = await connection.exec_driver_sql(
            "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()"
        )
        return int(found.scalar_one())
