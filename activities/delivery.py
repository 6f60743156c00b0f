"""Delivery attempts: load url and secret from the store, send (hookline.delivery), record
the Attempt.

Attempt 1 of a series runs for all its targets in one local activity (`deliver_first`): the
POSTs in parallel, their Attempts in one transaction, the event settled in it too when no
target needs a retry. Later attempts run one delivery at a time (`deliver`) under Temporal's
RetryPolicy. The status class decides what follows (core/retry.py): a non-2xx answer is
data, not a bug, so `deliver` raises BENIGN ApplicationErrors that Temporal retries or stops on.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Row
from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

from hookline.activities.delivery_admit import (
    EventFacts,
    already_made,
    load_and_admit,
    skip_reason,
    throttled,
)
from hookline.activities.deps import Deps
from hookline.activities.turns import Turns, fifo_of
from hookline.core.models import (
    DeliverInput,
    DeliverOutput,
    DeliveryStatus,
    EventStatus,
    FirstAttemptsInput,
    FirstAttemptsOutput,
    SendResult,
    WebhookDisabled,
)
from hookline.core.retry import (
    FAILED_ERROR,
    RETRY_ERROR,
    Decision,
    Outcome,
    decide,
    parse_retry_after,
)
from hookline.delivery import send as sending
from hookline.delivery.send import error_text, send, webhook_secrets
from hookline.infra import metrics, tracing
from hookline.store.admission import Refusal
from hookline.store.attempts import (
    AttemptRecord,
    mark_skipped,
    not_sent,
    record_attempts,
    restamp_retries,
)
from hookline.store.ordering import woken_by
from hookline.store.settling import settle

Woken = list[tuple[str, str]]  # (event id, webhook id) to wake: store/ordering.py
# Attempt 1's answers are recorded together at the step's end, in one transaction; those that
# came within this while another POST still runs are recorded then, before it ends.
RECORD_ANSWERED_AFTER = 1.0
log = logging.getLogger("hookline.delivery")


def _headers(webhook: Row[Any], secrets: Any, trace: dict[str, str]) -> dict[str, str]:
    """The webhook's custom headers, then the attempt's trace context (never overridden)."""
    return {**sending.webhook_headers(webhook, secrets), **trace}


def summary(url: str, result: SendResult) -> str:
    return f"POST {url} -> {result.status_code if result.status_code else result.error}"


def _recorded_even_if_cancelled(step):
    """Cancelled (the worker evicted the step's run from its cache, or the window closed), a
    step's POSTs in flight still end and are recorded: the run's replay makes the step again
    and finds them recorded, or their leases held until they are (it waits, parked), instead
    of POSTing them a second time."""

    @functools.wraps(step)
    async def shielded(self, *args):
        work = asyncio.ensure_future(step(self, *args))
        try:
            return await asyncio.shield(work)
        except asyncio.CancelledError:
            self._finishing.add(work)
            work.add_done_callback(self._finished)
            raise

    return shielded


class DeliveryActivities:
    def __init__(self, deps: Deps, client: Client | None = None) -> None:
        self.deps = deps
        self._breaker = deps.settings.breaker_policy()
        self._turns = Turns(client)  # parked deliveries and fifo webhooks' next in line
        self._finishing: set[asyncio.Future] = set()  # steps cancelled mid-POST, recording

    def _finished(self, work: asyncio.Future) -> None:
        """A cancelled step's recording ended (`_recorded_even_if_cancelled`)."""
        self._finishing.discard(work)
        if not work.cancelled() and work.exception() is not None:
            log.warning(
                "attempts of a cancelled step not recorded: %r; its replay makes them again",
                work.exception(),
            )

    @activity.defn(name="deliver_first")
    async def deliver_first(self, input: FirstAttemptsInput) -> FirstAttemptsOutput:
        """Attempt 1 to every target at once. Never raises for what receivers do: a target
        that needs a retry comes back PENDING with its `retry_delay`."""
        targets = [
            DeliverInput.of(
                t, input.event_id, input.tenant_id, series=input.series, trigger=input.trigger
            )
            for t in input.targets
        ]
        event, webhooks, refused, made = await self.deps.store.transaction(
            load_and_admit,
            input.event_id,
            targets,
            1,
            self.deps.settings.max_in_flight_per_webhook,
            datetime.now(UTC),
            activity.info().attempt > 1,
            rows=[t.webhook_id for t in targets],
        )
        return await self.first_attempts(event, targets, webhooks, input.stage, refused, made)

    @_recorded_even_if_cancelled
    async def first_attempts(
        self,
        event: EventFacts | None,
        targets: list[DeliverInput],
        webhooks: dict[str, Row[Any]],
        stage: str | None,
        refused: dict[str, Refusal],
        made: dict[str, Row[Any]],
    ) -> FirstAttemptsOutput:
        """The POSTs in parallel (of the targets admitted), then their Attempts in one
        transaction, with the event settled in it when no target needs a retry. A target
        whose attempt 1 an earlier run of this step recorded answers with it (`made`)."""
        skipped = {t.delivery_id: skip_reason(t, event, webhooks) for t in targets}
        skipped = {dlv: reason for dlv, reason in skipped.items() if reason}
        live = [t for t in targets if t.delivery_id not in skipped | refused.keys() | made.keys()]
        records: list[AttemptRecord] = []
        answered: list[AttemptRecord] = []  # recorded before the step's end
        disabled_early: list[AttemptRecord] = []
        if event is not None and live:
            body = event.body()
            posts = [
                asyncio.ensure_future(self._attempt(t, event, body, webhooks[t.webhook_id], 1))
                for t in live
            ]
            done, waiting = await asyncio.wait(posts, timeout=RECORD_ANSWERED_AFTER)
            if waiting and done:
                # A slow receiver beside them: the others' answers are recorded now, not when
                # it times out (its replay would make them again; the API would show none).
                answered = [post.result() for post in posts if post in done]
                disabled_early = await self._record_answered(answered, webhooks)
            if waiting:
                await asyncio.wait(waiting)
            records = [post.result() for post in posts]
        early = {r.target.delivery_id for r in answered}
        outcomes = (
            [self._output(r) for r in records]
            + [
                DeliverOutput.ended(t, DeliveryStatus.SKIPPED, skipped[t.delivery_id], 0)
                for t in targets
                if t.delivery_id in skipped
            ]
            + [throttled(t, refused[t.delivery_id], 0) for t in targets if t.delivery_id in refused]
        )
        now = datetime.now(UTC)
        outcomes += [already_made(t, row, now) for t in targets if (row := made.get(t.delivery_id))]
        # A chunk of a large event (no stage) leaves settling to the event's workflow.
        settles = (
            stage is not None
            and event is not None
            and all(o.status != DeliveryStatus.PENDING for o in outcomes)
        )

        rest = [r for r in records if r.target.delivery_id not in early]

        def write(connection: Connection) -> tuple[list[AttemptRecord], EventStatus | None, Woken]:
            mark_skipped(connection, skipped, now)
            ended = [
                o.webhook_id
                for o in outcomes
                if o.status != DeliveryStatus.PENDING and o.delivery_id not in early
            ]
            disabled, woken = self._record(connection, rest, ended, webhooks, now)
            restamp_retries(connection, answered, now)  # their retries wait from now
            status = settle(connection, event.id, outcomes, stage) if settles and event else None
            return disabled, status, woken

        disabled, event_status, woken = await self.deps.store.transaction(
            write, rows=[r.target.webhook_id for r in rest]
        )
        disabled += disabled_early
        if disabled:  # the workflow alerts the tenant (and retries none of them)
            by_delivery = {r.target.delivery_id: self._disabled(r) for r in disabled}
            outcomes = [
                o.model_copy(update={"disabled": by_delivery[o.delivery_id]})
                if o.delivery_id in by_delivery
                else o
                for o in outcomes
            ]
        for record in records:
            self._observe(record, event.type)
        await self._turns.wake(woken)
        return FirstAttemptsOutput(outcomes=outcomes, event_status=event_status)

    def _record(
        self,
        connection: Connection,
        records: list[AttemptRecord],
        ended: list[str],
        webhooks: dict[str, Row[Any]],
        now: datetime,
    ) -> tuple[list[AttemptRecord], Woken]:
        """Writes attempt 1's `records` (store/attempts.py); those whose webhook it disabled,
        and the deliveries to wake: behind the webhooks whose delivery `ended` (or was
        disabled) in a fifo line, and behind the slots the records give back."""
        disabled = record_attempts(
            connection, records, now, self._disable_cutoff(now), self._breaker
        )
        ended = ended + [r.target.webhook_id for r in disabled]
        freed = [r.target.webhook_id for r in records]
        return disabled, woken_by(connection, ended, freed, fifo_of(webhooks), now)

    async def _record_answered(
        self, answered: list[AttemptRecord], webhooks: dict[str, Row[Any]]
    ) -> list[AttemptRecord]:
        """Attempts answered while others of the step still run: recorded, their slots given
        back and the deliveries waiting for them woken; those whose webhook it disabled."""
        ended = [
            r.target.webhook_id for r in answered if r.delivery_status != DeliveryStatus.PENDING
        ]
        disabled, woken = await self.deps.store.transaction(
            self._record,
            answered,
            ended,
            webhooks,
            datetime.now(UTC),
            rows=[r.target.webhook_id for r in answered],
        )
        await self._turns.wake(woken)
        return disabled

    @activity.defn(name="deliver")
    async def deliver(self, input: DeliverInput) -> DeliverOutput:
        """One later attempt of one delivery; raises to let Temporal's RetryPolicy retry."""
        attempt = input.attempt_offset + activity.info().attempt
        event, webhooks, refused, made = await self.deps.store.transaction(
            load_and_admit,
            input.event_id,
            [input],
            attempt,
            self.deps.settings.max_in_flight_per_webhook,
            datetime.now(UTC),
            activity.info().attempt > 1,
            rows=[input.webhook_id],
        )
        if input.delivery_id in refused:  # not a failed attempt: no retry used up
            return throttled(input, refused[input.delivery_id], attempt - 1)
        if input.delivery_id in made:  # an earlier run of this step made it: its answer
            output = already_made(input, made[input.delivery_id], datetime.now(UTC))
            return self._answer(output, f"attempt {attempt}: {output.error or output.status_code}")
        return await self._later_attempt(input, attempt, event, webhooks)

    @_recorded_even_if_cancelled
    async def _later_attempt(
        self,
        input: DeliverInput,
        attempt: int,
        event: EventFacts | None,
        webhooks: dict[str, Row[Any]],
    ) -> DeliverOutput:
        """`deliver`'s POST and its recording, admitted: cancelled (the step's timeout while
        the recording waits for its webhook's row), both still end."""
        skip = skip_reason(input, event, webhooks)
        fifo = fifo_of(webhooks)
        if skip:

            def skipped(connection: Connection, now: datetime) -> Woken:
                mark_skipped(connection, {input.delivery_id: skip}, now)
                return woken_by(connection, [input.webhook_id], [], fifo, now)

            await self._turns.wake(await self.deps.store.transaction(skipped, datetime.now(UTC)))
            return DeliverOutput.ended(input, DeliveryStatus.SKIPPED, skip, attempt - 1)
        assert event is not None  # else skipped above
        record = await self._attempt(
            input, event, event.body(), webhooks[input.webhook_id], attempt
        )
        decision = record.decision
        ends = not record.waits and decision.outcome is not Outcome.RETRY

        def write(connection: Connection, now: datetime) -> tuple[list[AttemptRecord], Woken]:
            disabled = record_attempts(
                connection, [record], now, self._disable_cutoff(now), self._breaker
            )
            ended = [input.webhook_id] if ends or disabled else []
            return disabled, woken_by(connection, ended, [input.webhook_id], fifo, now)

        disabled, woken = await self.deps.store.transaction(
            write, datetime.now(UTC), rows=[input.webhook_id]
        )
        await self._turns.wake(woken)
        self._observe(record, event.type)
        output = self._output(record)
        if output.throttled:  # never sent: no attempt used up, the workflow asks again
            return output
        message = summary(record.url, record.result)
        if disabled:  # final: the workflow alerts the tenant; a retry would be skipped anyway
            output.disabled = self._disabled(record)
            output.status, output.retry_delay = DeliveryStatus.FAILED, None
            message = f"{message}; {output.disabled.reason}"
        elif decision.outcome is Outcome.FAIL:
            message = f"{message}; {decision.reason or 'not retried'}"
        return self._answer(output, message)

    @staticmethod
    def _answer(output: DeliverOutput, message: str) -> DeliverOutput:
        """A success is returned; a retry or a final failure is raised, for Temporal's
        RetryPolicy to retry or stop on, with the output in its details."""
        if output.status is DeliveryStatus.SUCCEEDED:
            return output
        details = output.model_dump(mode="json")
        if output.status is DeliveryStatus.FAILED:
            raise ApplicationError(
                message,
                details,
                type=FAILED_ERROR,
                non_retryable=True,
                category=ApplicationErrorCategory.BENIGN,
            )
        raise ApplicationError(
            message,
            details,
            type=RETRY_ERROR,
            # Always ours: the schedule's delay (jittered) or the receiver's Retry-After; the
            # policy still bounds the attempts.
            next_retry_delay=timedelta(seconds=output.retry_delay)
            if output.retry_delay is not None
            else None,
            category=ApplicationErrorCategory.BENIGN,
        )

    async def _attempt(
        self, target: DeliverInput, event: EventFacts, body: bytes, webhook: Row[Any], number: int
    ) -> AttemptRecord:
        """Sign, POST, decide: nothing is written yet. Raises nothing but cancellation: an
        unexpected error of this one target becomes its attempt's error, retried as a network
        error is, so it never fails the step it shares with its neighbours (whose POSTs the
        step's retry would make again)."""
        started_at, started = datetime.now(UTC), time.perf_counter()
        span = result = None
        try:
            span = tracing.attempt_span(target, event.type, number, webhook.url)
            result = await send(
                self.deps.http,
                webhook.url,
                body,
                secrets=webhook_secrets(webhook, self.deps.secrets, datetime.now(UTC)),
                event_id=event.id,
                event_type=event.type,
                delivery_id=target.delivery_id,
                attempt=number,
                timeout=target.retry.timeout,
                extra_headers=_headers(webhook, self.deps.secrets, span.headers),
            )
            if result.error and result.error.startswith("refused:"):
                decision = Decision(Outcome.FAIL, decide(None, 1, target.retry).status_class)
            else:
                decision = decide(
                    result.status_code,
                    number,
                    target.retry,
                    retry_after=parse_retry_after(result.retry_after),
                    jitter=random.random(),  # not a secret: spreads retries apart
                )
        except Exception as exc:
            log.exception(
                "delivery attempt broke; recorded as its error",
                extra={"delivery_id": target.delivery_id, "attempt": number},
            )
            error = error_text(exc, "internal error: ")
            if result is None:
                duration_ms = int((time.perf_counter() - started) * 1000)
                result = SendResult(None, None, error, duration_ms, None, started_at)
            else:  # the receiver's answer is kept; what broke after it is the error
                result = dataclasses.replace(result, error=error)
            decision = decide(None, number, target.retry)
        if span is not None:
            with contextlib.suppress(Exception):  # a span never decides an attempt
                span.end(result.status_code, decision.outcome, result.error)
        return AttemptRecord(target, webhook.url, number, result, decision, webhook.failing_since)

    def _disable_cutoff(self, now: datetime) -> datetime:
        return now - self.deps.settings.auto_disable_after

    @staticmethod
    def _output(record: AttemptRecord) -> DeliverOutput:
        if record.waits:
            return throttled(record.target, not_sent(record), record.number - 1)
        retrying = record.decision.outcome is Outcome.RETRY
        return DeliverOutput(
            delivery_id=record.target.delivery_id,
            webhook_id=record.target.webhook_id,
            status=record.delivery_status,
            attempts=record.number,
            status_code=record.result.status_code,
            error=record.result.error,
            retry_delay=record.decision.delay if retrying else None,
        )

    @staticmethod
    def _observe(record: AttemptRecord, event_type: str) -> None:
        """Metrics and one JSON log line per attempt. Never raises: it runs after the
        attempts are recorded, where an exception would make the step's retry POST again."""
        result, decision, target = record.result, record.decision, record.target
        outcome = decision.outcome if result.sent else "not sent"
        try:
            if not record.waits:
                metrics.record_attempt(
                    decision.outcome, result.status_code, result.duration_ms / 1000
                )
            log.info(
                "delivery attempt %s",
                outcome,
                extra={
                    "event_id": target.event_id,
                    "delivery_id": target.delivery_id,
                    "webhook_id": target.webhook_id,
                    "tenant_id": target.tenant_id,
                    "event_type": event_type,
                    "attempt": record.number,
                    "series": target.series,
                    "trigger": target.trigger,
                    "status_code": result.status_code,
                    "outcome": outcome,
                    "duration_ms": result.duration_ms,
                    "error": result.error,
                },
            )
        except Exception:
            log.exception("delivery attempt %s not observed", target.delivery_id)

    def _disabled(self, record: AttemptRecord) -> WebhookDisabled:
        assert record.failing_since is not None  # auto-disabled: failing since then
        return WebhookDisabled(
            webhook_id=record.target.webhook_id,
            url=record.url,
            failing_since=record.failing_since,
            reason=f"every attempt failed for {self.deps.settings.auto_disable_after}",
        )
