"""One tenant's hanging receivers can hold every connection of a worker process (attempt 1 of
an event POSTs to all its webhooks at once). Another tenant's delivery queued behind them
waits for a connection, and then has its whole timeout with its own receiver: it is delayed,
never recorded as a timeout its receiver did not cause. The real dev server, a real receiver
on 127.0.0.1, the real store."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from hookline.store.tables import Attempt, Delivery
from tests.conftest import make_tenant
from tests.support.flow import publish
from tests.support.receiver import Reply
from tests.support.store import add_webhook
from tests.support.temporal import isolated_settings, running_worker

CONNECTIONS = 4  # of the worker process: all taken by the hanging tenant's one event
TIMEOUT = 2.0  # s, every webhook's delivery timeout


async def hanging_webhooks(sessions, tenant_id: str, receiver) -> None:
    """As many webhooks as the worker has connections, each hanging for 30 s: one event to
    them holds every connection until their timeout."""
    for n in range(CONNECTIONS):
        receiver.script(f"/hangs/{n}", Reply(200, delay=30))
        await add_webhook(
            sessions, tenant_id, receiver.url(f"/hangs/{n}"), retry={"max_attempts": 1}
        )


async def test_another_tenants_receiver_behind_busy_connections_is_delayed_not_failed(
    dev_env, settings, sessions, tenant, receiver
):
    settings = isolated_settings(
        settings, delivery_timeout=TIMEOUT, max_concurrent_deliveries=CONNECTIONS
    )
    other = await make_tenant(settings, "globex")
    await hanging_webhooks(sessions, tenant.tenant_id, receiver)
    # Answers in a quarter of its timeout: in time, once it has a connection.
    receiver.script("/steady", Reply(200, delay=TIMEOUT / 4))
    steady = await add_webhook(sessions, other.tenant_id, receiver.url("/steady"))
    async with running_worker(dev_env.client, settings):
        hanging = await publish(dev_env.client, settings, tenant.tenant_id)
        await receiver.wait_for(CONNECTIONS, timeout=30)  # every connection is held now
        quiet = await publish(dev_env.client, settings, other.tenant_id)
        await receiver.wait_for(1, path="/steady", timeout=30)
        for _ in range(200):  # bounded: until its attempt is recorded (its event stays open)
            async with sessions() as session:
                attempts = (
                    await session.scalars(select(Attempt).where(Attempt.webhook_id == steady.id))
                ).all()
            if attempts:
                break
            await asyncio.sleep(0.05)
        for handle in (hanging, quiet):
            await handle.terminate("test over")
    [attempt] = attempts
    assert (attempt.status_code, attempt.error) == (200, None)
    # Its duration is its receiver's time, not the wait for a connection.
    assert attempt.duration_ms < TIMEOUT * 1000


async def test_a_request_that_never_got_a_connection_uses_up_no_attempt(
    dev_env, settings, sessions, tenant, receiver
):
    """Another tenant's delivery with a single attempt, queued behind connections held longer
    than its own timeout: each request that got no connection is not an attempt, so the
    delivery waits and is sent once a connection frees, instead of failing for good."""
    held_for = 6.0  # s: the hanging tenant's timeout, past the other's 1 s
    settings = isolated_settings(
        settings, delivery_timeout=held_for, max_concurrent_deliveries=CONNECTIONS
    )
    other = await make_tenant(settings, "globex")
    await hanging_webhooks(sessions, tenant.tenant_id, receiver)
    one_try = await add_webhook(
        sessions, other.tenant_id, receiver.url("/one-try"), retry={"max_attempts": 1, "timeout": 1}
    )
    async with running_worker(dev_env.client, settings):
        hanging = await publish(dev_env.client, settings, tenant.tenant_id)
        await receiver.wait_for(CONNECTIONS, timeout=30)  # every connection is held now
        quiet = await publish(dev_env.client, settings, other.tenant_id)
        for _ in range(600):  # bounded: until its delivery ends (at most 60 s)
            async with sessions() as session:
                delivery = await session.scalar(
                    select(Delivery).where(Delivery.webhook_id == one_try.id)
                )
            if delivery is not None and delivery.status != "pending":
                break
            await asyncio.sleep(0.1)
        for handle in (hanging, quiet):
            await handle.terminate("test over")
        async with sessions() as session:
            attempts = (
                await session.scalars(select(Attempt).where(Attempt.webhook_id == one_try.id))
            ).all()
    assert (delivery.status, delivery.attempts) == ("succeeded", 1)
    assert [(a.number, a.status_code, a.error) for a in attempts] == [(1, 200, None)]
    assert len(receiver.for_path("/one-try")) == 1
