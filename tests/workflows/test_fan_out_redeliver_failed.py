""" "Redeliver failed" on an event whose thousands of deliveries all failed, as the API asks
it: every failed delivery goes again, a chunk workflow per 500 deliveries, and no payload of
any run grows with the failed count (one chunk over all of them would return a list of
thousands of targets, past Temporal's 2 MB payload limit, and the run would stop there). The
real dev server, a receiver on 127.0.0.1, the store."""

from __future__ import annotations

from sqlalchemy import update

from hookline.api.services.deliveries import redeliver
from hookline.store.tables import Webhook
from hookline.workflows.event import CHUNK_SIZE
from tests.support.flow import publish
from tests.support.receiver import Reply
from tests.support.temporal import isolated_settings, running_worker
from tests.workflows.test_fan_out import add_webhooks, chunk_runs, settled_as, until

# ~250 bytes of a chunk's attempt-1 payload each: one chunk over 9,000 would be ~2.2 MB,
# past Temporal's 2 MB (6,000 made 1.49 MB in one marker).
WEBHOOKS = 9_000


async def test_redelivering_thousands_of_failed_deliveries_fans_out_by_chunks(
    dev_env, settings, sessions, tenant, receiver
):
    settings = isolated_settings(settings)
    receiver.script("/down", Reply(500))
    webhook_ids = await add_webhooks(sessions, tenant.tenant_id, [receiver.url("/down")] * WEBHOOKS)
    async with sessions.begin() as session:  # one attempt each: failed at once
        await session.execute(
            update(Webhook)
            .where(Webhook.id.in_(webhook_ids))
            .values(retry_policy={"max_attempts": 1})
        )
    async with running_worker(dev_env.client, settings):
        handle = await publish(dev_env.client, settings, tenant.tenant_id)

        await settled_as(sessions, handle.id, "failed", WEBHOOKS, timeout=300)
        receiver.script("/down", Reply(200))  # back up
        async with sessions() as session:
            answer = await redeliver(session, dev_env.client, tenant.tenant_id, handle.id)
        assert answer.data.scheduled == WEBHOOKS

        await settled_as(sessions, handle.id, "succeeded", WEBHOOKS, timeout=300)

        async def redelivered_by_chunks() -> bool:  # visibility lags a little
            runs = await chunk_runs(dev_env.client, handle.id)
            return len([run for run in runs if "-s1-" in run]) == WEBHOOKS // CHUNK_SIZE

        await until(redelivered_by_chunks, timeout=30)
        await handle.terminate("test over")
    assert len(receiver.for_path("/down")) == 2 * WEBHOOKS
