"""A redelivery job's activities: count and page through the store's events, and signal each
event's workflow `redeliver` (the same signal a single redelivery sends), at a bounded rate.

`signal_batch` heartbeats after every event with how far it got: a retried attempt (a crashed
worker) resumes after the last recorded heartbeat, and a cancelled job's activity stops at
its next heartbeat and answers what it did so far.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from datetime import UTC, datetime
from typing import Any

from temporalio import activity
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from hookline.activities.deps import Deps
from hookline.core import ids
from hookline.core.jobs import (
    MAX_ERRORS,
    SKIPPED_DELIVERED,
    SKIPPED_EXPIRED,
    SKIPPED_IN_FLIGHT,
    SKIPPED_MISSING_KEY,
    JobCountInput,
    JobCountOutput,
    JobItem,
    JobPage,
    JobPageInput,
    JobSignalInput,
    JobSignalOutput,
)
from hookline.core.models import RedeliverSignal
from hookline.infra import metrics
from hookline.infra.keys_in_use import missing_workflow_keys
from hookline.store import claims
from hookline.store.jobs import count_job_events, job_page

# Temporal briefly unavailable: the same event is tried again (not the activity, which would
# resume from its last recorded heartbeat and could signal a few events twice).
_UNAVAILABLE = {RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED}
_UNAVAILABLE_PAUSE = 1.0


class JobActivities:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    @activity.defn(name="count_job_events")
    async def count_job_events(self, input: JobCountInput) -> JobCountOutput:
        """How many events the job will go through (when it starts)."""
        total = await self.deps.store.transaction(count_job_events, input.query)
        return JobCountOutput(total=total)

    @activity.defn(name="job_page")
    async def job_page(self, input: JobPageInput) -> JobPage:
        """The next events after the cursor, with the webhooks each signal names."""
        return await self.deps.store.transaction(job_page, input.query, input.cursor, input.limit)

    @activity.defn(name="signal_job_batch")
    async def signal_batch(self, input: JobSignalInput) -> JobSignalOutput:
        """Signals each item's workflow `redeliver`, at most `rate` a second; resumes after the
        last heartbeat; on cancellation, answers what it did."""
        out = _resumed(activity.info().heartbeat_details)
        client = activity.client()
        interval = 1.0 / input.rate
        started, first = time.monotonic(), out.done
        try:
            for index in range(first, len(input.items)):
                # Paced from this attempt's start: its nth item no sooner than start + n/rate.
                wait = started + (index - first) * interval - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                await self._signal(client, input.items[index], out)
                out.done = index + 1
                activity.heartbeat(out.model_dump(mode="json"))
                if out.cancelled:  # arrived while a signal was in flight, now counted
                    break
        except asyncio.CancelledError:
            out.cancelled = True
        metrics.redelivery_requested(out.deliveries)
        return out

    async def _signal(self, client: Client, item: JobItem, out: JobSignalOutput) -> None:
        if item.in_flight:  # its workflow would leave it to its series: not a promise to count
            _skip(out, SKIPPED_IN_FLIGHT)
            return
        claimed: list[str] = []
        if item.webhook_ids is not None:
            # Claimed as a single redelivery claims them: another request for the same
            # deliveries a moment before or after schedules them once.
            by_delivery = {ids.delivery_id(item.event_id, w): w for w in item.webhook_ids}
            taken, in_flight = await self.deps.store.transaction(
                claims.claim_for_job,
                list(by_delivery),
                datetime.now(UTC),
                item.undelivered_only,
            )
            claimed = [d for d in by_delivery if d in taken]
            if not claimed:
                _skip(out, SKIPPED_IN_FLIGHT if in_flight else SKIPPED_DELIVERED)
                return
            item = item.model_copy(update={"webhook_ids": [by_delivery[d] for d in claimed]})
        signalled = False
        try:
            signalled = await self._send(client, item, out)
        finally:
            if claimed and not signalled:  # not asked of the workflow: free them for another
                await self.deps.store.transaction(claims.release_for_job, claimed)

    async def _send(self, client: Client, item: JobItem, out: JobSignalOutput) -> bool:
        """Whether the signal was sent (then counted as scheduled)."""
        while True:
            try:
                if await missing_workflow_keys(client, item.event_id):
                    _skip(out, SKIPPED_MISSING_KEY)
                    return False
                signal = client.get_workflow_handle(item.event_id).signal(
                    "redeliver", RedeliverSignal(webhook_ids=item.webhook_ids)
                )
                await _to_its_end(signal, out)
            except RPCError as exc:
                if exc.status == RPCStatusCode.NOT_FOUND:
                    _skip(out, SKIPPED_EXPIRED)
                    return False
                if exc.status in _UNAVAILABLE and not out.cancelled:
                    activity.heartbeat(out.model_dump(mode="json"))
                    await asyncio.sleep(_UNAVAILABLE_PAUSE)
                    continue
                out.failed += 1
                if len(out.errors) < MAX_ERRORS:
                    out.errors.append(f"{item.event_id}: {exc.message[:200]}")
                return False
            out.scheduled += 1
            out.deliveries += item.size
            return True


async def _to_its_end(call: Awaitable[None], out: JobSignalOutput) -> None:
    """Awaits a signal even when the job is cancelled meanwhile: once sent it may have reached
    the workflow, so it is counted like any other; the cancellation is kept in `out`."""
    sending = asyncio.ensure_future(call)
    try:
        await asyncio.shield(sending)
    except asyncio.CancelledError:
        out.cancelled = True
        await sending


def _skip(out: JobSignalOutput, reason: str) -> None:
    out.skipped[reason] = out.skipped.get(reason, 0) + 1


def _resumed(details: Any) -> JobSignalOutput:
    """The last heartbeat's progress (a retried attempt), or a fresh one."""
    return JobSignalOutput.model_validate(details[0]) if details else JobSignalOutput()
