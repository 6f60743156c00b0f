"""The retry schedule the README promises, on the time-skipping test server.

Attempt 1 is real (accept_event POSTs to a receiver on 127.0.0.1); from attempt 2 on the
`deliver` activity is replaced by a stand-in registered under the same name, which answers
from a script through the same decision (core/retry.py `decide`) and raises what the real one
raises. Gaps are read in the server's clock: each attempt's `activity.info().started_time`
(the test server stamps `current_attempt_scheduled_time` when a retry is decided, before its
back-off), and for attempt 1 the start of the workflow's timer (history), never the wall clock.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory
from temporalio.worker import Worker

from hookline.core.models import DeliverInput, DeliverOutput, DeliveryStatus
from hookline.core.retry import FAILED_ERROR, JITTER, RETRY_ERROR, Outcome, decide
from hookline.infra.config import Settings
from hookline.process import process_resources
from hookline.worker import activities, workflow_runner
from hookline.workflows.event import EventWorkflow
from tests.support.flow import publish, settled
from tests.support.receiver import Reply
from tests.support.store import add_webhook, get_webhook
from tests.support.temporal import isolated_settings

# README, "Receiving webhooks" and the configuration table: back-off 30 s, 2.5 min, 12.5 min,
# ~1 h, ~5 h (30 s x 5^n), 6 attempts in all.
README_GAPS = [30, 150, 750, 3750, 18750]
SLACK = 3.0  # seconds: each attempt's own run time and the server's rounding


@dataclass
class Answer:
    status: int
    retry_after: float | None = None


@dataclass
class ScriptedReceiver:
    """The `deliver` activity's stand-in: answers attempt n with script[n - 2] (the last one
    again when the script is shorter), and notes when each attempt started."""

    script: list[Answer]
    started: dict[int, datetime] = field(default_factory=dict)

    @activity.defn(name="deliver")
    async def deliver(self, input: DeliverInput) -> DeliverOutput:
        info = activity.info()
        number = input.attempt_offset + info.attempt
        self.started[number] = info.started_time
        answer = self.script[min(number - 2, len(self.script) - 1)]
        decision = decide(answer.status, number, input.retry, retry_after=answer.retry_after)
        output = DeliverOutput(
            delivery_id=input.delivery_id,
            webhook_id=input.webhook_id,
            status=DeliveryStatus.SUCCEEDED,
            attempts=number,
            status_code=answer.status,
        )
        if decision.outcome is Outcome.SUCCESS:
            return output
        if decision.outcome is Outcome.FAIL:
            output.status = DeliveryStatus.FAILED
            raise ApplicationError(
                f"answered {answer.status}; {decision.reason}",
                output.model_dump(mode="json"),
                type=FAILED_ERROR,
                non_retryable=True,
                category=ApplicationErrorCategory.BENIGN,
            )
        raise ApplicationError(
            f"answered {answer.status}",
            type=RETRY_ERROR,
            next_retry_delay=timedelta(seconds=decision.delay)
            if decision.honours_retry_after and decision.delay is not None
            else None,
            category=ApplicationErrorCategory.BENIGN,
        )


@asynccontextmanager
async def worker_with(
    client: Client, settings: Settings, stand_in: ScriptedReceiver
) -> AsyncIterator[None]:
    """The real worker's workflow and activities, but `deliver` is the stand-in."""
    async with process_resources(settings, runs_workflows=True) as process:
        deps = process.deps
        real = [fn for fn in activities(deps) if fn.__name__ != "deliver"]
        async with Worker(
            client,
            task_queue=settings.task_queue,
            workflows=[EventWorkflow],
            activities=[*real, stand_in.deliver],
            workflow_runner=workflow_runner(settings),
        ):
            yield


async def first_timer_started(handle: WorkflowHandle) -> datetime:
    """When the wait after attempt 1 began: attempt 1 had just been made (server clock)."""
    history = await handle.fetch_history()
    return next(
        e.event_time.ToDatetime(tzinfo=UTC)
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_TIMER_STARTED
    )


async def started(handle: WorkflowHandle) -> None:
    """Attempt 1 is in (the workflow left awaiting-executing): time may be skipped now."""
    for _ in range(300):
        if (await handle.query(EventWorkflow.progress)).status != "awaiting-executing":
            return
        await asyncio.sleep(0.1)
    raise TimeoutError("attempt 1 not made")


def gaps(first: datetime, started: dict[int, datetime]) -> list[float]:
    times = [first, *(started[n] for n in sorted(started))]
    return [(b - a).total_seconds() for a, b in itertools.pairwise(times)]


def near(measured: list[float], expected: list[float]) -> bool:
    """Each gap at least the schedule's, at most JITTER of it more (retries spread apart)."""
    return len(measured) == len(expected) and all(
        e <= m <= e * (1 + JITTER) + SLACK for m, e in zip(measured, expected, strict=True)
    )


async def test_a_failing_delivery_follows_the_readme_schedule(
    time_env, settings, sessions, tenant, receiver
):
    settings = isolated_settings(settings)  # the default schedule
    receiver.script("/down", [Reply(503)])
    webhook = await add_webhook(sessions, tenant.tenant_id, receiver.url("/down"))
    stand_in = ScriptedReceiver([Answer(503)])
    async with worker_with(time_env.client, settings, stand_in):
        handle = await publish(time_env.client, settings, tenant.tenant_id)
        await started(handle)
        await time_env.sleep(timedelta(hours=8))
        progress = await settled(handle)
        first = await first_timer_started(handle)
    assert progress.deliveries == {webhook.id: "failed"}
    assert sorted(stand_in.started) == [2, 3, 4, 5, 6]  # 6 attempts in all, then no more
    measured = gaps(first, stand_in.started)
    assert near(measured, README_GAPS), measured
    assert len(receiver.for_path("/down")) == 1  # attempt 1; the others were the stand-in's
    # The UI names the retries' activity by webhook and attempt range.
    history = await handle.fetch_history()
    [scheduled] = [
        e for e in history.events if e.HasField("activity_task_scheduled_event_attributes")
    ]
    summary = time_env.client.data_converter.payload_converter.from_payload(
        scheduled.user_metadata.summary, str
    )
    assert summary == f"attempts 2-6 to {webhook.id}"


async def test_a_client_error_gets_two_attempts_at_most(
    time_env, settings, sessions, tenant, receiver
):
    settings = isolated_settings(settings)
    receiver.script("/bad", [Reply(400)])
    webhook = await add_webhook(sessions, tenant.tenant_id, receiver.url("/bad"))
    stand_in = ScriptedReceiver([Answer(400)])
    async with worker_with(time_env.client, settings, stand_in):
        handle = await publish(time_env.client, settings, tenant.tenant_id)
        await started(handle)
        await time_env.sleep(timedelta(hours=8))
        progress = await settled(handle)
        first = await first_timer_started(handle)
    assert progress.deliveries == {webhook.id: "failed"}
    assert sorted(stand_in.started) == [2]  # attempt 2 failed for good: no third
    assert near(gaps(first, stand_in.started), README_GAPS[:1])


async def test_gone_stops_at_once_and_deactivates_the_webhook(
    time_env, settings, sessions, tenant, receiver
):
    settings = isolated_settings(settings)
    receiver.script("/gone", [Reply(410)])
    webhook = await add_webhook(sessions, tenant.tenant_id, receiver.url("/gone"))
    stand_in = ScriptedReceiver([Answer(200)])
    async with worker_with(time_env.client, settings, stand_in):
        handle = await publish(time_env.client, settings, tenant.tenant_id)
        await started(handle)
        await time_env.sleep(timedelta(hours=8))
        progress = await settled(handle)
    assert progress.deliveries == {webhook.id: "failed"}
    assert stand_in.started == {}  # no retry at all
    stored = await get_webhook(sessions, webhook.id)
    assert stored.status == "inactive" and "410" in stored.status_reason


async def test_retry_after_overrides_the_next_gap(time_env, settings, sessions, tenant, receiver):
    settings = isolated_settings(settings)
    receiver.script("/busy", [Reply(503)])
    webhook = await add_webhook(sessions, tenant.tenant_id, receiver.url("/busy"))
    # Attempt 2: 429 with Retry-After 600 s (the schedule says 150 s next); attempt 3: 200.
    stand_in = ScriptedReceiver([Answer(429, retry_after=600), Answer(200)])
    async with worker_with(time_env.client, settings, stand_in):
        handle = await publish(time_env.client, settings, tenant.tenant_id)
        await started(handle)
        await time_env.sleep(timedelta(hours=1))
        progress = await settled(handle)
        first = await first_timer_started(handle)
    assert progress.deliveries == {webhook.id: "succeeded"}
    assert sorted(stand_in.started) == [2, 3]
    measured = gaps(first, stand_in.started)
    assert near(measured, [30, 600]), measured
