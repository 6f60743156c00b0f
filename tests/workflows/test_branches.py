"""Every branch of EventWorkflow, with scripted activities on the time-skipping test server:
the accept fallback, a retry series, cancellation at expiry, a disabled webhook's alert, a
redelivery while another series retries. The workflow runs in the sandbox, as in production."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from hookline.core import alerts
from hookline.core import search_attributes as sa
from hookline.core.models import (
    AcceptInput,
    DeliverInput,
    DeliverOutput,
    DeliveryStatus,
    EventStatus,
    EventWorkflowInput,
    FirstAttemptsOutput,
    MatchOutput,
    RedeliverSignal,
    WebhookDisabled,
)
from hookline.workflows.event import EventWorkflow
from hookline.workflows.visibility import SHOWN_WEBHOOK_IDS
from tests.support.scripted_activities import Script, matched, outcome, retry_later
from tests.support.temporal import sandboxed_worker

TENANT = "ten_branches"


def scripted_worker(client: Client, script: Script):
    return sandboxed_worker(client, [EventWorkflow], script.activities(), "branches")


def new_event(retention: timedelta = timedelta(hours=1)) -> EventWorkflowInput:
    return EventWorkflowInput.publish(
        TENANT, "user.created", {"id": "usr_1"}, datetime.now(UTC), retention
    )


async def start(client: Client, task_queue: str, event: EventWorkflowInput) -> WorkflowHandle:
    return await client.start_workflow(
        EventWorkflow.run, event, id=event.event_id, task_queue=task_queue
    )


async def until(check, timeout: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("condition never held")
        await asyncio.sleep(0.05)


async def test_accept_falls_back_to_record_and_match_then_attempt_1_as_a_series(
    time_env: WorkflowEnvironment,
):
    event = new_event()

    def accept(input: AcceptInput, attempt: int) -> MatchOutput:
        if input.attempt_first:  # the combined step keeps failing (its POSTs, say)
            raise ApplicationError("attempt 1 failed as a whole")
        return MatchOutput(webhooks=matched(input.event_id, "wh_a"))

    script = Script(accept=accept)
    async with scripted_worker(time_env.client, script) as queue:
        handle = await start(time_env.client, queue, event)

        async def delivered() -> bool:
            progress = await handle.query(EventWorkflow.progress)
            return progress.deliveries == {"wh_a": DeliveryStatus.SUCCEEDED}

        await until(delivered)
        accepts = script.named("accept_event")
        assert [c.input.attempt_first for c in accepts] == [True, True, True, False]
        (first,) = script.named("deliver_first")
        assert first.input.series == 0 and [t.webhook_id for t in first.input.targets] == ["wh_a"]
        await handle.terminate("test over")


async def test_a_retry_series_waits_its_back_off_then_retries_until_success(
    time_env: WorkflowEnvironment,
):
    event = new_event()
    targets = matched(event.event_id, "wh_a")
    first = FirstAttemptsOutput(
        outcomes=[outcome(targets[0], DeliveryStatus.PENDING, retry_delay=30.0)]
    )

    def deliver(input: DeliverInput, attempt: int) -> DeliverOutput:
        if attempt == 1:
            raise retry_later(input)
        return DeliverOutput(
            delivery_id=input.delivery_id,
            webhook_id=input.webhook_id,
            status=DeliveryStatus.SUCCEEDED,
            attempts=input.attempt_offset + attempt,
        )

    script = Script(accept=lambda i, n: MatchOutput(webhooks=targets, first=first), deliver=deliver)
    async with scripted_worker(time_env.client, script) as queue:
        handle = await start(time_env.client, queue, event)
        await time_env.sleep(timedelta(minutes=5))  # the back-off and the activity's retry
        await until(lambda: asyncio.sleep(0, bool(script.named("settle_event"))))
        progress = await handle.query(EventWorkflow.progress)
        await handle.terminate("test over")
    delivers = script.named("deliver")
    assert [c.attempt for c in delivers] == [1, 2]
    assert delivers[0].input.attempt_offset == 1  # attempts 2.. of the delivery
    assert delivers[0].started - script.named("accept_event")[0].started >= timedelta(seconds=30)
    (settle,) = script.named("settle_event")
    assert [o.status for o in settle.input.outcomes] == [DeliveryStatus.SUCCEEDED]
    assert progress.status == EventStatus.SUCCEEDED
    assert progress.deliveries == {"wh_a": DeliveryStatus.SUCCEEDED}


async def test_no_attempt_starts_after_the_window_closes_on_a_redelivery(
    time_env: WorkflowEnvironment,
):
    """The window closes while a redelivery's attempt 1 runs: the series is cancelled, no
    back-off is slept and nothing is POSTed after `expires_at`."""
    event = new_event(retention=timedelta(seconds=4))
    targets = matched(event.event_id, "wh_a")
    first = FirstAttemptsOutput(
        outcomes=[outcome(targets[0], DeliveryStatus.FAILED)], event_status=EventStatus.FAILED
    )
    script = Script(accept=lambda i, n: MatchOutput(webhooks=targets, first=first))
    script.hold_series = {1}
    async with scripted_worker(time_env.client, script) as queue:
        handle = await start(time_env.client, queue, event)
        await handle.signal(EventWorkflow.redeliver, RedeliverSignal(webhook_ids=["wh_a"]))
        await asyncio.wait_for(script.held.wait(), 30)
        assert await handle.result() == EventStatus.EXPIRED
    assert script.named("deliver") == []
    starts = script.named("deliver_first")
    assert [c.input.series for c in starts] == [1]
    assert all(c.started < event.expires_at for c in script.calls)
    assert script.named("settle_event") == []  # the cancelled series settles nothing


async def test_a_webhook_attempt_1_disabled_is_not_retried_and_its_tenant_is_alerted(
    time_env: WorkflowEnvironment,
):
    event = new_event()
    targets = matched(event.event_id, "wh_a")
    disabled = WebhookDisabled(
        webhook_id="wh_a",
        url="https://hooks.example.com/a",
        failing_since=datetime(2026, 11, 25, tzinfo=UTC),
        reason="every attempt failed for 5 days",
    )
    first = FirstAttemptsOutput(
        outcomes=[outcome(targets[0], DeliveryStatus.PENDING, retry_delay=30.0, disabled=disabled)]
    )

    def accept(input: AcceptInput, attempt: int) -> MatchOutput:
        if input.type == alerts.ALERT_TYPE:
            return MatchOutput()  # the tenant has no webhook for alerts
        return MatchOutput(webhooks=targets, first=first)

    script = Script(accept=accept)
    alert_id = alerts.webhook_disabled(disabled, TENANT, event.created, timedelta(0)).event_id
    async with scripted_worker(time_env.client, script) as queue:
        handle = await start(time_env.client, queue, event)
        await until(lambda: asyncio.sleep(0, bool(script.named("settle_event"))))
        await until(lambda: asyncio.sleep(0, len(script.named("accept_event")) == 2))
        progress = await handle.query(EventWorkflow.progress)
        alert = time_env.client.get_workflow_handle(alert_id)
        alert_progress = await alert.query(EventWorkflow.progress)
        await handle.terminate("test over")
        await alert.terminate("test over")
    assert script.named("deliver") == []  # not retried
    assert progress.deliveries == {"wh_a": DeliveryStatus.FAILED}
    assert progress.status == EventStatus.FAILED
    alert_accept = script.named("accept_event")[1].input
    assert alert_accept.type == alerts.ALERT_TYPE and alert_accept.data["webhook_id"] == "wh_a"
    assert alert_progress.status == EventStatus.SUCCEEDED


async def test_a_redelivery_while_another_series_retries_leaves_that_delivery_alone(
    time_env: WorkflowEnvironment,
):
    event = new_event()
    a, b = matched(event.event_id, "wh_a", "wh_b")
    first = FirstAttemptsOutput(
        outcomes=[
            outcome(a, DeliveryStatus.PENDING, retry_delay=600.0),
            outcome(b, DeliveryStatus.FAILED),
        ]
    )

    def deliver(input: DeliverInput, attempt: int) -> DeliverOutput:
        raise retry_later(input)

    script = Script(accept=lambda i, n: MatchOutput(webhooks=[a, b], first=first), deliver=deliver)
    async with scripted_worker(time_env.client, script) as queue:
        handle = await start(time_env.client, queue, event)

        async def retrying() -> bool:
            return (await handle.query(EventWorkflow.progress)).in_flight == ["wh_a"]

        await until(retrying)
        await handle.signal(EventWorkflow.redeliver, RedeliverSignal(webhook_ids=["wh_a", "wh_b"]))
        await until(lambda: asyncio.sleep(0, bool(script.named("deliver_first"))))
        progress = await handle.query(EventWorkflow.progress)
        await handle.terminate("test over")
    (redelivery,) = script.named("deliver_first")
    assert redelivery.input.series == 1
    assert [t.webhook_id for t in redelivery.input.targets] == ["wh_b"]  # wh_a is in flight
    assert progress.series == 1
    assert "wh_a" in progress.in_flight


async def test_an_event_matched_by_300_webhooks_keeps_its_search_attributes_under_2_kb(
    dev_env: WorkflowEnvironment,
):
    """Temporal (the dev server, as in production) terminates a workflow that upserts a
    search attribute value over 2 KB: 300 webhook ids are ~10 KB. The failing and retrying
    ones are shown first, bounded."""
    event = new_event()
    targets = matched(event.event_id, *(f"wh_{n:027d}" for n in range(300)))
    retrying = {t.webhook_id for t in targets[::30]}  # 10 of them answer 503 once
    first = FirstAttemptsOutput(
        outcomes=[
            outcome(t, DeliveryStatus.PENDING, retry_delay=1.0)
            if t.webhook_id in retrying
            else outcome(t, DeliveryStatus.SUCCEEDED)
            for t in targets
        ]
    )
    script = Script(accept=lambda i, n: MatchOutput(webhooks=targets, first=first))
    async with scripted_worker(dev_env.client, script) as queue:
        handle = await start(dev_env.client, queue, event)

        async def waiting() -> bool:
            return len((await handle.query(EventWorkflow.progress)).in_flight) == 10

        await until(waiting)
        shown = (await handle.describe()).typed_search_attributes.get(sa.WEBHOOK_IDS)
        await until(lambda: asyncio.sleep(0, bool(script.named("settle_event"))), 60)
        described = await handle.describe()
        progress = await handle.query(EventWorkflow.progress)
        await handle.terminate("test over")
    assert described.status == WorkflowExecutionStatus.RUNNING  # not terminated by the server
    assert len(shown) == SHOWN_WEBHOOK_IDS and set(shown[:10]) == retrying
    assert len(json.dumps(shown)) < 2048
    assert len(script.named("deliver")) == 10
    assert progress.status == EventStatus.SUCCEEDED
    assert set(progress.deliveries.values()) == {DeliveryStatus.SUCCEEDED}
