"""Delivery attempts: load url and secret from the store, sign, POST, record the Attempt.

Attempt 1 of a series runs for all its targets in one local activity (`deliver_first`): the
POSTs in parallel, their Attempts in one transaction, the event settled in it too when no
target needs a retry. Later attempts run one delivery at a time (`deliver`) under Temporal's
RetryPolicy. The status class decides what follows (core/retry.py): a non-2xx answer is
data, not a bug, so `deliver` raises BENIGN ApplicationErrors that Temporal retries or stops on.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
from sqlalchemy import Connection, Row, select
from temporalio import activity
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

from hookline.activities.attempts import AttemptRecord, SendResult, mark_skipped, record_attempts
from hookline.activities.deps import USER_AGENT, Deps
from hookline.activities.endpoints import EndpointLimits
from hookline.activities.pinning import vetted_addresses
from hookline.activities.settling import settle
from hookline.core import metrics, signing, tracing
from hookline.core.crypto import SecretBox
from hookline.core.models import (
    DeliverInput,
    DeliverOutput,
    DeliveryStatus,
    EventStatus,
    FirstAttemptsInput,
    FirstAttemptsOutput,
)
from hookline.core.retry import Decision, Outcome, decide, parse_retry_after
from hookline.core.tables import Event, Webhook
from hookline.core.urls import UrlError, resolve_vetted

log = logging.getLogger("hookline.delivery")

BODY_EXCERPT_BYTES = 4096
TIMEOUT_PHASES = ("connect", "read", "write", "pool")


@functools.lru_cache(maxsize=4096)
def parsed_url(url: str) -> httpx.URL:
    """A webhook URL parsed once, not on every attempt (httpx.URL is immutable)."""
    return httpx.URL(url)


RETRY_ERROR = "DeliveryRetry"
FAILED_ERROR = "DeliveryFailed"


def event_body(event_id: str, event_type: str, created: datetime, data: dict, tenant: str) -> bytes:
    """The payload of DESIGN.md: {"id","type","created","data","tenant"}."""
    stamp = created.astimezone(UTC).isoformat().replace("+00:00", "Z")
    payload = {"id": event_id, "type": event_type, "created": stamp, "data": data, "tenant": tenant}
    return orjson.dumps(payload)


@dataclass(frozen=True)
class EventFacts:
    """What a delivery needs of its event (from the workflow's input or the store)."""

    id: str
    tenant_id: str
    type: str
    created: datetime
    data: dict[str, Any]

    def body(self) -> bytes:
        return event_body(self.id, self.type, self.created, self.data, self.tenant_id)


def webhook_secrets(webhook: Row[Any], box: SecretBox, now: datetime) -> list[str]:
    """The current secret, then the previous one while its rotation grace lasts."""
    current = [box.open(webhook.secret)]
    expires = webhook.previous_secret_expires_at
    if webhook.previous_secret and expires is not None and expires > now:
        current.append(box.open(webhook.previous_secret))
    return current


async def _excerpt(reply: httpx.Response) -> str:
    """The first BODY_EXCERPT_BYTES of the answer, whatever its size."""
    chunks, size = [], 0
    async for chunk in reply.aiter_raw():
        chunks.append(chunk)
        size += len(chunk)
        if size >= BODY_EXCERPT_BYTES:
            break
    return b"".join(chunks)[:BODY_EXCERPT_BYTES].decode("utf-8", errors="replace")


async def send(
    http: httpx.AsyncBaseTransport,
    url: str,
    body: bytes,
    *,
    secrets: list[str],
    event_id: str,
    event_type: str,
    delivery_id: str,
    attempt: int,
    timeout: float,
    allow_private: bool,
    endpoints: EndpointLimits,
    extra_headers: dict[str, str] | None = None,
) -> SendResult:
    """Sign and POST one payload; never raises for what the receiver or network does.
    `extra_headers` (e.g. the attempt's `traceparent`) go with the request."""
    started_at = datetime.now(UTC)
    started = time.perf_counter()
    timestamp = int(started_at.timestamp())
    headers = signing.signature_headers(secrets, msg_id=event_id, timestamp=timestamp, body=body)
    headers.update(
        {
            "User-Agent": USER_AGENT,
            "Content-Type": "application/json",
            "X-Webhook-Delivery-Id": delivery_id,
            "X-Webhook-Event": event_type,
            "X-Webhook-Attempt": str(attempt),
        }
    )
    headers.update(extra_headers or {})
    status_code = excerpt = error = retry_after = None
    try:
        async with asyncio.timeout(timeout):
            # Checked at send time as well: DNS may now point somewhere it did not at create.
            # Resolved once; the connection then goes to a vetted address, never to the name
            # again (activities/pinning.py): a second lookup could answer 127.0.0.1.
            pinning = contextlib.nullcontext()
            target = parsed_url(url)
            if not allow_private:
                addresses = await resolve_vetted(url, allow_private=False)
                pinning = vetted_addresses(target.raw_host.decode("ascii"), addresses)
            request = httpx.Request(
                "POST",
                target,
                content=body,
                headers=headers,
                extensions={"timeout": dict.fromkeys(TIMEOUT_PHASES, timeout)},
            )
            # The slot counts against the timeout, as a wait for a pooled connection does.
            async with endpoints.slot(request.url):
                with pinning:
                    reply = await http.handle_async_request(request)
                    try:
                        status_code = reply.status_code
                        retry_after = reply.headers.get("retry-after")
                        excerpt = await _excerpt(reply)
                    finally:
                        await reply.aclose()
    except UrlError as exc:
        error = f"refused: {exc}"
    except TimeoutError:
        error = f"timeout after {timeout:g}s"
    except httpx.ConnectError as exc:
        error = f"connection error: {exc or type(exc).__name__}"
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"
    except OSError as exc:
        error = f"network error: {exc}"
    return SendResult(
        status_code=status_code,
        body=excerpt,
        error=error,
        duration_ms=int((time.perf_counter() - started) * 1000),
        retry_after=retry_after,
        started_at=started_at,
    )


def load(
    connection: Connection, event_id: str, webhook_ids: list[str]
) -> tuple[EventFacts | None, dict[str, Row[Any]]]:
    """The event (None once expired) and the webhooks of a delivery step."""
    events, hooks = Event.__table__, Webhook.__table__
    row = connection.execute(
        select(
            events.c.id, events.c.tenant_id, events.c.type, events.c.created, events.c.data
        ).where(events.c.id == event_id)
    ).first()
    rows = connection.execute(select(hooks).where(hooks.c.id.in_(webhook_ids)))
    return (EventFacts(*row) if row else None), {webhook.id: webhook for webhook in rows}


def summary(url: str, result: SendResult) -> str:
    return f"POST {url} -> {result.status_code if result.status_code else result.error}"


class DeliveryActivities:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps

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
        event, webhooks = await self.deps.store.transaction(
            load, input.event_id, [t.webhook_id for t in targets]
        )
        return await self.first_attempts(event, targets, webhooks, input.stage)

    async def first_attempts(
        self,
        event: EventFacts | None,
        targets: list[DeliverInput],
        webhooks: dict[str, Row[Any]],
        stage: str,
    ) -> FirstAttemptsOutput:
        """The POSTs in parallel, then their Attempts in one transaction, with the event
        settled in it when no target needs a retry."""
        skipped = {t.delivery_id: self._skip_reason(t, event, webhooks) for t in targets}
        skipped = {dlv: reason for dlv, reason in skipped.items() if reason}
        live = [t for t in targets if t.delivery_id not in skipped]
        records: list[AttemptRecord] = []
        if event is not None and live:
            body = event.body()
            records = list(
                await asyncio.gather(
                    *(self._attempt(t, event, body, webhooks[t.webhook_id], 1) for t in live)
                )
            )
        outcomes = [self._output(r) for r in records] + [
            DeliverOutput.ended(t, DeliveryStatus.SKIPPED, skipped[t.delivery_id], 0)
            for t in targets
            if t.delivery_id in skipped
        ]
        now = datetime.now(UTC)
        settles = event is not None and all(o.status != DeliveryStatus.PENDING for o in outcomes)

        def write(connection: Connection) -> tuple[list[AttemptRecord], EventStatus | None]:
            disabled = record_attempts(connection, records, now, self._disable_cutoff(now))
            mark_skipped(connection, skipped, now)
            status = settle(connection, event.id, outcomes, stage) if settles and event else None
            return disabled, status

        disabled, event_status = await self.deps.store.transaction(write)
        for record in disabled:
            await self._alert_disabled(record)
        for record in records:
            self._observe(record, event.type)
        return FirstAttemptsOutput(outcomes=outcomes, event_status=event_status)

    @activity.defn(name="deliver")
    async def deliver(self, input: DeliverInput) -> DeliverOutput:
        """One later attempt of one delivery; raises to let Temporal's RetryPolicy retry."""
        attempt = input.attempt_offset + activity.info().attempt
        event, webhooks = await self.deps.store.transaction(
            load, input.event_id, [input.webhook_id]
        )
        skip = self._skip_reason(input, event, webhooks)
        if skip:
            await self.deps.store.transaction(
                mark_skipped, {input.delivery_id: skip}, datetime.now(UTC)
            )
            return DeliverOutput.ended(input, DeliveryStatus.SKIPPED, skip, attempt - 1)
        assert event is not None  # else skipped above
        record = await self._attempt(
            input, event, event.body(), webhooks[input.webhook_id], attempt
        )
        now = datetime.now(UTC)
        disabled = await self.deps.store.transaction(
            record_attempts, [record], now, self._disable_cutoff(now)
        )
        if disabled:
            await self._alert_disabled(record)
        self._observe(record, event.type)
        output = self._output(record)
        decision = record.decision
        if decision.outcome is Outcome.SUCCESS:
            return output
        details = output.model_dump(mode="json")
        message = summary(record.url, record.result)
        if decision.outcome is Outcome.FAIL:
            raise ApplicationError(
                f"{message}; {decision.reason or 'not retried'}",
                details,
                type=FAILED_ERROR,
                non_retryable=True,
                category=ApplicationErrorCategory.BENIGN,
            )
        raise ApplicationError(
            message,
            details,
            type=RETRY_ERROR,
            next_retry_delay=timedelta(seconds=decision.delay)
            if decision.honours_retry_after and decision.delay is not None
            else None,
            category=ApplicationErrorCategory.BENIGN,
        )

    @staticmethod
    def _skip_reason(
        target: DeliverInput, event: EventFacts | None, webhooks: dict[str, Row[Any]]
    ) -> str | None:
        webhook = webhooks.get(target.webhook_id)
        if event is None:
            return "event expired"
        if webhook is None or webhook.tenant_id != target.tenant_id:
            return "webhook deleted"
        if webhook.status != "active":
            return f"webhook {webhook.status}"
        return None

    async def _attempt(
        self, target: DeliverInput, event: EventFacts, body: bytes, webhook: Row[Any], number: int
    ) -> AttemptRecord:
        """Sign, POST, decide: nothing is written yet."""
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
            allow_private=self.deps.settings.allow_private_urls,
            endpoints=self.deps.endpoints,
            extra_headers=span.headers,
        )
        if result.error and result.error.startswith("refused:"):
            decision = Decision(Outcome.FAIL, decide(None, 1, target.retry).status_class)
        else:
            decision = decide(
                result.status_code,
                number,
                target.retry,
                retry_after=parse_retry_after(result.retry_after),
            )
        span.end(result.status_code, decision.outcome, result.error)
        return AttemptRecord(target, webhook.url, number, result, decision, webhook.failing_since)

    def _disable_cutoff(self, now: datetime) -> datetime:
        return now - self.deps.settings.auto_disable_after

    @staticmethod
    def _output(record: AttemptRecord) -> DeliverOutput:
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
        """Metrics and one JSON log line per attempt."""
        result, decision, target = record.result, record.decision, record.target
        metrics.record_attempt(decision.outcome, result.status_code, result.duration_ms / 1000)
        log.info(
            "delivery attempt %s",
            decision.outcome,
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
                "outcome": decision.outcome,
                "duration_ms": result.duration_ms,
                "error": result.error,
            },
        )

    async def _alert_disabled(self, record: AttemptRecord) -> None:
        """Tell the tenant: a system.alert event, delivered like any other."""
        from hookline.api.publish import event_workflow_input, start_event  # avoids a cycle

        target, since = record.target, record.failing_since
        assert since is not None
        data = {
            "alert": "webhook.disabled",
            "webhook_id": target.webhook_id,
            "url": record.url,
            "failing_since": since.isoformat(),
            "reason": f"every attempt failed for {self.deps.settings.auto_disable_after}",
        }
        event = event_workflow_input(
            self.deps.settings,
            target.tenant_id,
            "system.alert",
            data,
            f"webhook-disabled-{target.webhook_id}-{int(since.timestamp())}",
        )
        await start_event(activity.client(), self.deps.settings, event)
