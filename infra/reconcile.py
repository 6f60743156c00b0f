"""The reconciler: nothing stays unfinished for want of a workflow (docs/DESIGN.md, "The
reconciler"). Every worker process runs it beside the expiry sweep (process.py).

Each round takes a bounded batch of the events the store holds as unfinished
(awaiting-executing or executing, live, older than a grace period: a start may be in flight)
and describes each one's workflow (the newest run of the event's id):

- running, or completed: nothing to do;
- not found and the event awaiting-executing: the API died between the insert and the start
  (and its client did not retry). Started as the API starts it: the same id, the input
  rebuilt from the row, the same options (infra/starts.py); delivered as any event;
- not found and the event executing (its run had accepted it: its history is gone), or
  closed without finishing it (terminated, failed, timed out, cancelled): a fresh run with
  the same id whose input carries the reason (`repair_reason`), started only if no run is
  open (of several reconcilers, one start wins); then the event is recorded failed with the
  reason as its last stage (conditionally: once). The fresh run's accept_event records the
  same if this process stops first, reads the deliveries as final (no attempt 1 again) and
  serves redeliveries for the rest of the event's window.

Rounds walk the unfinished events oldest first, a batch each, from where the last round
stopped, then from the start again: every one is looked at, however many are retrying.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio.client import (
    Client,
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowHistoryEventFilterType,
)
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from hookline.core.models import ERROR_CHARS, EventStatus, storable_text
from hookline.infra.config import Settings
from hookline.infra.starts import repair_start_options, start_options
from hookline.store.events import (
    UNFINISHED,
    event_row,
    record_repair,
    stored_input,
    unfinished_events,
)
from hookline.store.transactions import Store

log = logging.getLogger("hookline.reconcile")

# An event younger than this is left alone: the API's start may still be in flight.
RECONCILE_GRACE = timedelta(seconds=30)
RECONCILE_BATCH = 100  # events looked at per round (one describe each)
DESCRIBES_AT_ONCE = 8
TEMPORAL_AWAY = {
    RPCStatusCode.UNAVAILABLE,
    RPCStatusCode.DEADLINE_EXCEEDED,
    RPCStatusCode.CANCELLED,
}
# Runs that need nothing: open, or ended the way every run ends (its window over).
SOUND = {
    WorkflowExecutionStatus.RUNNING,
    WorkflowExecutionStatus.COMPLETED,
    WorkflowExecutionStatus.CONTINUED_AS_NEW,
}
CLOSED_AS = {
    WorkflowExecutionStatus.TERMINATED: "terminated",
    WorkflowExecutionStatus.FAILED: "failed",
    WorkflowExecutionStatus.TIMED_OUT: "timed out",
    WorkflowExecutionStatus.CANCELED: "cancelled",
}


@dataclass
class Reconciled:
    """What one round did."""

    checked: int = 0  # events whose workflow was looked at
    started: int = 0  # never started: started now
    repaired: int = 0  # closed without finishing (or gone): recorded failed, a fresh run
    errors: int = 0


class Reconciler:
    """`temporal()` gives the process's client (None while it has none: the round waits);
    `run` is the workflow's run method (`EventWorkflow.run`: infra/ does not import it)."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        temporal: Callable[[], Client | None],
        run: Any,
        *,
        grace: timedelta = RECONCILE_GRACE,
        batch: int = RECONCILE_BATCH,
    ) -> None:
        self.store, self.settings, self.temporal, self.run = store, settings, temporal, run
        self.grace, self.batch = grace, batch
        self._after: tuple[datetime, str] | None = None  # where the next round goes on

    async def reconcile(self, now: datetime | None = None) -> Reconciled:
        """One round: at most `batch` events looked at, each repaired if it needs it."""
        done = Reconciled()
        client = self.temporal()
        if client is None:
            return done
        now = now or datetime.now(UTC)
        rows = await self.store.transaction(
            unfinished_events, now - self.grace, now, self._after, self.batch
        )
        previous = self._after
        self._after = (rows[-1].created, rows[-1].id) if len(rows) == self.batch else None
        at_once = asyncio.Semaphore(DESCRIBES_AT_ONCE)
        away: list[Exception] = []  # Temporal cannot be reached: the round stops

        async def check(event_id: str, status: str) -> None:
            async with at_once:
                if away:
                    return
                try:
                    await self._check(client, event_id, status, done)
                    done.checked += 1
                except Exception as exc:
                    if temporal_away(exc):
                        away.append(exc)
                        return
                    done.errors += 1
                    log.warning("could not reconcile event %s", event_id, exc_info=True)

        await asyncio.gather(*(check(row.id, row.status) for row in rows))
        if away:
            self._after = previous  # the same events next round
            log.warning("reconcile round stopped: Temporal is unavailable (%s)", away[0])
        if done.started or done.repaired:
            log.info(
                "reconciled: %d events started, %d recorded failed", done.started, done.repaired
            )
        return done

    async def _check(self, client: Client, event_id: str, status: str, done: Reconciled) -> None:
        try:
            description = await client.get_workflow_handle(event_id).describe()
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
            description = None
        if description is None:
            if status == EventStatus.AWAITING:
                if await self._start(client, event_id):
                    done.started += 1
                return
            reason = "its workflow was not found (its history is gone)"
        elif description.status in SOUND or description.status is None:
            return
        else:
            reason = await closed_reason(client, description)
        if await self._repair(client, event_id, reason):
            done.repaired += 1

    async def _start(self, client: Client, event_id: str) -> bool:
        """The start the API did not make: its input and options, from the row."""
        row = await self.store.transaction(event_row, event_id)
        if row is None or row.status != EventStatus.AWAITING:
            return False
        event = stored_input(row)
        try:
            await client.start_workflow(self.run, event, **start_options(self.settings, event))
        except WorkflowAlreadyStartedError:  # a run of this id closed meanwhile: checked again
            return False
        log.warning("event %s was recorded but never started: started", event_id)
        return True

    async def _repair(self, client: Client, event_id: str, reason: str) -> bool:
        """A fresh run, told why; then the event recorded failed. False when another
        reconciler's start won (or the event has finished meanwhile)."""
        row = await self.store.transaction(event_row, event_id)
        if row is None or row.status not in UNFINISHED:
            return False
        event = stored_input(row).model_copy(update={"repair_reason": reason})
        try:
            await client.start_workflow(
                self.run, event, **repair_start_options(self.settings, event)
            )
        except WorkflowAlreadyStartedError:
            log.info("event %s: another start won (a run is open)", event_id)
            return False
        await self.store.transaction(record_repair, event_id, reason, self.settings.retry_spec())
        log.warning("event %s recorded failed: %s", event_id, reason)
        return True

    async def run_forever(self, every: timedelta) -> None:
        # Processes started together do not all reconcile at the same moment.
        await asyncio.sleep(random.uniform(0, every.total_seconds()))
        while True:
            try:
                await self.reconcile()
            except Exception:  # the store or Temporal is away: the next round will do
                log.warning("reconcile round failed", exc_info=True)
            await asyncio.sleep(every.total_seconds())


def temporal_away(exc: Exception) -> bool:
    """Temporal cannot be reached (not: this one event could not be repaired)."""
    if isinstance(exc, RPCError):
        return exc.status in TEMPORAL_AWAY
    # A lazy client that cannot connect yet (as the API's, before Temporal is up).
    return isinstance(exc, RuntimeError) and "connect" in str(exc).lower()


async def closed_reason(client: Client, description: WorkflowExecutionDescription) -> str:
    """Why a run closed, as its close event tells it: how (terminated, failed, ...) and, where
    there is one, the reason given or the failure's message."""
    status = description.status
    how = CLOSED_AS.get(status, status.name.lower() if status else "closed")  # type: ignore[arg-type]
    handle: WorkflowHandle = client.get_workflow_handle(description.id, run_id=description.run_id)
    detail = ""
    try:
        async for event in handle.fetch_history_events(
            event_filter_type=WorkflowHistoryEventFilterType.CLOSE_EVENT
        ):
            if event.HasField("workflow_execution_terminated_event_attributes"):
                attributes = event.workflow_execution_terminated_event_attributes
                detail = attributes.reason
                if attributes.identity:
                    detail = (
                        f"{detail} (by {attributes.identity})" if detail else attributes.identity
                    )
            elif event.HasField("workflow_execution_failed_event_attributes"):
                failure = event.workflow_execution_failed_event_attributes.failure
                detail = str(await client.data_converter.decode_failure(failure))
    except Exception:  # the reason is shown without the detail
        log.debug("no close event for %s", description.id, exc_info=True)
    reason = f"its workflow run {description.run_id} was {how}"
    return storable_text(f"{reason}: {detail}" if detail else reason, ERROR_CHARS) or reason
