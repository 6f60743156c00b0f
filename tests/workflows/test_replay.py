"""Histories written by earlier versions of EventWorkflow replay with this one: events still
open in their 7-day window survive an upgrade of the workers.

`histories/event_2026-11-23_retry.json` was recorded with the code of f59f5cb (accept_event =
record + match, then deliver_first as a second local activity): one event, two webhooks, one
answering 500 then 200 (a retry as a regular activity, then settle_event), settled, waiting
in its window. Today's code makes attempt 1 inside accept_event; given an old accept result
(no `first`), it must take the fallback path, whose commands are the old ones.
`event_2026-11-30_retry.json` is the same scenario recorded with today's code (one local
activity on the way in): a change that breaks it breaks today's open events.
`event_2026-12-01_expiry_while_retrying.json` (recorded by
`test_the_window_closes_on_two_retrying_series` below, with the code of 341a72e): the
redelivery window closes while two redelivery series are still retrying, one waiting on its
workflow timer, the other on its activity's server-side retry; both are cancelled in the order
they started; then `expire_event` and the `expired` upsert. Published before the input's
`window_timer`, it takes the older path (a timer re-armed per wait, expire_event).
`event_2026-12-01_one_window_timer.json`: the same scenario published with `window_timer` (the
same test, HOOKLINE_RECORD_HISTORIES=1): one window timer, no expire_event, no final upsert.
`event_2026-12-01_retry_to_expiry.json` (tests/workflows/test_actions.py, the same way): one
webhook answering 500 then 200, retried once, run to its expiry with `window_timer`.
A workflow that cancels the series in another order does not replay (a timer's and an
activity's cancellation are different commands; sdk-core does not tell two timers'
cancellations apart, so the recorded series differ in kind on purpose).
`job_2026-12-04_before_cancellable_steps.json` and `job_2026-12-04_completed.json`
(tests/workflows/test_redelivery_job.py, HOOKLINE_RECORD_HISTORIES=1): a redelivery job of
three events in two pages, before and after its store steps could be cancelled.
Changing the workflow's commands? Record a new history here and keep the old ones."""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle, WorkflowHistory
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner, Worker

from hookline.core.models import (
    DeliveryStatus,
    EventStatus,
    EventWorkflowInput,
    FirstAttemptsOutput,
    MatchOutput,
    RedeliverSignal,
)
from hookline.core.retry import JITTER
from hookline.infra.crypto import data_converter
from hookline.worker import PASSTHROUGH
from hookline.workflows.event import FLOW_V2, EventWorkflow
from hookline.workflows.redelivery_job import RedeliveryJobWorkflow
from tests.support.flow import publish, settled
from tests.support.histories import markers, upserted
from tests.support.receiver import Reply
from tests.support.scripted_activities import Script, matched, outcome
from tests.support.store import add_webhook
from tests.support.temporal import isolated_settings, running_worker

FOLDER = Path(__file__).parent / "histories"
EXPIRY_ACTIVITY = "expire_event"
HISTORIES = {  # name -> the history as `temporal workflow show --output json` writes it
    path.stem: path.read_text() for path in sorted(FOLDER.glob("*.json"))
}
EXPIRY_WHILE_RETRYING = "event_2026-12-01_expiry_while_retrying"  # before window_timer
ONE_WINDOW_TIMER = "event_2026-12-01_one_window_timer"  # the same, with it


@pytest.mark.parametrize("name", sorted(HISTORIES))
@pytest.mark.parametrize("sandboxed", [True, False], ids=["sandboxed", "unsandboxed"])
async def test_an_older_history_replays(name: str, sandboxed: bool):
    from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

    runner = (
        SandboxedWorkflowRunner(
            restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH)
        )
        if sandboxed
        else UnsandboxedWorkflowRunner()
    )
    history = WorkflowHistory.from_json(name, HISTORIES[name])
    replayer = Replayer(
        workflows=[EventWorkflow, RedeliveryJobWorkflow],
        data_converter=data_converter([]),
        workflow_runner=runner,
    )
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, result.replay_failure


def test_there_is_a_history_to_replay():
    assert HISTORIES, "tests/workflows/histories/ holds no recorded history"


@workflow.defn(name="EventWorkflow", sandboxed=False)
class CancelsInReverse(EventWorkflow):
    """EventWorkflow but for the order in which expiry cancels the series still running."""

    @workflow.init
    def __init__(self, input: EventWorkflowInput) -> None:
        super().__init__(input)

    @workflow.run
    async def run(self, input: EventWorkflowInput) -> EventStatus:
        return await super().run(input)

    @staticmethod
    async def _cancel(running: list[asyncio.Task[None]]) -> None:
        await EventWorkflow._cancel(list(reversed(running)))


@pytest.mark.parametrize("name", [EXPIRY_WHILE_RETRYING, ONE_WINDOW_TIMER])
async def test_another_cancellation_order_does_not_replay(name: str):
    history = WorkflowHistory.from_json("expiry", HISTORIES[name])
    for workflow_class, fails in ((EventWorkflow, False), (CancelsInReverse, True)):
        replayer = Replayer(
            workflows=[workflow_class],
            data_converter=data_converter([]),
            workflow_runner=UnsandboxedWorkflowRunner(),
        )
        result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        assert (result.replay_failure is not None) is fails, (workflow_class, result)


def timer_started(history: WorkflowHistory, lasting: timedelta) -> int | None:
    """The event id of the first timer of that duration (a retry's wait, stretched by at
    most JITTER of it), if started."""
    return next(
        (
            e.event_id
            for e in history.events
            if e.event_type == EventType.EVENT_TYPE_TIMER_STARTED
            and lasting
            <= e.timer_started_event_attributes.start_to_fire_timeout.ToTimedelta()
            <= lasting * (1 + JITTER)
        ),
        None,
    )


async def waiting(handle: WorkflowHandle, lasting: timedelta) -> None:
    for _ in range(300):
        if timer_started(await handle.fetch_history(), lasting) is not None:
            return
        await asyncio.sleep(0.1)
    raise TimeoutError(f"no {lasting} timer started")


async def test_the_window_closes_on_two_retrying_series(
    time_env, settings, sessions, tenant, receiver
):
    """Webhooks A and B fail at once (a 400, one attempt allowed); each is then redelivered in
    its own series (1: A, 2: B), where each answers 503. When the window (4 h) closes, A waits
    on its workflow timer (12 h) and B's attempt 2 (after 2 h) waits on its activity's
    server-side retry (10 h): two different cancellations, in the order the series began."""
    settings = isolated_settings(
        settings, event_retention=timedelta(hours=4), retry_initial_interval=timedelta(hours=2)
    )
    receiver.script("/a", [Reply(400), Reply(503)])
    receiver.script("/b", [Reply(400), Reply(503)])
    once = {"client_error_max_attempts": 1}
    a = await add_webhook(
        sessions, tenant.tenant_id, receiver.url("/a"), retry=once | {"initial_interval": 86400}
    )
    b = await add_webhook(sessions, tenant.tenant_id, receiver.url("/b"), retry=once)
    client = time_env.client
    async with running_worker(client, settings):
        handle = await publish(client, settings, tenant.tenant_id)
        progress = await settled(handle)
        assert progress.deliveries == {a.id: "failed", b.id: "failed"}
        await handle.signal(EventWorkflow.redeliver, RedeliverSignal(webhook_ids=[a.id]))
        await waiting(handle, timedelta(hours=12))  # series 1: A's retry, capped at 12 h
        await handle.signal(EventWorkflow.redeliver, RedeliverSignal(webhook_ids=[b.id]))
        await waiting(handle, timedelta(hours=2))  # series 2: B's retry
        await time_env.sleep(timedelta(hours=3))  # B's attempt 2 fails; its retry is 10 h off
        await receiver.wait_for(3, path="/b", timeout=30)
        progress = await handle.query(EventWorkflow.progress)
        assert progress.series == 2 and progress.in_flight == sorted([a.id, b.id])
        assert await handle.result() == "expired"
        history = await handle.fetch_history()
    kinds = [e.event_type for e in history.events]
    timer_cancelled = kinds.index(
        EventType.EVENT_TYPE_TIMER_CANCELED, timer_started(history, timedelta(hours=12))
    )
    activity_cancelled = kinds.index(EventType.EVENT_TYPE_ACTIVITY_TASK_CANCEL_REQUESTED)
    assert timer_cancelled < activity_cancelled  # series 1 (A) first: the order they began
    assert len(receiver.for_path("/a")) == 2 and len(receiver.for_path("/b")) == 3
    # One window timer (the others are A's and B's retries), no expire_event, no upsert.
    timers = [e for e in history.events if e.event_type == EventType.EVENT_TYPE_TIMER_STARTED]
    assert len(timers) == 2 + 1
    assert f"core_local_activity:{EXPIRY_ACTIVITY}" not in markers(history)
    assert b'"expired"' not in b"".join(upserted(history))
    if os.environ.get("HOOKLINE_RECORD_HISTORIES"):
        (FOLDER / f"{ONE_WINDOW_TIMER}.json").write_text(history.to_json())


@pytest.mark.parametrize(
    ("name", "window_timer"), [(EXPIRY_WHILE_RETRYING, False), (ONE_WINDOW_TIMER, True)]
)
def test_each_recorded_history_took_its_own_path(name: str, window_timer: bool):
    """The old history's input has no `window_timer` and it ends with expire_event and the
    `expired` upsert; the new one's input has it, and neither. No patch marker in either."""
    history = WorkflowHistory.from_json(name, HISTORIES[name])
    started = history.events[0].workflow_execution_started_event_attributes
    (payload,) = started.input.payloads
    assert (b'"window_timer":true' in payload.data) is window_timer
    recorded = markers(history)
    assert not any(marker.startswith("core_patch") for marker in recorded)
    assert (f"core_local_activity:{EXPIRY_ACTIVITY}" in recorded) is not window_timer
    assert (b'"expired"' in b"".join(upserted(history))) is not window_timer


# A rolling deploy, both ways (docs/DESIGN.md, "Upgrading").
PREVIOUS_RELEASE_NEW_PUBLISHER = "event_2026-12-02_previous_release_new_publisher"
NEW_WORKER_PREVIOUS_PUBLISHER = "event_2026-12-02_new_worker_previous_publisher"


def test_the_previous_release_took_its_own_path_from_the_new_publishers_input():
    """Recorded by the previous release's worker (45a5b70), with scripted activities, from
    the input today's publisher sends (no `window_timer`): one redelivery, run to expiry. It
    took the re-armed window (expire_event, the `expired` upsert) and has no marker; today's
    code replays it (test_an_older_history_replays)."""
    history = WorkflowHistory.from_json("mixed", HISTORIES[PREVIOUS_RELEASE_NEW_PUBLISHER])
    (payload,) = history.events[0].workflow_execution_started_event_attributes.input.payloads
    assert b'"window_timer":true' not in payload.data  # the new publisher never sets it
    recorded = markers(history)
    assert not any(marker.startswith("core_patch") for marker in recorded)
    assert f"core_local_activity:{EXPIRY_ACTIVITY}" in recorded


async def test_a_new_worker_decides_its_version_whatever_the_publisher_sent(time_env):
    """Today's worker, given the previous publisher's input (`window_timer` set): the run
    records the version marker and takes today's path, and its history replays, sandboxed."""
    created = datetime.now(UTC)
    event = EventWorkflowInput.publish(
        "ten_mixed", "user.created", {"id": "usr_1"}, created, timedelta(hours=1)
    ).model_copy(update={"window_timer": True})
    targets = matched(event.event_id, "wh_a")
    first = FirstAttemptsOutput(
        outcomes=[outcome(targets[0], DeliveryStatus.FAILED)], event_status=EventStatus.FAILED
    )
    script = Script(accept=lambda i, n: MatchOutput(webhooks=targets, first=first))
    async with Worker(
        time_env.client,
        task_queue="mixed-deploy",
        workflows=[EventWorkflow],
        activities=script.activities(),
    ):
        handle = await time_env.client.start_workflow(
            EventWorkflow.run, event, id=event.event_id, task_queue="mixed-deploy"
        )
        await handle.signal(EventWorkflow.redeliver, RedeliverSignal(webhook_ids=["wh_a"]))
        assert await handle.result() == EventStatus.EXPIRED
        history = await handle.fetch_history()
    assert f"core_patch:{FLOW_V2}" in markers(history)
    assert [c.name for c in script.calls] == ["accept_event", "deliver_first", "settle_event"]
    replayer = Replayer(workflows=[EventWorkflow], data_converter=data_converter([]))
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, result.replay_failure
    if os.environ.get("HOOKLINE_RECORD_HISTORIES"):
        (FOLDER / f"{NEW_WORKER_PREVIOUS_PUBLISHER}.json").write_text(history.to_json())
