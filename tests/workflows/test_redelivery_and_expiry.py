"""Redelivery within the 7-day window and expiry after it (time-skipping test server)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.service import RPCError, RPCStatusCode

from hookline.api.services.deliveries import signal_redeliver
from hookline.core.models import RedeliverSignal
from hookline.infra.sweeps import ExpirySweep
from hookline.workflows.event import EventWorkflow
from tests.support.flow import publish, settled
from tests.support.receiver import Reply
from tests.support.store import add_webhook, event_rows
from tests.support.temporal import isolated_settings, running_worker


async def wait_series(handle, series: int, timeout: float = 30) -> None:
    for _ in range(int(timeout * 10)):
        progress = await handle.query(EventWorkflow.progress)
        if progress.series >= series and not progress.in_flight:
            return
        await asyncio.sleep(0.1)
    raise TimeoutError(f"series {series} did not finish")


async def test_redelivery_after_recovery_then_expiry_after_seven_days(
    time_env, settings, sessions, tenant, receiver
):
    settings = isolated_settings(settings)  # default retention: 7 days
    receiver.script("/hook", [Reply(503)])
    receiver.script("/fine", [Reply(200)])
    failing = await add_webhook(
        sessions, tenant.tenant_id, receiver.url("/hook"), retry={"max_attempts": 3}
    )
    fine = await add_webhook(sessions, tenant.tenant_id, receiver.url("/fine"))
    client = time_env.client
    async with running_worker(client, settings) as deps:
        handle = await publish(client, settings, tenant.tenant_id)
        await time_env.sleep(timedelta(hours=1))  # the scheduled retries: skipped time
        progress = await settled(handle)
        assert progress.deliveries == {failing.id: "failed", fine.id: "succeeded"}
        assert len(receiver.for_path("/hook")) == 3

        # The endpoint recovers; an operator redelivers every failed delivery.
        receiver.script("/hook", [Reply(200)])
        await handle.signal(EventWorkflow.redeliver, RedeliverSignal())
        await wait_series(handle, 1)
        progress = await settled(handle)
        assert progress.deliveries == {failing.id: "succeeded", fine.id: "succeeded"}
        assert len(receiver.for_path("/fine")) == 1  # a succeeded delivery is not redelivered
        event, deliveries, attempts = await event_rows(sessions, handle.id)
        assert event.status == "succeeded"
        manual = [a for a in attempts if a.trigger == "manual"]
        assert [(a.series, a.number, a.status_code) for a in manual] == [(1, 1, 200)]
        assert manual[0].webhook_id == failing.id
        assert deliveries[failing.id].status == "succeeded"
        assert [s["stage"] for s in event.stages][-1] == "redelivered (series 1)"

        # Named redelivery of a succeeded delivery is allowed (e.g. the receiver lost it).
        await handle.signal(EventWorkflow.redeliver, RedeliverSignal(webhook_ids=[fine.id]))
        await wait_series(handle, 2)
        assert len(receiver.for_path("/fine")) == 2

        # Seven days after creation the event expires: the run completes, and the sweep
        # deletes everything (it runs by the wall's clock, which the test server does not
        # skip: here it sweeps as of the event's expires_at).
        assert await handle.result() == "expired"
        description = await handle.describe()
        lived = description.close_time - description.start_time
        assert timedelta(days=7) - timedelta(minutes=1) <= lived <= timedelta(days=7, minutes=5)
        event, _, _ = await event_rows(sessions, handle.id)
        assert await ExpirySweep(deps.store).sweep(now=event.expires_at) == 1
        event, deliveries, attempts = await event_rows(sessions, handle.id)
        assert event is None and deliveries == {} and attempts == []
        assert await signal_redeliver(client, handle.id, [failing.id]) is False
        with pytest.raises(RPCError) as raised:
            await handle.signal(EventWorkflow.redeliver, RedeliverSignal())
        assert raised.value.status == RPCStatusCode.NOT_FOUND


async def test_redeliveries_do_not_extend_retention(time_env, settings, sessions, tenant, receiver):
    settings = isolated_settings(settings, event_retention=timedelta(hours=2))
    receiver.script("/hook", [Reply(500)])
    await add_webhook(sessions, tenant.tenant_id, receiver.url("/hook"), retry={"max_attempts": 1})
    client = time_env.client
    async with running_worker(client, settings):
        # The server cannot see local activities: no skipping while the first attempt runs.
        with time_env.auto_time_skipping_disabled():
            handle = await publish(client, settings, tenant.tenant_id)
            await settled(handle)
        await time_env.sleep(timedelta(hours=1, minutes=50))
        await handle.signal(EventWorkflow.redeliver, RedeliverSignal())
        await wait_series(handle, 1)
        assert await handle.result() == "expired"
        description = await handle.describe()
        history = await handle.fetch_history()
    assert description.close_time - description.start_time < timedelta(hours=2, minutes=5)
    # One timer for the whole window (no retries here): the redelivery started none.
    kinds = [e.event_type for e in history.events]
    assert kinds.count(EventType.EVENT_TYPE_TIMER_STARTED) == 1
    assert kinds.count(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED) == 1
    assert EventType.EVENT_TYPE_TIMER_CANCELED not in kinds
