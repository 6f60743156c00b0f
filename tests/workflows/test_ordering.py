"""Ordered delivery (`ordering: "fifo"`): a webhook's events arrive in publish order, each
after the previous one succeeded or failed for good, retries included; a webhook without
ordering beside it is not held. The real dev server, a real receiver on 127.0.0.1, the store."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select, update

from bench import actions
from hookline.store.engine import create_engine
from hookline.store.tables import Delivery, Webhook
from hookline.store.transactions import Store
from tests.support.flow import publish_recorded, settled
from tests.support.receiver import Reply
from tests.support.store import add_webhook, event_rows
from tests.support.temporal import isolated_settings, running_worker

FAST = {"retry_initial_interval": 1, "retry_backoff": 1.5}
EVENTS = 6


@pytest.fixture
async def store(settings):
    engine = create_engine(settings.resolved_database_url)
    made = Store(settings.resolved_database_url, engine)
    yield made
    made.close()
    await engine.dispose()


async def _fifo(sessions, tenant_id: str, url: str, retry: dict | None = None) -> Webhook:
    webhook = await add_webhook(sessions, tenant_id, url, retry=retry)
    async with sessions.begin() as session:
        await session.execute(
            update(Webhook).where(Webhook.id == webhook.id).values(ordering="fifo")
        )
    return webhook


@pytest.mark.parametrize("store_kind", ["sqlite", "postgres"])
async def test_a_fifo_webhook_gets_its_events_in_publish_order_under_retries(
    dev_env, settings, sessions, store, tenant, receiver
):
    settings = isolated_settings(settings, **FAST)
    # The first event is answered 503 twice: every later one must wait for its success.
    receiver.script("/ordered", [Reply(503), Reply(503), Reply(200, delay=0.2)])
    receiver.script("/any", Reply(200))
    ordered = await _fifo(sessions, tenant.tenant_id, receiver.url("/ordered"))
    await add_webhook(sessions, tenant.tenant_id, receiver.url("/any"))
    async with running_worker(dev_env.client, settings):
        handles = []
        for n in range(EVENTS):  # one after the other, each after the previous one's start
            handles.append(
                await publish_recorded(store, dev_env.client, settings, tenant.tenant_id, {"n": n})
            )
        unordered = await receiver.wait_for(EVENTS, path="/any", timeout=30)
        arrived = await receiver.wait_for(EVENTS + 2, path="/ordered", timeout=90)
        outcomes = await asyncio.gather(*(settled(h, timeout=60) for h in handles))
    ids = [h.id for h in handles]
    assert [r.json()["id"] for r in arrived] == [ids[0]] * 3 + ids[1:]
    assert [r.headers["x-webhook-attempt"] for r in arrived] == ["1", "2", "3"] + ["1"] * (
        EVENTS - 1
    )
    # The webhook without ordering got every event at once, before the first one's retries.
    assert sorted(r.json()["id"] for r in unordered) == sorted(ids)
    assert max(r.at for r in unordered) < arrived[1].at
    assert {o.status for o in outcomes} == {"succeeded"}
    for handle in handles[1:]:
        _, deliveries, attempts = await event_rows(sessions, handle.id)
        assert deliveries[ordered.id].status == "succeeded"
        assert len([a for a in attempts if a.webhook_id == ordered.id]) == 1  # waits used none


async def test_a_delivery_failed_for_good_lets_the_next_one_go(
    dev_env, settings, sessions, store, tenant, receiver
):
    settings = isolated_settings(settings, **FAST)
    # The first event's only attempt is a slow 400: the next waits for that answer.
    receiver.script("/ordered", [Reply(400, delay=1.0), Reply(200)])
    await _fifo(
        sessions, tenant.tenant_id, receiver.url("/ordered"), retry={"client_error_max_attempts": 1}
    )
    async with running_worker(dev_env.client, settings):
        handles = [
            await publish_recorded(store, dev_env.client, settings, tenant.tenant_id, {"n": n})
            for n in range(3)
        ]
        arrived = await receiver.wait_for(3, path="/ordered", timeout=60)
        outcomes = [await settled(h, timeout=60) for h in handles]
    assert [r.json()["id"] for r in arrived] == [h.id for h in handles]
    assert arrived[1].at >= arrived[0].at + 1.0  # not before the 400 was answered
    assert [o.status for o in outcomes] == ["failed", "succeeded", "succeeded"]


@pytest.mark.parametrize("store_kind", ["sqlite", "postgres"])
async def test_a_queue_moves_at_the_receivers_pace_for_a_few_actions_each(
    dev_env, settings, sessions, store, tenant, receiver
):
    """40 events queued behind each other: each one's turn comes by the signal of the one
    before (timers alone would take its POST timeout per event), for about 3 actions each."""
    settings = isolated_settings(settings, **FAST)
    receiver.script("/queue", Reply(200, delay=0.05))
    webhook = await _fifo(sessions, tenant.tenant_id, receiver.url("/queue"))
    events = 40
    async with running_worker(dev_env.client, settings):
        handles = []
        for n in range(events):  # one after the other, faster than the receiver takes them
            handles.append(
                await publish_recorded(store, dev_env.client, settings, tenant.tenant_id, {"n": n})
            )
        arrived = await receiver.wait_for(events, path="/queue", timeout=60)
        await asyncio.gather(*(settled(h, timeout=60) for h in handles))
        histories = [(await h.fetch_history()).to_json_dict() for h in handles]
    assert [r.json()["id"] for r in arrived] == [h.id for h in handles]
    async with sessions() as session:  # publish order is the order the store keeps
        in_line = (
            await session.scalars(
                select(Delivery.event_id)
                .where(Delivery.webhook_id == webhook.id)
                .order_by(Delivery.created_at, Delivery.id)
            )
        ).all()
    assert list(in_line) == [h.id for h in handles]
    counts = [actions.count_actions(history) for history in histories]
    # Beyond each event's window timer: the first went at once; each other waited about
    # once (a timer, an activity, and the turn signal that ended it).
    waits = sum(c["activities"] + c["timers"] + c["signals"] for c in counts) - events
    assert waits <= 4 * (events - 1), [actions.total(c) for c in counts]
