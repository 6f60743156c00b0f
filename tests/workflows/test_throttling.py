"""No tenant waits for another: a webhook's deliveries beyond its `max_in_flight` wait
durably (throttled, holding no worker slot, using up no retry), so one tenant's hanging
receiver never delays another tenant's deliveries. The real dev server, a real receiver on
127.0.0.1, the real store."""

from __future__ import annotations

import asyncio
import time

from sqlalchemy import func, select, update
from temporalio.client import Client

from hookline.store.tables import Attempt, Delivery, Webhook
from tests.conftest import make_tenant
from tests.support.flow import publish
from tests.support.receiver import Reply
from tests.support.store import add_webhook
from tests.support.temporal import isolated_settings, running_worker


def most_at_once(arrivals: list[float], lasting: float) -> int:
    """The most requests in flight at once, each taking `lasting` s from its arrival."""
    edges = sorted([(t, 1) for t in arrivals] + [(t + lasting, -1) for t in arrivals])
    current = peak = 0
    for _, step in edges:
        current += step
        peak = max(peak, current)
    return peak


async def test_a_webhooks_deliveries_beyond_its_cap_wait_throttled_without_using_retries(
    dev_env, settings, sessions, tenant, receiver
):
    settings = isolated_settings(settings)
    receiver.script("/slow", Reply(200, delay=1.0))
    webhook = await add_webhook(sessions, tenant.tenant_id, receiver.url("/slow"))
    async with sessions.begin() as session:
        await session.execute(
            update(Webhook).where(Webhook.id == webhook.id).values(max_in_flight=2)
        )
    async with running_worker(dev_env.client, settings):
        handles = [await publish(dev_env.client, settings, tenant.tenant_id) for _ in range(6)]
        await asyncio.sleep(0.5)
        async with sessions() as session:
            waiting = (
                await session.scalars(
                    select(Delivery.last_error).where(Delivery.webhook_id == webhook.id)
                )
            ).all()
        received = await receiver.wait_for(6, path="/slow", timeout=60)

        async def recorded() -> int:
            async with sessions() as session:
                return await session.scalar(
                    select(func.count())
                    .select_from(Attempt)
                    .where(Attempt.event_id.in_([h.id for h in handles]))
                )

        for _ in range(100):  # the last answers take their second, then are written
            if (attempts := await recorded()) >= 6:
                break
            await asyncio.sleep(0.1)
        for handle in handles:
            await handle.terminate("test over")
    assert sum("throttled" in (error or "") for error in waiting) >= 3  # shown while waiting
    assert most_at_once([r.at for r in received], lasting=1.0) <= 2
    assert sorted({r.json()["id"] for r in received}) == sorted(h.id for h in handles)
    assert {r.headers["x-webhook-attempt"] for r in received} == {"1"}  # no retry used up
    assert attempts == 6


async def test_a_hanging_receiver_of_one_tenant_never_delays_another_tenants_deliveries(
    dev_env, settings, sessions, tenant, receiver
):
    """Tenant A's receiver hangs past the delivery timeout and A bursts 150 events; then
    tenant B publishes 20 events to a receiver that answers at once: each of B's arrives
    within 2 s of its publish."""
    settings = isolated_settings(settings, delivery_timeout=3)
    other = await make_tenant(settings, "globex")
    receiver.script("/hangs", Reply(200, delay=30))
    await add_webhook(sessions, tenant.tenant_id, receiver.url("/hangs"))
    await add_webhook(sessions, other.tenant_id, receiver.url("/fast"))
    async with running_worker(dev_env.client, settings):
        bursts = [await publish(dev_env.client, settings, tenant.tenant_id) for _ in range(150)]
        await asyncio.sleep(1.0)  # A's first attempts are hanging now
        waits = await quiet_waits(dev_env.client, settings, other.tenant_id, receiver, 20)
        for handle in bursts:
            await handle.terminate("test over")
    assert len(waits) == 20
    assert max(waits) < 2.0, sorted(waits)


async def quiet_waits(client: Client, settings, tenant_id: str, receiver, n: int) -> list[float]:
    """Publishes `n` events of the quiet tenant, 50 ms apart; the seconds each took from its
    publish to its arrival at `/fast` (its workflows terminated once all arrived)."""
    published: dict[str, float] = {}
    handles = []
    for _ in range(n):
        handle = await publish(client, settings, tenant_id)
        published[handle.id] = time.time()
        handles.append(handle)
        await asyncio.sleep(0.05)
    received = await receiver.wait_for(n, path="/fast", timeout=60)
    for handle in handles:
        await handle.terminate("test over")
    return [r.wall - published[r.json()["id"]] for r in received]


async def test_hanging_webhooks_on_an_origin_never_delay_another_tenants_there(
    dev_env, settings, sessions, tenant, receiver
):
    """Receivers share origins (a chat service's or an automation platform's one host serves
    thousands of tenants). Three of tenant A's webhooks on one origin hang, 10 POSTs each (the
    in-flight cap); tenant B's webhook on the same origin answers at once: each of B's events
    arrives within 2 s of its publish. No limit per origin stands between them: each webhook
    is held to its own cap, and no more."""
    settings = isolated_settings(settings, delivery_timeout=8)
    other = await make_tenant(settings, "globex")
    for n in range(3):
        receiver.script(f"/hangs/{n}", Reply(200, delay=30))
        await add_webhook(sessions, tenant.tenant_id, receiver.url(f"/hangs/{n}"))
    await add_webhook(sessions, other.tenant_id, receiver.url("/fast"))
    async with running_worker(dev_env.client, settings):
        bursts = [await publish(dev_env.client, settings, tenant.tenant_id) for _ in range(20)]
        for _ in range(100):  # bounded: until the three caps are taken (30 POSTs hanging)
            hanging = [r.wall for r in receiver.requests if r.path.startswith("/hangs/")]
            if len(hanging) >= 30:
                break
            await asyncio.sleep(0.1)
        # All 30 at once, well within the 8 s timeout: nothing queued them per origin.
        assert len(hanging) >= 30 and hanging[29] - hanging[0] < 4, hanging
        waits = await quiet_waits(dev_env.client, settings, other.tenant_id, receiver, 10)
        for handle in bursts:
            await handle.terminate("test over")
    assert len(waits) == 10
    assert max(waits) < 2.0, sorted(waits)


async def webhook_of(sessions, webhook_id: str) -> Webhook:
    async with sessions() as session:
        return await session.get(Webhook, webhook_id)


async def test_the_circuit_opens_on_failures_holds_posts_then_one_probe_closes_it(
    dev_env, settings, sessions, tenant, receiver
):
    settings = isolated_settings(
        settings, breaker_min_attempts=3, breaker_open_for=2, retry_initial_interval=3600
    )
    receiver.script("/flaky", Reply(503))
    webhook = await add_webhook(
        sessions, tenant.tenant_id, receiver.url("/flaky"), retry={"max_attempts": 1}
    )
    async with running_worker(dev_env.client, settings):
        failing = [await publish(dev_env.client, settings, tenant.tenant_id) for _ in range(3)]
        await receiver.wait_for(3, path="/flaky", timeout=30)
        for _ in range(100):
            if (await webhook_of(sessions, webhook.id)).breaker_state == "open":
                break
            await asyncio.sleep(0.05)
        opened = await webhook_of(sessions, webhook.id)
        receiver.script("/flaky", Reply(200))  # the endpoint comes back
        waiting = [await publish(dev_env.client, settings, tenant.tenant_id) for _ in range(3)]
        await asyncio.sleep(0.5)
        held = len(receiver.for_path("/flaky"))  # still 3: open, nothing POSTed
        received = await receiver.wait_for(6, path="/flaky", timeout=60)
        for _ in range(100):
            closed = await webhook_of(sessions, webhook.id)
            if closed.breaker_state == "closed":
                break
            await asyncio.sleep(0.05)
        for handle in [*failing, *waiting]:
            await handle.terminate("test over")
    assert opened.breaker_state == "open" and opened.breaker_until is not None
    assert held == 3
    probe = next(r for r in received[3:])
    assert probe.wall >= opened.breaker_until.timestamp() - 0.1  # not before its time
    assert {r.json()["id"] for r in received[3:]} == {h.id for h in waiting}
    events = [change["event"] for change in closed.breaker_history]
    assert events[0].startswith("opened: 3 of 3 attempts failed")
    assert any(e.startswith("half-open") for e in events) and events[-1].startswith("closed")


async def test_a_rate_limit_holds_across_three_workers(
    dev_env, settings, sessions, tenant, receiver
):
    """90 deliveries to a webhook limited to 5 per second, three workers (each its own store
    connection, as three processes): they arrive within 10 % of that rate, and no second sees
    more than twice it. (18 s of them: slots bunched by late timers and held back to a second's
    burst drain at the rate but up to a second behind, which a short run counts as slower.)"""
    settings = isolated_settings(settings)
    webhook = await add_webhook(sessions, tenant.tenant_id, receiver.url("/limited"))
    async with sessions.begin() as session:
        await session.execute(update(Webhook).where(Webhook.id == webhook.id).values(rate_limit=5))
    target = dev_env.client.service_client.config.target_host
    clients = [
        await Client.connect(target, data_converter=dev_env.client.data_converter) for _ in range(3)
    ]
    async with (
        running_worker(clients[0], settings),
        running_worker(clients[1], settings),
        running_worker(clients[2], settings),
    ):
        handles = [await publish(dev_env.client, settings, tenant.tenant_id) for _ in range(90)]
        received = await receiver.wait_for(90, path="/limited", timeout=120)
        for handle in handles:
            await handle.terminate("test over")
    arrivals = sorted(r.at for r in received)
    rate = (len(arrivals) - 1) / (arrivals[-1] - arrivals[0])
    assert 4.5 <= rate <= 5.5, rate
    # The server's timers are not finer than about a second, so a second's booked slots may
    # come together, but never more than that: at most twice the limit in any one second.
    busiest = max(sum(1 for u in arrivals if t <= u < t + 1.0) for t in arrivals)
    assert busiest <= 2 * 5, arrivals
