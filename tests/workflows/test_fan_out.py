"""An event matched by thousands of webhooks, on the real stack's parts (the dev server, a
receiver on 127.0.0.1, the store): chunk workflows deliver it, a share fails and is retried
under its policy, every delivery is recorded, the event settles, and redelivery works."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select
from temporalio.client import Client

from hookline.core import ids, signing
from hookline.core.models import RedeliverSignal
from hookline.store.tables import Attempt, Delivery, Event, Webhook
from hookline.workflows.event import CHUNK_SIZE, EventWorkflow
from tests.support.flow import publish
from tests.support.receiver import Reply
from tests.support.temporal import isolated_settings, running_worker

WEBHOOKS = 2_000
FAILING_ONCE = 100  # answer 503, then 200


async def add_webhooks(sessions, tenant_id: str, urls: list[str]) -> list[str]:
    webhooks = [
        Webhook(
            id=ids.webhook_id(),
            tenant_id=tenant_id,
            url=url,
            events=["user.created"],
            secret=signing.new_secret(),
        )
        for url in urls
    ]
    async with sessions.begin() as session:
        session.add_all(webhooks)
    return [w.id for w in webhooks]


async def counts(sessions, event_id: str) -> tuple[str, dict[str, int], int]:
    async with sessions() as session:
        status = await session.scalar(select(Event.status).where(Event.id == event_id))
        by_status = dict(
            (
                await session.execute(
                    select(Delivery.status, func.count())
                    .where(Delivery.event_id == event_id)
                    .group_by(Delivery.status)
                )
            ).all()
        )
        attempts = await session.scalar(
            select(func.count()).select_from(Attempt).where(Attempt.event_id == event_id)
        )
    return status, by_status, attempts


async def settled_as(sessions, event_id: str, status: str, deliveries: int, timeout: float):
    """Until the event has `status` and all its `deliveries` that status too."""

    async def settled() -> bool:
        now, by_status, _ = await counts(sessions, event_id)
        return now == status and by_status == {status: deliveries}

    await until(settled, timeout)


async def until(check, timeout: float) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("condition never held")
        await asyncio.sleep(0.25)


async def chunk_runs(client: Client, event_id: str) -> list[str]:
    return [w.id async for w in client.list_workflows(f"WorkflowId STARTS_WITH '{event_id}-s'")]


async def test_an_event_to_2000_webhooks_is_delivered_retried_recorded_and_redelivered(
    dev_env, settings, sessions, tenant, receiver
):
    settings = isolated_settings(settings, retry_initial_interval=1)
    paths = [f"/w{n}" for n in range(WEBHOOKS)]
    for path in paths[:FAILING_ONCE]:
        receiver.script(path, [Reply(503), Reply(200)])
    webhook_ids = await add_webhooks(sessions, tenant.tenant_id, [receiver.url(p) for p in paths])
    async with running_worker(dev_env.client, settings):
        handle = await publish(dev_env.client, settings, tenant.tenant_id)

        await settled_as(sessions, handle.id, "succeeded", WEBHOOKS, timeout=240)
        await receiver.wait_for(WEBHOOKS + FAILING_ONCE, timeout=30)
        _, _, attempts = await counts(sessions, handle.id)
        progress = await handle.query(EventWorkflow.progress)

        # Redeliver one webhook's delivery: one more POST to it, nothing to the others.
        target = webhook_ids[FAILING_ONCE + 7]
        await handle.signal(EventWorkflow.redeliver, RedeliverSignal(webhook_ids=[target]))
        redelivered = await receiver.wait_for(2, path=paths[FAILING_ONCE + 7], timeout=60)

        async def series_settled() -> bool:
            return (await handle.query(EventWorkflow.progress)).series == 1 and len(
                await chunk_runs(dev_env.client, handle.id)
            ) == WEBHOOKS // CHUNK_SIZE + 1

        await until(series_settled, timeout=60)
        await handle.terminate("test over")
    assert attempts == WEBHOOKS + FAILING_ONCE  # every attempt recorded, none twice
    assert progress.chunked_total == WEBHOOKS and progress.deliveries == {}
    for path in paths[:FAILING_ONCE]:
        assert len(receiver.for_path(path)) == 2
    assert all(len(receiver.for_path(p)) == 1 for p in paths[FAILING_ONCE:] if p != paths[107])
    assert redelivered[-1].headers["x-webhook-attempt"] == "1"  # a new series starts at 1
    assert len(receiver.requests) == WEBHOOKS + FAILING_ONCE + 1
