"""A delivery parked for a slot is woken by the next delivery that gives one back, whatever the
webhook looked like when that one was admitted. An endpoint that answers fast binds the default
cap only while one of its leases looks stuck; the deliveries it parks then must not wait out
their timers (40 s and more, up to 5 minutes): under a burst that left most of a fast
endpoint's events minutes late. The real dev server, a real receiver on 127.0.0.1, the store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import insert, update
from temporalio.api.enums.v1 import EventType

from hookline.core.retry import attempt_limit
from hookline.store.admission import LEASE_MARGIN, STUCK
from hookline.store.tables import DeliveryLease, Webhook
from tests.support.flow import publish_recorded
from tests.support.receiver import Reply
from tests.support.store import add_webhook
from tests.support.temporal import isolated_settings, running_worker

TIMEOUT = 15.0  # s: the delivery timeout the leases are taken for
FIRST_ANSWERS_AFTER = 1.5  # s: the second event is published while the first POSTs


async def test_a_parked_delivery_of_a_fast_endpoint_is_woken_not_left_to_its_timer(
    dev_env, settings, sessions, tenant, receiver
):
    settings = isolated_settings(settings, max_in_flight_per_webhook=2)
    receiver.script("/fast", Reply(200, delay=FIRST_ANSWERS_AFTER))
    webhook = await add_webhook(sessions, tenant.tenant_id, receiver.url("/fast"))
    now = datetime.now(UTC)
    async with sessions.begin() as session:
        # Known fast (its attempts average 40 ms), with one lease older than STUCK: the default
        # cap binds, as under a burst when hookline's own queueing ages a lease.
        await session.execute(update(Webhook).where(Webhook.id == webhook.id).values(latency_ms=40))
        taken = now - STUCK - timedelta(seconds=1)
        await session.execute(
            insert(DeliveryLease).values(
                delivery_id="dlv_elsewhere",
                webhook_id=webhook.id,
                expires_at=taken + timedelta(seconds=attempt_limit(TIMEOUT)) + LEASE_MARGIN,
            )
        )
    async with running_worker(dev_env.client, settings) as deps:
        first = await publish_recorded(deps.store, dev_env.client, settings, tenant.tenant_id, {})
        await receiver.wait_for(1, path="/fast", timeout=30)  # POSTing: 2 leases, the cap
        second = await publish_recorded(deps.store, dev_env.client, settings, tenant.tenant_id, {})
        received = await receiver.wait_for(2, path="/fast", timeout=20)
        history = await second.fetch_history()
        for handle in (first, second):
            await handle.terminate("test over")
    types = [event.event_type for event in history.events]
    timers = types.count(EventType.EVENT_TYPE_TIMER_STARTED)
    # Refused a slot (parked: a timer besides the window's), then woken by the first's record.
    assert timers >= 2, "the second delivery was not refused: the test did not park it"
    assert EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED in types
    assert len(received) == 2
