"""Admission (store/admission.py): at most `cap` deliveries of one webhook hold a lease at
once, counted across processes (two stores on one database stand for two processes); a lease
goes with the recording of its attempt, or expires when its process died mid-POST."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from hookline.store.admission import Candidate, admit, in_flight, release
from hookline.store.engine import create_engine
from hookline.store.tables import Webhook
from hookline.store.transactions import Store
from tests.support.store import add_webhook

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


@pytest.fixture
async def stores(settings):
    """Two stores on one database: two processes."""
    made = []
    for _ in range(2):
        engine = create_engine(settings.resolved_database_url)
        made.append((Store(settings.resolved_database_url, engine), engine))
    yield [store for store, _ in made]
    for store, engine in made:
        store.close()
        await engine.dispose()


def candidates(webhook_id: str, n: int, cap: int, first: int = 0) -> list[Candidate]:
    return [Candidate(f"dlv_{i}", webhook_id, cap, 15.0) for i in range(first, first + n)]


async def test_a_webhook_gets_at_most_its_cap_across_processes(stores, sessions, tenant):
    webhook = await add_webhook(sessions, tenant.tenant_id, "https://hooks.example.com/a")
    one, two = stores
    refused_one = await one.transaction(admit, candidates(webhook.id, 3, cap=4), NOW)
    refused_two = await two.transaction(admit, candidates(webhook.id, 3, cap=4, first=3), NOW)
    assert refused_one == {}
    assert sorted(refused_two) == ["dlv_4", "dlv_5"]
    assert "4 deliveries in flight (max 4)" in refused_two["dlv_4"].reason
    assert await one.transaction(in_flight, webhook.id, NOW) == 4


async def test_concurrent_admitters_never_exceed_the_cap(stores, sessions, tenant):
    webhook = await add_webhook(sessions, tenant.tenant_id, "https://hooks.example.com/a")
    one, two = stores
    results = await asyncio.gather(
        *(
            (one if n % 2 else two).transaction(
                admit, candidates(webhook.id, 1, cap=3, first=n), NOW
            )
            for n in range(12)
        )
    )
    assert sum(1 for refused in results if not refused) == 3
    assert await one.transaction(in_flight, webhook.id, NOW) == 3


async def test_a_released_or_expired_lease_frees_its_place(stores, sessions, tenant):
    webhook = await add_webhook(sessions, tenant.tenant_id, "https://hooks.example.com/a")
    store = stores[0]
    assert await store.transaction(admit, candidates(webhook.id, 2, cap=2), NOW) == {}
    assert await store.transaction(admit, candidates(webhook.id, 1, cap=2, first=2), NOW)
    await store.transaction(release, ["dlv_0"])
    assert await store.transaction(admit, candidates(webhook.id, 1, cap=2, first=2), NOW) == {}
    # dlv_1's process died mid-POST: its lease (timeout + margin) runs out.
    later = NOW + timedelta(seconds=15 + 31)
    assert await store.transaction(admit, candidates(webhook.id, 2, cap=2, first=3), later) == {}


async def test_a_delivery_holding_a_lease_keeps_it_when_asked_again(stores, sessions, tenant):
    """A retried step (its store write failed after the POSTs) asks again: not refused."""
    webhook = await add_webhook(sessions, tenant.tenant_id, "https://hooks.example.com/a")
    store = stores[0]
    assert await store.transaction(admit, candidates(webhook.id, 1, cap=1), NOW) == {}
    assert await store.transaction(admit, candidates(webhook.id, 1, cap=1), NOW) == {}
    assert await store.transaction(in_flight, webhook.id, NOW) == 1


async def test_an_operators_redelivery_goes_through_an_open_circuit(stores, sessions, tenant):
    """The operator fixed the endpoint and redelivers: no waiting for the next probe."""
    webhook = await add_webhook(sessions, tenant.tenant_id, "https://hooks.example.com/a")
    store = stores[0]
    async with sessions.begin() as session:
        await session.execute(
            update(Webhook)
            .where(Webhook.id == webhook.id)
            .values(breaker_state="open", breaker_until=NOW + timedelta(minutes=5))
        )
    scheduled = candidates(webhook.id, 1, cap=5)
    manual = [Candidate("dlv_9", webhook.id, 5, 15.0, manual=True)]
    assert "circuit open" in (await store.transaction(admit, scheduled, NOW))["dlv_0"].reason
    assert await store.transaction(admit, manual, NOW) == {}
