"""RedeliveryJobWorkflow with scripted activities on the time-skipping test server: a job runs
its count, its pages and its batches to the end; a cancel stops it even while a store step
keeps failing (its retries have no end of their own); a history recorded before that replays.

`HOOKLINE_RECORD_HISTORIES=1` writes the completed job's history to
`histories/job_<date>_completed.json` (what `test_replay.py` replays with today's code)."""

from __future__ import annotations

import asyncio
import os
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from hookline.core.jobs import (
    CancelJobSignal,
    JobCountInput,
    JobCountOutput,
    JobCursor,
    JobItem,
    JobKind,
    JobPage,
    JobPageInput,
    JobQuery,
    JobSignalInput,
    JobSignalOutput,
    JobState,
    RedeliveryJobInput,
)
from hookline.workflows.redelivery_job import RedeliveryJobWorkflow
from tests.support.temporal import sandboxed_worker

HISTORIES = Path(__file__).parent / "histories"
CREATED = datetime(2026, 12, 1, tzinfo=UTC)


class ScriptedJob:
    """The job's three activities: `count_fails` makes the count fail every time."""

    def __init__(self, events: int, count_fails: bool = False) -> None:
        self.items = [
            JobItem(
                event_id=f"evt_{n:03d}",
                created=CREATED + timedelta(seconds=n),
                webhook_ids=["wh_1"],
            )
            for n in range(events)
        ]
        self.count_fails = count_fails
        self.calls: list[str] = []

    @activity.defn(name="count_job_events")
    async def count(self, input: JobCountInput) -> JobCountOutput:
        self.calls.append("count")
        if self.count_fails:
            raise RuntimeError("the store is down")
        return JobCountOutput(total=len(self.items))

    @activity.defn(name="job_page")
    async def page(self, input: JobPageInput) -> JobPage:
        self.calls.append("page")
        after = input.cursor.event_id if input.cursor else ""
        rest = [i for i in self.items if i.event_id > after]
        items = rest[: input.limit]
        cursor = (
            JobCursor(created=items[-1].created, event_id=items[-1].event_id) if items else None
        )
        return JobPage(items=items, cursor=cursor, last=len(rest) <= input.limit)

    @activity.defn(name="signal_job_batch")
    async def signal(self, input: JobSignalInput) -> JobSignalOutput:
        self.calls.append("signal")
        return JobSignalOutput(
            scheduled=len(input.items), deliveries=len(input.items), done=len(input.items)
        )

    def activities(self) -> list:
        return [self.count, self.page, self.signal]


def job_worker(client: Client, script: ScriptedJob):
    return sandboxed_worker(client, [RedeliveryJobWorkflow], script.activities(), "jobs")


def job_input() -> RedeliveryJobInput:
    query = JobQuery(tenant_id="ten_jobs", kind=JobKind.REDELIVER, until=CREATED + timedelta(1))
    return RedeliveryJobInput(
        job_id=f"job_{uuid.uuid4().hex[:8]}", query=query, rate=100, page_size=2, batches_per_run=50
    )


async def test_a_job_goes_through_every_page(time_env: WorkflowEnvironment) -> None:
    script = ScriptedJob(events=3)
    async with job_worker(time_env.client, script) as task_queue:
        input = job_input()
        handle = await time_env.client.start_workflow(
            RedeliveryJobWorkflow.run, input, id=input.job_id, task_queue=task_queue
        )
        progress = await handle.result()
    assert progress.state == JobState.COMPLETED
    assert (progress.total, progress.processed, progress.scheduled) == (3, 3, 3)
    assert script.calls == ["count", "page", "signal", "page", "signal"]
    if os.environ.get("HOOKLINE_RECORD_HISTORIES"):
        history = await handle.fetch_history()
        name = f"job_{datetime.now(UTC):%Y-%m-%d}_completed.json"
        (HISTORIES / name).write_text(history.to_json())


async def test_a_cancel_stops_a_job_whose_count_keeps_failing(
    time_env: WorkflowEnvironment,
) -> None:
    """The count's retries have no end of their own (a store down for an hour must not fail
    the job); a cancel must still end it, at once, with no page read."""
    script = ScriptedJob(events=3, count_fails=True)
    async with job_worker(time_env.client, script) as task_queue:
        input = job_input()
        handle = await time_env.client.start_workflow(
            RedeliveryJobWorkflow.run, input, id=input.job_id, task_queue=task_queue
        )
        for _ in range(200):  # bounded: until the count has failed a few times
            if script.calls.count("count") >= 3:
                break
            await asyncio.sleep(0.05)
        assert script.calls.count("count") >= 3, script.calls
        await handle.signal(RedeliveryJobWorkflow.cancel, CancelJobSignal(reason="store down"))
        progress = await asyncio.wait_for(handle.result(), timeout=30)
        described = await handle.describe()
    assert described.status == WorkflowExecutionStatus.COMPLETED
    assert (progress.state, progress.cancel_reason, progress.total) == (
        JobState.CANCELLED,
        "store down",
        None,
    )
    assert set(script.calls) == {"count"}
    history = await handle.fetch_history()
    kinds = [e.event_type for e in history.events]
    assert EventType.EVENT_TYPE_ACTIVITY_TASK_CANCEL_REQUESTED in kinds
