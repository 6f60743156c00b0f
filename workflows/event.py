"""EventWorkflow: one event, from record to expiry (docs/DESIGN.md, "The flow").

1. record_event + 2. match_webhooks + 3. attempt 1    (one local activity: accept_event)
3. then status-aware retries, one regular activity per delivery
4. wait for `redeliver` signals until created + retention (one timer)    5. complete: expired
   (the store's rows go with the sweep by `expires_at`, store/retention.py)

The short steps run as local activities: no server round trip each, and with an eagerly
started workflow the whole happy path is one workflow task and one local activity. Attempt 1
of a series goes to all its targets at once and also settles the event when nothing needs a
retry: inside accept_event for the scheduled series, as `deliver_first` for a redelivery.
Retries run as a regular activity per delivery under Temporal's RetryPolicy, so long
back-offs are durable server-side timers.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import (
    RetryPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import ActivityError, ApplicationError, WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from hookline.activities.delivery import DeliveryActivities
    from hookline.activities.events import EventActivities
    from hookline.core import alerts, retry
    from hookline.core import search_attributes as sa
    from hookline.core.models import (
        AcceptInput,
        DeliverInput,
        DeliverOutput,
        DeliveryStatus,
        EventProgress,
        EventStatus,
        EventWorkflowInput,
        ExpireInput,
        FirstAttemptsInput,
        FirstAttemptsOutput,
        MatchedWebhook,
        MatchOutput,
        RedeliverSignal,
        SettleInput,
        Trigger,
        WebhookDisabled,
    )

STORE_STEP = timedelta(seconds=30)
STORE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1)
)
# Record, match and attempt 1: the store steps plus the POSTs, each bounded by the delivery
# timeout (at most retry.MAX_DELIVERY_TIMEOUT).
ACCEPT_WITH_ATTEMPTS = 2 * STORE_STEP + retry.MAX_DELIVERY_TIMEOUT
# Attempt 1 only fails as a whole when the store does; a few quick tries, then each delivery
# goes on under its own retry policy.
FIRST_ATTEMPTS_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=5), maximum_attempts=3
)


@workflow.defn(name="EventWorkflow")
class EventWorkflow:
    @workflow.init
    def __init__(self, input: EventWorkflowInput) -> None:
        self._input = input
        self._matched: dict[str, MatchedWebhook] = {}
        self._outcomes: dict[str, DeliveryStatus] = {}
        self._requests: list[RedeliverSignal] = []
        # Ordered containers only: iteration order decides command order, which must not
        # depend on hashes or object addresses.
        self._in_flight: dict[str, None] = {}  # webhook ids, in the order their series began
        self._retrying: dict[str, None] = {}  # in flight, past attempt 1: for the UI's details
        self._series = 0
        self._status = EventStatus.AWAITING
        self._shown: tuple[list[str], EventStatus] | None = None  # last upserted

    @workflow.run
    async def run(self, input: EventWorkflowInput) -> EventStatus:
        match = await self._accept(input)
        self._matched = {m.webhook_id: m for m in match.webhooks}
        self._outcomes = {wh: DeliveryStatus.PENDING for wh in self._matched}
        self._status = EventStatus.EXECUTING if self._matched else EventStatus.SUCCEEDED
        if not self._matched:
            self._show_progress()
        # Otherwise shown once the first attempts are in: one visibility update per event on
        # the happy path (server work), or before the first retry's wait.

        series: list[asyncio.Task[None]] = []  # in start order
        if self._matched:
            series.append(
                asyncio.create_task(self._run_series(list(self._matched), 0, match.first))
            )

        # A run published without `window_timer` (older code) keeps the old window for its
        # whole life: a timer per wait, then expire_event and an `expired` upsert.
        if input.window_timer:
            await self._window(input, series)
            self._status = EventStatus.EXPIRED
            return self._status
        await self._window_rearmed(input, series)
        await workflow.execute_local_activity_method(
            EventActivities.expire_event,
            ExpireInput(event_id=input.event_id),
            start_to_close_timeout=STORE_STEP,
            retry_policy=STORE_RETRY,
        )
        self._status = EventStatus.EXPIRED
        workflow.upsert_search_attributes([sa.STATUS.value_set(self._status)])
        return self._status

    async def _window(self, input: EventWorkflowInput, series: list[asyncio.Task[None]]) -> None:
        """The redelivery window: one durable timer, started once from the event's
        `expires_at`, so redeliveries never extend it and cost no timer of their own. When it
        closes the run completes: the closed run is the event's "expired" in Temporal, and the
        store's rows go with the periodic sweep by `expires_at` (store/retention.py; the API
        answers 404 from `expires_at` on, swept or not)."""
        remaining = input.expires_at - workflow.now()
        window = None
        if remaining > timedelta(0):
            window = asyncio.create_task(workflow.sleep(remaining, summary="redelivery window"))
        while window is not None:
            await workflow.wait_condition(lambda: bool(self._requests) or window.done())
            # A request that arrives with (or after) the window's end is not served.
            if window.done() or workflow.now() >= input.expires_at:
                break
            series = self._redeliver(self._requests.pop(0), series)
        await self._cancel_series(series)
        if window is not None and not window.done():
            window.cancel()
            await asyncio.gather(window, return_exceptions=True)
        await workflow.wait_condition(workflow.all_handlers_finished)

    async def _window_rearmed(
        self, input: EventWorkflowInput, series: list[asyncio.Task[None]]
    ) -> None:
        """The window of runs published without `window_timer` (kept for them): a wait
        with a timeout, re-armed (a new timer) after each request."""
        while (remaining := input.expires_at - workflow.now()) > timedelta(0):
            try:
                await workflow.wait_condition(lambda: bool(self._requests), timeout=remaining)
            except TimeoutError:
                break
            series = self._redeliver(self._requests.pop(0), series)
        await self._cancel_series(series)
        await workflow.wait_condition(workflow.all_handlers_finished)

    def _redeliver(
        self, request: RedeliverSignal, series: list[asyncio.Task[None]]
    ) -> list[asyncio.Task[None]]:
        """A new series for the request's targets; the series still running, in start order."""
        targets = self._redelivery_targets(request)
        if targets:
            self._series += 1
            series.append(asyncio.create_task(self._run_series(targets, self._series)))
        return [task for task in series if not task.done()]

    @staticmethod
    async def _cancel_series(series: list[asyncio.Task[None]]) -> None:
        """Retention wins over deliveries still retrying. In start order: the order of the
        cancellations is the order of the commands (timers, activities) they cancel."""
        for task in series:
            task.cancel()
        await asyncio.gather(*series, return_exceptions=True)

    async def _accept(self, input: EventWorkflowInput) -> MatchOutput:
        """Record, match and attempt 1 in one local activity. If that keeps failing, record
        and match alone, retried until the store answers; attempt 1 then runs as a series.
        (A history without `first` in its result, e.g. from an older version, goes the
        second way too, so it replays.)"""
        try:
            return await workflow.execute_local_activity_method(
                EventActivities.accept_event,
                AcceptInput(**input.model_dump(), attempt_first=True),
                start_to_close_timeout=ACCEPT_WITH_ATTEMPTS,
                retry_policy=FIRST_ATTEMPTS_RETRY,
                summary="record, match, attempt 1 to every match",
            )
        except (ActivityError, ApplicationError):
            return await workflow.execute_local_activity_method(
                EventActivities.accept_event,
                AcceptInput(**input.model_dump()),
                start_to_close_timeout=STORE_STEP,
                retry_policy=STORE_RETRY,
                summary="record, match",
            )

    @workflow.signal
    def redeliver(self, request: RedeliverSignal) -> None:
        self._requests.append(request)

    @workflow.query
    def progress(self) -> EventProgress:
        return EventProgress(
            status=self._status,
            deliveries=self._outcomes,
            series=self._series,
            in_flight=sorted(self._in_flight),
        )

    def _redelivery_targets(self, request: RedeliverSignal) -> list[str]:
        """Named deliveries (or every failed one), but never one already in flight."""
        if request.webhook_ids:
            wanted = [wh for wh in request.webhook_ids if wh in self._matched]
        else:
            wanted = [wh for wh, s in self._outcomes.items() if s == DeliveryStatus.FAILED]
        return [wh for wh in wanted if wh not in self._in_flight]

    async def _run_series(
        self, webhook_ids: list[str], series: int, first: FirstAttemptsOutput | None = None
    ) -> None:
        self._in_flight.update(dict.fromkeys(webhook_ids))
        try:
            outcomes, status = await self._deliver_series(webhook_ids, series, first)
        finally:
            for webhook_id in webhook_ids:
                self._in_flight.pop(webhook_id, None)
                self._retrying.pop(webhook_id, None)
        for outcome in outcomes:
            self._outcomes[outcome.webhook_id] = outcome.status
        if status is None:  # some deliveries needed retries: settle now that all are done
            settled = await workflow.execute_local_activity_method(
                EventActivities.settle_event,
                SettleInput(
                    event_id=self._input.event_id,
                    outcomes=outcomes,
                    stage=self._stage(series),
                ),
                start_to_close_timeout=STORE_STEP,
                retry_policy=STORE_RETRY,
            )
            status = settled.status
        self._status = status
        self._show_progress()

    @staticmethod
    def _stage(series: int) -> str:
        return "delivered" if series == 0 else f"redelivered (series {series})"

    async def _deliver_series(
        self, webhook_ids: list[str], series: int, first: FirstAttemptsOutput | None
    ) -> tuple[list[DeliverOutput], EventStatus | None]:
        """Attempt 1 to all targets in one local activity (unless accept_event made it),
        then retries where asked."""
        targets = [self._matched[wh] for wh in webhook_ids]
        trigger = Trigger.SCHEDULED if series == 0 else Trigger.MANUAL
        longest = max(t.retry.timeout for t in targets)
        try:
            first = first or await workflow.execute_local_activity_method(
                DeliveryActivities.deliver_first,
                FirstAttemptsInput(
                    event_id=self._input.event_id,
                    tenant_id=self._input.tenant_id,
                    targets=targets,
                    series=series,
                    trigger=trigger,
                    stage=self._stage(series),
                ),
                start_to_close_timeout=timedelta(seconds=longest + 10),
                retry_policy=FIRST_ATTEMPTS_RETRY,
                summary=f"attempt 1 to {self._named(webhook_ids)}{self._of_series(series)}",
            )
        except (ActivityError, ApplicationError):
            # Nothing recorded: every target goes on under its own retry policy.
            first_outcomes = [
                DeliverOutput(
                    delivery_id=t.delivery_id,
                    webhook_id=t.webhook_id,
                    status=DeliveryStatus.PENDING,
                    attempts=1,
                    retry_delay=retry.backoff_delay(1, t.retry),
                )
                for t in targets
            ]
            status = None
        else:
            first_outcomes, status = first.outcomes, first.event_status
        for outcome in first_outcomes:
            if outcome.status != DeliveryStatus.PENDING:  # shown at once, not at series end
                self._outcomes[outcome.webhook_id] = outcome.status
            elif outcome.disabled is None:
                self._retrying[outcome.webhook_id] = None
            if outcome.disabled is not None:
                await self._alert_disabled(outcome.disabled)
        by_webhook = {t.webhook_id: t for t in targets}
        # A webhook attempt 1 disabled is not retried (its retry would be skipped).
        pending = [
            o for o in first_outcomes if o.status == DeliveryStatus.PENDING and o.disabled is None
        ]
        retried = await asyncio.gather(
            *(self._retry(by_webhook[o.webhook_id], series, trigger, o) for o in pending)
        )
        final = {o.webhook_id: o for o in retried}
        for o in first_outcomes:
            if o.status == DeliveryStatus.PENDING and o.disabled is not None:
                final[o.webhook_id] = self._failed_for_good(
                    by_webhook[o.webhook_id], o.disabled.reason, o.attempts
                )
        return [final.get(o.webhook_id, o) for o in first_outcomes], status

    async def _retry(
        self, target: MatchedWebhook, series: int, trigger: Trigger, first: DeliverOutput
    ) -> DeliverOutput:
        """Attempts 2.. of one delivery: a durable timer, then a regular activity."""
        spec = target.retry
        policy = retry.retries_policy(spec)
        if policy is None:
            return self._failed_for_good(target, first.error or "no attempts left", first.attempts)
        delay = first.retry_delay if first.retry_delay is not None else retry.backoff_delay(1, spec)
        self._show_progress()  # "executing", in the UI and visibility, while it waits
        await workflow.sleep(timedelta(seconds=delay))
        request = DeliverInput.of(
            target,
            self._input.event_id,
            self._input.tenant_id,
            series=series,
            trigger=trigger,
            attempt_offset=1,
        )
        try:
            return await workflow.execute_activity_method(
                DeliveryActivities.deliver,
                request,
                start_to_close_timeout=timedelta(seconds=spec.timeout + 10),
                retry_policy=policy,
                summary=f"attempts 2-{spec.max_attempts} to {target.webhook_id}"
                + self._of_series(series),
            )
        except (ActivityError, ApplicationError) as error:
            outcome = self._failed(target, error) or self._failed_for_good(
                target, str(self._cause(error)), spec.max_attempts
            )
            if outcome.disabled is not None:
                await self._alert_disabled(outcome.disabled)
            return outcome

    async def _alert_disabled(self, disabled: WebhookDisabled) -> None:
        """Tell the tenant: a system.alert event, delivered like any other, as its own
        EventWorkflow (core/alerts.py), abandoned by this one: it lives its own window."""
        alert = alerts.webhook_disabled(
            disabled,
            self._input.tenant_id,
            workflow.now(),
            retention=self._input.expires_at - self._input.created,
        )
        try:
            await workflow.start_child_workflow(
                EventWorkflow.run,
                alert,
                id=alert.event_id,
                parent_close_policy=ParentClosePolicy.ABANDON,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                search_attributes=sa.at_start(
                    alert.tenant_id, alert.type, str(EventStatus.AWAITING)
                ),
                static_summary=f"{alert.type} event: {disabled.webhook_id} disabled",
            )
        except WorkflowAlreadyStartedError:
            pass  # the same alert, already started: done

    @staticmethod
    def _cause(error: Exception) -> BaseException:
        """Regular activities fail with ActivityError(cause=...); local ones may raise it bare."""
        if isinstance(error, ActivityError) and error.cause is not None:
            return error.cause
        return error

    @classmethod
    def _details(cls, error: Exception) -> dict:
        cause = cls._cause(error)
        if isinstance(cause, ApplicationError) and cause.details:
            detail = cause.details[0]
            if isinstance(detail, dict):
                return detail
        return {}

    def _failed(self, target: MatchedWebhook, error: Exception) -> DeliverOutput | None:
        """The final outcome if the activity said it is final; None if it may be retried."""
        cause = self._cause(error)
        if isinstance(cause, ApplicationError) and cause.non_retryable:
            details = self._details(error)
            if details.get("delivery_id"):
                return DeliverOutput.model_validate(details)
            return self._failed_for_good(target, cause.message, 0)
        return None

    @staticmethod
    def _failed_for_good(target: MatchedWebhook, reason: str, attempts: int) -> DeliverOutput:
        return DeliverOutput.ended(target, DeliveryStatus.FAILED, reason, attempts)

    def _show_progress(self) -> None:
        """Search attributes (only what changed) and the UI's current details."""
        shown = (list(self._matched), self._status)
        if shown != self._shown:
            workflow.upsert_search_attributes(
                [sa.WEBHOOK_IDS.value_set(shown[0]), sa.STATUS.value_set(shown[1])]
            )
            self._shown = shown
        self._show_details()

    def _show_details(self) -> None:
        """The UI's "current details": a markdown list, one line per delivery."""
        lines = [
            f"**{self._input.type}**: {len(self._matched)} webhooks, event **{self._status}**",
            "",
        ]
        lines += [
            f"- `{wh}` · `{m.delivery_id}` · {self._shown_status(wh)}"
            for wh, m in self._matched.items()
        ]
        workflow.set_current_details("\n".join(lines))

    def _shown_status(self, webhook_id: str) -> str:
        if webhook_id in self._retrying:
            return "retrying"
        return str(self._outcomes.get(webhook_id, DeliveryStatus.PENDING))

    @staticmethod
    def _of_series(series: int) -> str:
        return f", redelivery {series}" if series else ""

    @staticmethod
    def _named(webhook_ids: list[str], shown: int = 3) -> str:
        """Webhook ids for an activity summary: a few by name, then how many more."""
        named = ", ".join(webhook_ids[:shown])
        more = len(webhook_ids) - shown
        return f"{named} (+{more} more)" if more > 0 else named
