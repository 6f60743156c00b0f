"""EventWorkflow: one event, from record to expiry (DESIGN.md, "The flow").

1. record_event    2. match_webhooks    3. deliver x N in parallel, status-aware retries
4. wait for `redeliver` signals until created + retention    5. expire_event

Short steps run as local activities (no server round trip each); the first delivery attempt
too. Retries after a failed first attempt run as a regular activity with Temporal's
RetryPolicy, so long back-offs are durable server-side timers.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from hookline.activities.delivery import FAILED_ERROR, DeliveryActivities
    from hookline.activities.events import EventActivities
    from hookline.activities.matching import MatchingActivities
    from hookline.core import search_attributes as sa
    from hookline.core.models import (
        DeliverInput,
        DeliverOutput,
        DeliveryStatus,
        EventProgress,
        EventStatus,
        EventWorkflowInput,
        ExpireInput,
        MatchedWebhook,
        MatchInput,
        RecordEventInput,
        RedeliverSignal,
        SettleInput,
        Trigger,
    )
    from hookline.core.retry import backoff_delay

STORE_STEP = timedelta(seconds=30)
STORE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1)
)


@workflow.defn(name="EventWorkflow")
class EventWorkflow:
    @workflow.init
    def __init__(self, input: EventWorkflowInput) -> None:
        self._input = input
        self._matched: dict[str, MatchedWebhook] = {}
        self._outcomes: dict[str, DeliveryStatus] = {}
        self._requests: list[RedeliverSignal] = []
        self._in_flight: set[str] = set()
        self._series = 0
        self._status = EventStatus.AWAITING

    @workflow.run
    async def run(self, input: EventWorkflowInput) -> EventStatus:
        await workflow.execute_local_activity_method(
            EventActivities.record_event,
            RecordEventInput(**input.model_dump()),
            start_to_close_timeout=STORE_STEP,
            retry_policy=STORE_RETRY,
        )
        match = await workflow.execute_local_activity_method(
            MatchingActivities.match_webhooks,
            MatchInput(event_id=input.event_id, tenant_id=input.tenant_id, type=input.type),
            start_to_close_timeout=STORE_STEP,
            retry_policy=STORE_RETRY,
        )
        self._matched = {m.webhook_id: m for m in match.webhooks}
        self._outcomes = {wh: DeliveryStatus.PENDING for wh in self._matched}
        self._status = EventStatus.EXECUTING if self._matched else EventStatus.SUCCEEDED
        workflow.upsert_search_attributes(
            [sa.WEBHOOK_IDS.value_set(list(self._matched)), sa.STATUS.value_set(self._status)]
        )
        self._show_details()

        series: set[asyncio.Task[None]] = set()
        if self._matched:
            series.add(asyncio.create_task(self._run_series(list(self._matched), 0)))

        # The redelivery window: computed once from creation, so redeliveries never extend it.
        while (remaining := input.expires_at - workflow.now()) > timedelta(0):
            try:
                await workflow.wait_condition(lambda: bool(self._requests), timeout=remaining)
            except TimeoutError:
                break
            request = self._requests.pop(0)
            targets = self._redelivery_targets(request)
            if targets:
                self._series += 1
                series.add(asyncio.create_task(self._run_series(targets, self._series)))
            series = {task for task in series if not task.done()}

        for task in series:  # retention wins over deliveries still retrying
            task.cancel()
        await asyncio.gather(*series, return_exceptions=True)
        await workflow.wait_condition(workflow.all_handlers_finished)
        await workflow.execute_local_activity_method(
            EventActivities.expire_event,
            ExpireInput(event_id=input.event_id),
            start_to_close_timeout=STORE_STEP,
            retry_policy=STORE_RETRY,
        )
        self._status = EventStatus.EXPIRED
        workflow.upsert_search_attributes([sa.STATUS.value_set(self._status)])
        return self._status

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

    async def _run_series(self, webhook_ids: list[str], series: int) -> None:
        trigger = Trigger.SCHEDULED if series == 0 else Trigger.MANUAL
        self._in_flight.update(webhook_ids)
        try:
            outcomes = await asyncio.gather(
                *(self._deliver(self._matched[wh], series, trigger) for wh in webhook_ids)
            )
        finally:
            self._in_flight.difference_update(webhook_ids)
        for outcome in outcomes:
            self._outcomes[outcome.webhook_id] = outcome.status
        settled = await workflow.execute_local_activity_method(
            EventActivities.settle_event,
            SettleInput(
                event_id=self._input.event_id,
                outcomes=outcomes,
                stage="delivered" if series == 0 else f"redelivered (series {series})",
            ),
            start_to_close_timeout=STORE_STEP,
            retry_policy=STORE_RETRY,
        )
        self._status = settled.status
        workflow.upsert_search_attributes([sa.STATUS.value_set(self._status)])
        self._show_details()

    async def _deliver(
        self, target: MatchedWebhook, series: int, trigger: Trigger
    ) -> DeliverOutput:
        """Attempt 1 as a local activity; if it asks for a retry, the rest as a regular one."""
        spec = target.retry
        request = DeliverInput(
            event_id=self._input.event_id,
            tenant_id=self._input.tenant_id,
            webhook_id=target.webhook_id,
            delivery_id=target.delivery_id,
            retry=spec,
            series=series,
            trigger=trigger,
        )
        attempt_timeout = timedelta(seconds=spec.timeout + 10)
        try:
            return await workflow.execute_local_activity_method(
                DeliveryActivities.deliver,
                request,
                start_to_close_timeout=attempt_timeout,
                retry_policy=RetryPolicy(maximum_attempts=1),
                summary=f"deliver to {target.webhook_id}, attempt 1",
            )
        except (ActivityError, ApplicationError) as error:
            failed = self._failed(target, error)
            if failed is not None or spec.max_attempts <= 1:
                return failed or self._failed_output(target, "no attempts left", 1)
            delay = self._retry_delay(error, spec)

        await workflow.sleep(timedelta(seconds=delay))
        first_retry = backoff_delay(2, spec)
        try:
            return await workflow.execute_activity_method(
                DeliveryActivities.deliver,
                request.model_copy(update={"attempt_offset": 1}),
                start_to_close_timeout=attempt_timeout,
                retry_policy=RetryPolicy(
                    initial_interval=timedelta(seconds=first_retry),
                    backoff_coefficient=spec.backoff,
                    maximum_interval=timedelta(seconds=max(spec.max_interval, first_retry)),
                    maximum_attempts=spec.max_attempts - 1,
                    non_retryable_error_types=[FAILED_ERROR],
                ),
                summary=f"deliver to {target.webhook_id}, retries",
            )
        except (ActivityError, ApplicationError) as error:
            return self._failed(target, error) or self._failed_output(
                target, str(self._cause(error)), spec.max_attempts
            )

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
            return self._failed_output(target, cause.message, 0)
        return None

    @classmethod
    def _retry_delay(cls, error: Exception, spec) -> float:
        delay = cls._details(error).get("delay")
        return float(delay) if delay is not None else backoff_delay(1, spec)

    @staticmethod
    def _failed_output(target: MatchedWebhook, reason: str, attempts: int) -> DeliverOutput:
        return DeliverOutput(
            delivery_id=target.delivery_id,
            webhook_id=target.webhook_id,
            status=DeliveryStatus.FAILED,
            attempts=attempts,
            error=reason,
        )

    def _show_details(self) -> None:
        lines = [
            f"**{self._input.type}** -> {len(self._matched)} webhooks, status **{self._status}**",
            "",
            "| webhook | delivery | outcome |",
            "|---|---|---|",
        ]
        lines += [
            f"| {wh} | {m.delivery_id} | {self._outcomes.get(wh, '')} |"
            for wh, m in self._matched.items()
        ]
        workflow.set_current_details("\n".join(lines))
