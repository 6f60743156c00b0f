"""A run evicted from the worker's cache while its attempt 1 is POSTing replays, and its
replay asks for attempt 1 again: it must not POST it again. A worker evicts runs whenever it
holds more open events than `max_cached_workflows` (a burst, a hanging endpoint's backlog).
The real dev server, a real receiver on 127.0.0.1, the real store."""

from __future__ import annotations

import asyncio
from collections import Counter

from sqlalchemy import select

from hookline.core.models import DeliveryStatus
from hookline.store.tables import Attempt, Delivery
from tests.support.flow import publish_recorded
from tests.support.receiver import Reply
from tests.support.store import add_webhook
from tests.support.temporal import isolated_settings, running_worker

EVENTS = 8
ANSWER_AFTER = 3.0  # s: each POST is still in flight while later events evict its run


async def test_a_run_evicted_mid_post_does_not_post_again(
    dev_env, settings, sessions, tenant, receiver
):
    # Two runs cached at most: every new event evicts one whose POST is still in flight.
    settings = isolated_settings(settings, max_cached_workflows=2)
    receiver.script("/slow", Reply(200, delay=ANSWER_AFTER))
    webhook = await add_webhook(sessions, tenant.tenant_id, receiver.url("/slow"))
    async with running_worker(dev_env.client, settings) as deps:
        handles = [
            await publish_recorded(deps.store, dev_env.client, settings, tenant.tenant_id, {"n": n})
            for n in range(EVENTS)
        ]
        received = await receiver.wait_for(EVENTS, path="/slow", timeout=60)
        settled = await _settled(sessions, webhook.id, EVENTS)
        await asyncio.sleep(ANSWER_AFTER + 2)  # a replay's second POST would arrive by now
        for handle in handles:
            await handle.terminate("test over")
    posts = Counter(r.headers["x-webhook-delivery-id"] for r in receiver.for_path("/slow"))
    assert len(received) >= EVENTS
    assert len(posts) == EVENTS
    assert max(posts.values()) == 1, posts  # no delivery POSTed twice
    assert settled == {DeliveryStatus.SUCCEEDED: EVENTS}
    async with sessions() as session:
        numbers = (
            await session.scalars(select(Attempt.number).where(Attempt.webhook_id == webhook.id))
        ).all()
    assert sorted(numbers) == [1] * EVENTS  # one attempt each, recorded once


async def _settled(sessions, webhook_id: str, count: int) -> dict[str, int]:
    """The deliveries' statuses once `count` of them are final (bounded: 60 s)."""
    for _ in range(600):
        async with sessions() as session:
            statuses = (
                await session.scalars(
                    select(Delivery.status).where(Delivery.webhook_id == webhook_id)
                )
            ).all()
        if sum(s != "pending" for s in statuses) >= count:
            return dict(Counter(statuses))
        await asyncio.sleep(0.1)
    return dict(Counter(statuses))
