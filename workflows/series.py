"""One delivery series of an event: attempt 1 to all its targets at once, then a retry series
per delivery that asked for one, then the event settled. Series 0 is the scheduled delivery;
series n the nth redelivery.

Attempt 1 runs as one local activity (inside accept_event for series 0 on the happy path).
Retries run as a regular activity per delivery under Temporal's RetryPolicy, after a durable
timer, so long back-offs survive any crash. A cancelled series (the window closed) stops
where it is: cancellation is never taken for a failed attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

from hookline.workflows import outcomes
from hookline.workflows.state import EventState
from hookline.workflows.visibility import Visibility, named, of_series, stage

with workflow.unsafe.imports_passed_through():
    from hookline.activities.delivery import DeliveryActivities
    from hookline.activities.events import EventActivities
    from hookline.core import retry
    from hookline.core.models import (
        DeliverInput,
        DeliverOutput,
        DeliveryStatus,
        EventStatus,
        FirstAttemptsInput,
        FirstAttemptsOutput,
        MatchedWebhook,
        SettleInput,
        Trigger,
        WebhookDisabled,
    )

STORE_STEP = timedelta(seconds=30)
STORE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1)
)
# Attempt 1 only fails as a whole when the store does; a few quick tries, then each delivery
# goes on under its own retry policy.
FIRST_ATTEMPTS_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=5), maximum_attempts=3
)

Alert = Callable[[WebhookDisabled], Awaitable[None]]


class Series:
    """Runs series of one event's deliveries on its state; `alert` tells the tenant of a
    webhook an attempt disabled."""

    def __init__(
        self, state: EventState, visibility: Visibility, alert: Alert, *, settles: bool = True
    ) -> None:
        self.state, self.visibility, self.alert = state, visibility, alert
        # A chunk of a large event leaves settling to the event's workflow.
        self.settles = settles

    async def run(
        self, webhook_ids: list[str], series: int, first: FirstAttemptsOutput | None = None
    ) -> None:
        state = self.state
        state.claim(webhook_ids, series)
        try:
            results, status = await self._deliver(webhook_ids, series, first)
        finally:  # cancelled: released without an outcome
            for webhook_id in webhook_ids:
                state.release(webhook_id, series, None)
        for outcome in results:  # older runs: outcomes of retries shown at the series' end
            state.outcomes[outcome.webhook_id] = outcome.status
        if status is None and self.settles:  # some needed retries: settle now all are done
            # Only outcomes no later series has taken over: the store keeps the newest.
            current = [o for o in results if state.still_current(o.webhook_id, o.status)]
            settled = await workflow.execute_local_activity_method(
                EventActivities.settle_event,
                SettleInput(event_id=state.input.event_id, outcomes=current, stage=stage(series)),
                start_to_close_timeout=STORE_STEP,
                retry_policy=STORE_RETRY,
            )
            status = settled.status
        if status is not None:
            state.status = status
        self.visibility.show(state)

    async def _deliver(
        self, webhook_ids: list[str], series: int, first: FirstAttemptsOutput | None
    ) -> tuple[list[DeliverOutput], EventStatus | None]:
        """Attempt 1 to all targets (unless accept_event made it), then retries where asked."""
        state = self.state
        targets = [state.matched[wh] for wh in webhook_ids]
        trigger = Trigger.SCHEDULED if series == 0 else Trigger.MANUAL
        first_outcomes, status = await self._first_attempts(targets, series, trigger, first)
        by_webhook = {t.webhook_id: t for t in targets}
        for outcome in first_outcomes:
            if outcome.status != DeliveryStatus.PENDING:  # final: shown at once
                state.outcomes[outcome.webhook_id] = outcome.status
                state.finished(outcome.webhook_id, series, outcome.status)
            elif outcome.disabled is None:
                state.retrying[outcome.webhook_id] = None
                if outcome.throttled:
                    state.throttled[outcome.webhook_id] = None
            if outcome.disabled is not None:
                await self.alert(outcome.disabled)
        # A webhook attempt 1 disabled is not retried (its retry would be skipped).
        pending = [
            o for o in first_outcomes if o.status == DeliveryStatus.PENDING and o.disabled is None
        ]
        retried = await asyncio.gather(
            *(self._retry_released(by_webhook[o.webhook_id], series, trigger, o) for o in pending)
        )
        final = {o.webhook_id: o for o in retried}
        for o in first_outcomes:
            if o.status == DeliveryStatus.PENDING and o.disabled is not None:
                final[o.webhook_id] = outcomes.failed_for_good(
                    by_webhook[o.webhook_id], o.disabled.reason, o.attempts
                )
        for o in final.values():
            state.finished(o.webhook_id, series, o.status)
        return [final.get(o.webhook_id, o) for o in first_outcomes], status

    async def _first_attempts(
        self,
        targets: list[MatchedWebhook],
        series: int,
        trigger: Trigger,
        first: FirstAttemptsOutput | None,
    ) -> tuple[list[DeliverOutput], EventStatus | None]:
        if first is not None:
            return first.outcomes, first.event_status
        event = self.state.input
        try:
            first = await workflow.execute_local_activity_method(
                DeliveryActivities.deliver_first,
                FirstAttemptsInput(
                    event_id=event.event_id,
                    tenant_id=event.tenant_id,
                    targets=targets,
                    series=series,
                    trigger=trigger,
                    stage=stage(series) if self.settles else None,
                ),
                start_to_close_timeout=timedelta(
                    seconds=retry.attempt_limit(max(t.retry.timeout for t in targets)) + 10
                ),
                retry_policy=FIRST_ATTEMPTS_RETRY,
                summary=f"attempt 1 to {named([t.webhook_id for t in targets])}"
                + of_series(series),
            )
        except (ActivityError, ApplicationError) as error:
            outcomes.reraise_cancellation(error)
            # Nothing recorded: every target goes on under its own retry policy.
            pending = [
                DeliverOutput(
                    delivery_id=t.delivery_id,
                    webhook_id=t.webhook_id,
                    status=DeliveryStatus.PENDING,
                    attempts=1,
                    retry_delay=retry.backoff_delay(1, t.retry),
                )
                for t in targets
            ]
            return pending, None
        return first.outcomes, first.event_status

    async def _turn(self, webhook_id: str, delay: float) -> None:
        """Behind an earlier event of a fifo webhook: until its turn is signalled, or `delay`
        (then it asks again: a signal may be lost)."""
        turns = self.state.turns
        with contextlib.suppress(asyncio.TimeoutError):
            await workflow.wait_condition(
                lambda: webhook_id in turns, timeout=timedelta(seconds=delay)
            )
        turns.pop(webhook_id, None)

    async def _retry_released(
        self, target: MatchedWebhook, series: int, trigger: Trigger, first: DeliverOutput
    ) -> DeliverOutput:
        outcome = await self._retry(target, series, trigger, first)
        self.state.finished(target.webhook_id, series, outcome.status)
        return outcome

    async def _retry(
        self, target: MatchedWebhook, series: int, trigger: Trigger, first: DeliverOutput
    ) -> DeliverOutput:
        """The attempts of one delivery after its first step: a durable timer, then a regular
        activity under the RetryPolicy; again after each time it was throttled (not admitted:
        no attempt made, none used up), waiting longer each time."""
        spec, state = target.retry, self.state
        made = first.attempts if first.throttled else 1
        refusals = 1 if first.throttled else 0
        booked = first.rate_booked
        delay = first.retry_delay if first.retry_delay is not None else retry.backoff_delay(1, spec)
        while True:
            policy = retry.retries_policy(spec, made)
            if policy is None:
                return outcomes.failed_for_good(target, first.error or "no attempts left", made)
            self.visibility.show(state)  # "executing", in the UI and visibility, while it waits
            if first.awaits_turn:
                await self._turn(target.webhook_id, delay)
            else:
                await workflow.sleep(timedelta(seconds=delay))
            event = state.input
            request = DeliverInput.of(
                target,
                event.event_id,
                event.tenant_id,
                series=series,
                trigger=trigger,
                attempt_offset=made,
                refusals=refusals,
                rate_booked=booked,
            )
            try:
                outcome = await workflow.execute_activity_method(
                    DeliveryActivities.deliver,
                    request,
                    start_to_close_timeout=timedelta(
                        seconds=retry.attempt_limit(spec.timeout) + 10
                    ),
                    retry_policy=policy,
                    summary=f"attempts {made + 1}-{spec.max_attempts} to {target.webhook_id}"
                    + of_series(series),
                )
            except (ActivityError, ApplicationError) as error:
                outcomes.reraise_cancellation(error)
                outcome = outcomes.final(target, error) or outcomes.failed_for_good(
                    target, str(outcomes.cause(error)), spec.max_attempts
                )
                if outcome.disabled is not None:
                    await self.alert(outcome.disabled)
                return outcome
            if not outcome.throttled:
                state.throttled.pop(target.webhook_id, None)
                return outcome
            state.throttled[target.webhook_id] = None
            first, made, refusals = outcome, outcome.attempts, refusals + 1
            booked = outcome.rate_booked
            delay = outcome.retry_delay or retry.THROTTLE_WAIT
