"""Admission (store/admission.py): at most `cap` deliveries of one webhook hold a lease at
once, counted across processes (two stores on one database stand for two processes); a lease
goes with the recording of its attempt, or expires when its process died mid-POST."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from hookline.store.admission import (
    LATENCY_WEIGHT,
    BreakerPolicy,
    Candidate,
    account,
    admit,
    in_flight,
    release,
)
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


async def test_a_delivery_holding_a_lease_waits_for_it_when_asked_again(stores, sessions, tenant):
    """Asked again while its lease is held (another run of its step is POSTing it: the run
    was evicted from a worker's cache and replayed; or its process died mid-POST), a delivery
    waits, parked, until that lease is released or runs out: never two POSTs at once."""
    webhook = await add_webhook(sessions, tenant.tenant_id, "https://hooks.example.com/a")
    store = stores[0]
    assert await store.transaction(admit, candidates(webhook.id, 1, cap=5), NOW) == {}
    refused = await store.transaction(admit, candidates(webhook.id, 1, cap=5), NOW)
    assert "in flight" in refused["dlv_0"].reason
    assert refused["dlv_0"].turn  # the run that records it wakes it
    assert refused["dlv_0"].wait == pytest.approx(15 + 10)  # at most until the lease ends
    await store.transaction(release, ["dlv_0"])
    assert await store.transaction(admit, candidates(webhook.id, 1, cap=5), NOW) == {}
    later = NOW + timedelta(seconds=15 + 11)  # died mid-POST: its lease ran out
    assert await store.transaction(admit, candidates(webhook.id, 1, cap=5), later) == {}
    assert await store.transaction(in_flight, webhook.id, later) == 1


async def test_a_retried_step_keeps_the_lease_its_earlier_try_held(stores, sessions, tenant):
    """The earlier try ended (its store write failed after the POSTs): its retry goes on."""
    webhook = await add_webhook(sessions, tenant.tenant_id, "https://hooks.example.com/a")
    store = stores[0]
    assert await store.transaction(admit, candidates(webhook.id, 1, cap=1), NOW) == {}
    retry = [Candidate("dlv_0", webhook.id, 1, 15.0, retried=True)]
    assert await store.transaction(admit, retry, NOW) == {}
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


async def _set_latency(sessions, webhook_id: str, latency_ms: int | None) -> None:
    async with sessions.begin() as session:
        await session.execute(
            update(Webhook).where(Webhook.id == webhook_id).values(latency_ms=latency_ms)
        )


def default_capped(webhook_id: str, n: int, first: int = 0) -> list[Candidate]:
    """Candidates of a webhook with no `max_in_flight` of its own: the default cap, 2."""
    return [
        Candidate.sized(f"dlv_{i}", webhook_id, None, 2, timeout=15.0)
        for i in range(first, first + n)
    ]


async def test_an_endpoint_not_known_yet_or_slow_gets_the_default_cap(stores, sessions, tenant):
    webhook = await add_webhook(sessions, tenant.tenant_id, "https://hooks.example.com/a")
    store = stores[0]
    refused = await store.transaction(admit, default_capped(webhook.id, 4), NOW)
    assert sorted(refused) == ["dlv_2", "dlv_3"]  # no attempt recorded yet: not known fast
    await store.transaction(release, ["dlv_0", "dlv_1"])
    await _set_latency(sessions, webhook.id, 4_000)  # its answers take seconds
    refused = await store.transaction(admit, default_capped(webhook.id, 4, first=10), NOW)
    assert sorted(refused) == ["dlv_12", "dlv_13"]
    assert "(max 2)" in refused["dlv_12"].reason


async def test_an_endpoint_that_answers_fast_is_not_held_to_the_default(stores, sessions, tenant):
    """What holds a fast endpoint's leases is hookline's own queueing: a burst to it is not
    throttled by the default cap."""
    webhook = await add_webhook(sessions, tenant.tenant_id, "https://hooks.example.com/a")
    store = stores[0]
    await _set_latency(sessions, webhook.id, 40)
    assert await store.transaction(admit, default_capped(webhook.id, 12), NOW) == {}
    assert await store.transaction(in_flight, webhook.id, NOW) == 12


async def test_a_fast_endpoint_whose_leases_grow_old_is_slow_again(stores, sessions, tenant):
    """It starts to hang: once a lease is older than STUCK, the default cap binds again,
    before any attempt of it is recorded."""
    webhook = await add_webhook(sessions, tenant.tenant_id, "https://hooks.example.com/a")
    store = stores[0]
    await _set_latency(sessions, webhook.id, 40)
    assert await store.transaction(admit, default_capped(webhook.id, 3), NOW) == {}
    later = NOW + timedelta(seconds=4)
    refused = await store.transaction(admit, default_capped(webhook.id, 1, first=3), later)
    assert "3 deliveries in flight (max 2)" in refused["dlv_3"].reason


async def test_a_webhooks_own_cap_holds_at_any_speed(stores, sessions, tenant):
    webhook = await add_webhook(sessions, tenant.tenant_id, "https://hooks.example.com/a")
    store = stores[0]
    await _set_latency(sessions, webhook.id, 5)
    own = [Candidate.sized(f"dlv_{i}", webhook.id, 1, 2, timeout=15.0) for i in range(3)]
    assert sorted(await store.transaction(admit, own, NOW)) == ["dlv_1", "dlv_2"]


async def test_recorded_attempts_set_the_webhooks_moving_average(stores, sessions, tenant):
    webhook = await add_webhook(sessions, tenant.tenant_id, "https://hooks.example.com/a")
    store = stores[0]
    policy = BreakerPolicy(min_attempts=1000)
    await store.transaction(account, [(webhook.id, True, 100)], NOW, policy)
    await store.transaction(account, [(webhook.id, False, 15_100)], NOW, policy)
    async with sessions.begin() as session:
        latency = await session.scalar(select(Webhook.latency_ms).where(Webhook.id == webhook.id))
    assert latency == round(100 + LATENCY_WEIGHT * 15_000)


async def test_a_fan_outs_attempts_are_counted_webhook_by_webhook(stores, sessions, tenant):
    """One transaction accounts for many webhooks at once (a fan-out's attempts): each gets
    its own breaker, failure clock and moving average, whichever columns the others change."""
    failing, fine, once = [
        await add_webhook(sessions, tenant.tenant_id, f"https://hooks.example.com/{name}")
        for name in ("failing", "fine", "once")
    ]
    outcomes = [(failing.id, False, 15_000)] * 10 + [(fine.id, True, 40), (once.id, False, 900)]
    await stores[0].transaction(account, outcomes, NOW, BreakerPolicy())
    async with sessions.begin() as session:
        rows = {
            row.id: row
            for row in await session.scalars(
                select(Webhook).where(Webhook.id.in_([failing.id, fine.id, once.id]))
            )
        }
    assert rows[failing.id].breaker_state == "open"
    assert rows[failing.id].failing_since == NOW and rows[failing.id].latency_ms == 15_000
    assert rows[fine.id].breaker_state == "closed" and rows[fine.id].failing_since is None
    assert (rows[fine.id].latency_ms, rows[fine.id].last_triggered) == (40, NOW)
    assert rows[once.id].breaker_state == "closed" and rows[once.id].failing_since == NOW
    assert (rows[once.id].window_attempts, rows[once.id].window_failures) == (1, 1)


async def test_booked_slots_that_come_back_together_pass_at_most_twice_the_rate_a_second(
    stores, sessions, tenant
):
    """A rate-limited webhook's refused deliveries book slots 1/rate apart and come back on
    timers; a late server fires those of several seconds at once. A second's worth passes at
    once, the others come back when they would pass (their slots kept): no window of one
    second sees more than twice the limit, and the backlog still drains at the limit."""
    limit = 3
    webhook = await add_webhook(sessions, tenant.tenant_id, "https://hooks.example.com/a")
    one, two = stores
    async with sessions.begin() as session:
        await session.execute(
            update(Webhook).where(Webhook.id == webhook.id).values(rate_limit=limit)
        )
    first = candidates(webhook.id, 10, cap=100)
    refused = await one.transaction(admit, first, NOW)
    assert sorted(refused) == [f"dlv_{i}" for i in range(1, 10)]  # dlv_0 went; 9 booked
    assert all(r.booked for r in refused.values())
    assert [refused[f"dlv_{i}"].wait for i in (1, 2, 9)] == pytest.approx([1 / 3, 2 / 3, 3])
    # Their timers all fire together 3.5 s later; each refused one comes back when told,
    # through either process.
    due = {
        c.delivery_id: (NOW + timedelta(seconds=3.5), replace(c, booked=True)) for c in first[1:]
    }
    admitted: list[datetime] = []
    for step in range(100):  # bounded: each round admits at least one
        if not due:
            break
        at = min(when for when, _ in due.values())
        batch = [c for when, c in due.values() if when == at]
        store = (one, two)[step % 2]
        again = await store.transaction(admit, batch, at)
        for c in batch:
            if c.delivery_id in again:
                assert again[c.delivery_id].booked
                due[c.delivery_id] = (at + timedelta(seconds=again[c.delivery_id].wait), c)
            else:
                admitted.append(at)
                del due[c.delivery_id]
    assert not due and admitted.count(NOW + timedelta(seconds=3.5)) == limit
    busiest = max(sum(1 for u in admitted if t <= u < t + timedelta(seconds=1)) for t in admitted)
    assert busiest <= 2 * limit
    # The backlog drains at the limit: the ninth passes 2 s after the first three.
    drained = (admitted[-1] - admitted[0]).total_seconds()
    assert drained == pytest.approx((9 - limit) / limit, abs=0.01)
