"""EventWorkflow: one event, from record to expiry (docs/DESIGN.md, "The flow").

1. accept: record the event, match its webhooks, attempt 1 to every match (one local
   activity; with an eagerly started workflow the happy path is one workflow task)
2. retries where attempt 1 asked for them (workflows/series.py)
3. wait for `redeliver` signals until created + retention, each a new series
4. complete: the closed run is the event's "expired"; the store's rows go with the sweep

Versions are decided here, by the worker, never by a field a publisher sets: a rolling deploy
mixes old and new workers and APIs (docs/DESIGN.md, "Upgrading").
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

from hookline.workflows import outcomes
from hookline.workflows.alerting import alert_disabled
from hookline.workflows.fanout import fan_out
from hookline.workflows.series import FIRST_ATTEMPTS_RETRY, STORE_RETRY, STORE_STEP, Series
from hookline.workflows.state import EventState
from hookline.workflows.visibility import Visibility

with workflow.unsafe.imports_passed_through():
    from hookline.activities.events import EventActivities
    from hookline.core import models, retry
    from hookline.core import search_attributes as sa
    from hookline.core.models import (
        AcceptInput,
        EventProgress,
        EventStatus,
        EventWorkflowInput,
        ExpireInput,
        MatchOutput,
        RedeliverSignal,
        TurnSignal,
        WebhookDisabled,
    )

# The worker's version of the event's flow, decided once at the start of a run (a marker in
# its history; docs/DESIGN.md, "Upgrading"). Runs that have it: the redelivery window is one
# durable timer started once from `expires_at` (redeliveries cost no timer; the run completes
# when it fires, no expire_event, no upsert); a delivery is released the moment its outcome is
# final, so it can be redelivered while others of its series still retry. Runs without it
# (begun by an earlier release) keep what they began with: the window `window_timer` chose
# (one timer, or a timer re-armed per request then expire_event and an `expired` upsert), and
# deliveries released when their series ends.
FLOW_V2 = "event-flow-v2"
CHUNK_SIZE = models.CHUNK_SIZE  # a large event's chunk (core/models.py)
# Continue-as-new past this many history events (or when the server suggests it), far below
# the 51,200 limit, once no series runs: the run's state goes on in the next run.
HISTORY_BUDGET = 10_000
# Record, match and attempt 1: the store steps plus the POSTs, each bounded by the longest an
# attempt takes with the largest delivery timeout (retry.MAX_DELIVERY_TIMEOUT).
ACCEPT_WITH_ATTEMPTS = 2 * STORE_STEP + timedelta(
    seconds=retry.attempt_limit(retry.MAX_DELIVERY_TIMEOUT.total_seconds())
)


@workflow.defn(name="EventWorkflow")
class EventWorkflow:
    @workflow.init
    def __init__(self, input: EventWorkflowInput) -> None:
        self._state = EventState(input)
        self._visibility = Visibility()
        self._series = Series(self._state, self._visibility, self._alert_disabled)

    @workflow.run
    async def run(self, input: EventWorkflowInput) -> EventStatus:
        state = self._state
        state.release_at_outcome = workflow.patched(FLOW_V2)
        one_window_timer = state.release_at_outcome or input.window_timer
        running: list[asyncio.Task[None]] = []  # series, in start order
        if input.carried is not None:  # accepted by an earlier run: resume its window
            state.resume(input.carried)
            self._visibility.show(state)
        else:
            match = await self._accept(input, chunked=state.release_at_outcome)
            if match.chunked_total is not None:
                state.chunked_total, state.status = match.chunked_total, EventStatus.EXECUTING
                if match.first is None:
                    running.append(asyncio.create_task(self._fan_out(0)))
                else:  # attempt 1 made by an earlier run (a repair): redeliveries only
                    state.status = match.first.event_status or EventStatus.FAILED
            else:
                state.matched_all(match.webhooks)
                if state.matched:
                    first = self._series.run(list(state.matched), 0, match.first)
                    running.append(asyncio.create_task(first))
            # Shown once the first attempts are in: one visibility update per event on the
            # happy path (server work), or before the first retry's wait.
            if not running:
                self._visibility.show(state)
        if one_window_timer:
            await self._window(input, running)
            state.status = EventStatus.EXPIRED
            return state.status
        await self._window_rearmed(input, running)
        await workflow.execute_local_activity_method(
            EventActivities.expire_event,
            ExpireInput(event_id=input.event_id),
            start_to_close_timeout=STORE_STEP,
            retry_policy=STORE_RETRY,
        )
        state.status = EventStatus.EXPIRED
        workflow.upsert_search_attributes([sa.STATUS.value_set(state.status)])
        return state.status

    @workflow.signal
    def redeliver(self, request: RedeliverSignal) -> None:
        self._state.requests.append(request)

    @workflow.signal
    def turn(self, signal: TurnSignal) -> None:
        """A fifo webhook's earlier delivery ended: this event's may go (store/ordering.py)."""
        self._state.turns[signal.webhook_id] = None

    @workflow.query
    def progress(self) -> EventProgress:
        state = self._state
        return EventProgress(
            status=state.status,
            deliveries=state.outcomes,
            series=state.series,
            in_flight=sorted(state.in_flight),
            chunked_total=state.chunked_total,
            runs=state.runs,
        )

    async def _accept(self, input: EventWorkflowInput, *, chunked: bool) -> MatchOutput:
        """Record, match and attempt 1 in one local activity. If that keeps failing, record
        and match alone, retried until the store answers; attempt 1 then runs as a series.
        (A history without `first` in its result, from an older version, goes the second way
        too, so it replays.)"""
        try:
            return await workflow.execute_local_activity_method(
                EventActivities.accept_event,
                AcceptInput(
                    **input.model_dump(),
                    attempt_first=True,
                    chunk_size=CHUNK_SIZE if chunked else None,
                ),
                start_to_close_timeout=ACCEPT_WITH_ATTEMPTS,
                retry_policy=FIRST_ATTEMPTS_RETRY,
                summary="record, match, attempt 1 to every match",
            )
        except (ActivityError, ApplicationError) as error:
            outcomes.reraise_cancellation(error)
            return await workflow.execute_local_activity_method(
                EventActivities.accept_event,
                AcceptInput(**input.model_dump(), chunk_size=CHUNK_SIZE if chunked else None),
                start_to_close_timeout=STORE_STEP,
                retry_policy=STORE_RETRY,
                summary="record, match",
            )

    async def _window(self, input: EventWorkflowInput, running: list[asyncio.Task[None]]) -> None:
        """The redelivery window: one timer. A request that arrives with (or after) the
        window's end is not served; series still retrying then are cancelled."""
        requests = self._state.requests
        remaining = input.expires_at - workflow.now()
        window = None
        if remaining > timedelta(0):
            window = asyncio.create_task(workflow.sleep(remaining, summary="redelivery window"))

        def next_step() -> bool:  # with a long history: no new series; the next run serves
            if self._history_full():
                return all(task.done() for task in running)
            return bool(requests)

        while window is not None:
            await workflow.wait_condition(lambda: window.done() or next_step())
            if window.done() or workflow.now() >= input.expires_at:
                break
            if self._history_full():
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(
                    input.model_copy(update={"carried": self._state.carried()})
                )
            running = self._redeliver(requests.pop(0), running)
        await self._cancel(running)
        if window is not None and not window.done():
            window.cancel()
            await asyncio.gather(window, return_exceptions=True)
        await workflow.wait_condition(workflow.all_handlers_finished)

    async def _window_rearmed(
        self, input: EventWorkflowInput, running: list[asyncio.Task[None]]
    ) -> None:
        """The window of runs begun before FLOW_V2 without `window_timer`: a wait with a
        timeout, re-armed (a new timer) after each request."""
        requests = self._state.requests
        while (remaining := input.expires_at - workflow.now()) > timedelta(0):
            try:
                await workflow.wait_condition(lambda: bool(requests), timeout=remaining)
            except TimeoutError:
                break
            running = self._redeliver(requests.pop(0), running)
        await self._cancel(running)
        await workflow.wait_condition(workflow.all_handlers_finished)

    @staticmethod
    def _history_full() -> bool:
        info = workflow.info()
        return (
            info.is_continue_as_new_suggested()
            or info.get_current_history_length() > HISTORY_BUDGET
        )

    def _redeliver(
        self, request: RedeliverSignal, running: list[asyncio.Task[None]]
    ) -> list[asyncio.Task[None]]:
        """A new series for the request's targets; the series still running, in start order."""
        state = self._state
        if state.chunked_total is not None:  # a large event: chunks find their targets
            state.series += 1
            running.append(asyncio.create_task(self._fan_out(state.series, request)))
            return [task for task in running if not task.done()]
        targets = state.redelivery_targets(request)
        if targets:
            state.series += 1
            running.append(asyncio.create_task(self._series.run(targets, state.series)))
        return [task for task in running if not task.done()]

    async def _fan_out(self, series: int, request: RedeliverSignal | None = None) -> None:
        await fan_out(self._state, series, CHUNK_SIZE, request)
        self._visibility.show(self._state)

    @staticmethod
    async def _cancel(running: list[asyncio.Task[None]]) -> None:
        """Retention wins over deliveries still retrying. In start order: the order of the
        cancellations is the order of the commands (timers, activities) they cancel."""
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)

    async def _alert_disabled(self, disabled: WebhookDisabled) -> None:
        await alert_disabled(self._state.input, disabled)
