"""RedeliveryJobWorkflow: bulk redelivery (or a webhook's replay) as a durable job
(docs/DESIGN.md, "Bulk work as jobs").

1. count the events the job goes through (first run only)
2. a page of events after the cursor (an activity reading the store), then
3. signal each one's workflow `redeliver` (an activity, at most `rate` a second); the cursor
   moves past the page only when its batch is done, so no event is signalled twice by a job
4. after `batches_per_run` batches, continue-as-new carrying cursor and counts: each run's
   history stays a few hundred events, whatever the job's size
5. a `cancel` signal stops the batch in flight at its next event, or a store step (count,
   page) still retrying; the job ends `cancelled`
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError
from temporalio.workflow import ActivityCancellationType

with workflow.unsafe.imports_passed_through():
    from hookline.activities.jobs import JobActivities
    from hookline.core import search_attributes as sa
    from hookline.core.jobs import (
        CancelJobSignal,
        JobCountInput,
        JobPage,
        JobPageInput,
        JobProgress,
        JobSignalInput,
        JobSignalOutput,
        JobState,
        JobView,
        RedeliveryJobInput,
    )

# A cancel ends a store step that keeps failing (its retries have no end of their own).
CANCELLABLE_STEPS = "job-cancellable-store-steps"
STORE_STEP = timedelta(seconds=60)
STORE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30)
)
# Long enough to notice a dead worker; the worker sends heartbeats at most once a second
# (worker.py), so a cancellation reaches the activity within about a second.
SIGNAL_HEARTBEAT = timedelta(seconds=30)


T = TypeVar("T")


@workflow.defn(name="RedeliveryJobWorkflow")
class RedeliveryJobWorkflow:
    @workflow.init
    def __init__(self, input: RedeliveryJobInput) -> None:
        self._input = input
        self._progress = input.progress.model_copy(deep=True) if input.progress else JobProgress()
        self._cancel: CancelJobSignal | None = None

    @workflow.run
    async def run(self, input: RedeliveryJobInput) -> JobProgress:
        progress = self._progress
        self._cancellable_steps = workflow.patched(CANCELLABLE_STEPS)
        if input.progress is None:
            progress.started_at = workflow.now()
            counted = await self._store_step(
                workflow.start_activity_method(
                    JobActivities.count_job_events,
                    JobCountInput(query=input.query),
                    start_to_close_timeout=STORE_STEP,
                    retry_policy=STORE_RETRY,
                    summary="count the events",
                )
            )
            if counted is not None:
                progress.total = counted.total
        batches = 0
        while self._cancel is None:
            page = await self._page(input)
            if page is None:  # cancelled while the store step retried
                break
            if page.items:
                done = await self._signal(input, page)
                progress.add(done)
                if done.cancelled:
                    break
            progress.cursor = page.cursor or progress.cursor
            progress.batches += 1
            batches += 1
            if page.last:
                progress.state = JobState.COMPLETED
                break
            if self._cancel is None and (
                batches >= input.batches_per_run or workflow.info().is_continue_as_new_suggested()
            ):
                await workflow.wait_condition(workflow.all_handlers_finished)
                progress.runs += 1
                workflow.continue_as_new(input.model_copy(update={"progress": progress}))
        if progress.state != JobState.COMPLETED:
            progress.state = JobState.CANCELLED
            progress.cancel_reason = self._cancel.reason if self._cancel else None
        progress.finished_at = workflow.now()
        workflow.upsert_search_attributes([sa.STATUS.value_set(str(progress.state))])
        return progress

    @workflow.signal
    def cancel(self, request: CancelJobSignal) -> None:
        if self._cancel is None:
            self._cancel = request

    @workflow.query
    def progress(self) -> JobView:
        input = self._input
        return JobView(
            job_id=input.job_id, query=input.query, rate=input.rate, progress=self._progress
        )

    async def _page(self, input: RedeliveryJobInput) -> JobPage | None:
        return await self._store_step(
            workflow.start_activity_method(
                JobActivities.job_page,
                JobPageInput(
                    query=input.query, cursor=self._progress.cursor, limit=input.page_size
                ),
                start_to_close_timeout=STORE_STEP,
                retry_policy=STORE_RETRY,
                summary="the next page of events",
            )
        )

    async def _store_step(self, step: workflow.ActivityHandle[T]) -> T | None:
        """The step's result; None when a cancel came first (the step is cancelled: it only
        reads the store). Runs begun before CANCELLABLE_STEPS wait for the result, as they
        did (their histories hold no cancellation of a store step)."""
        if self._cancellable_steps:
            await workflow.wait_condition(lambda: step.done() or self._cancel is not None)
            if not step.done():
                step.cancel()
                return None
        return await step

    async def _signal(self, input: RedeliveryJobInput, page: JobPage) -> JobSignalOutput:
        """The batch's signals; a cancel request cancels it, and it answers what it did."""
        batch = asyncio.ensure_future(
            workflow.execute_activity_method(
                JobActivities.signal_batch,
                JobSignalInput(job_id=input.job_id, items=page.items, rate=input.rate),
                # Paced at `rate`: the batch's own time, plus a margin for a slow Temporal.
                start_to_close_timeout=timedelta(seconds=len(page.items) / input.rate + 300),
                heartbeat_timeout=SIGNAL_HEARTBEAT,
                retry_policy=STORE_RETRY,
                # The batch answers what it did before it stopped: wait for that answer.
                cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
                summary=f"signal {len(page.items)} events",
            )
        )
        await workflow.wait_condition(lambda: batch.done() or self._cancel is not None)
        if not batch.done():
            batch.cancel()
        try:
            return await batch
        except (asyncio.CancelledError, ActivityError):
            if self._cancel is None and not batch.cancelled():
                raise
            # Cancelled before it could answer (it had not started, or its worker is gone):
            # what it did is not known; the job ends.
            return JobSignalOutput(cancelled=True)
