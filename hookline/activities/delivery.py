"""One delivery attempt: load url and secret from the store, sign, POST, record the Attempt.

The status class decides what follows (core/retry.py); a non-2xx answer is data, not a bug,
so failures raise BENIGN ApplicationErrors that Temporal retries or stops on.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import orjson
from sqlalchemy import func, update
from temporalio import activity
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

from hookline.activities.deps import Deps
from hookline.core import metrics, signing
from hookline.core.crypto import SecretBox
from hookline.core.ids import attempt_id
from hookline.core.models import DeliverInput, DeliverOutput, DeliveryStatus
from hookline.core.retry import Decision, Outcome, decide, parse_retry_after
from hookline.core.tables import Attempt, Delivery, Event, Webhook
from hookline.core.urls import UrlError, check_resolved_host

log = logging.getLogger("hookline.delivery")

BODY_EXCERPT_BYTES = 4096
RETRY_ERROR = "DeliveryRetry"
FAILED_ERROR = "DeliveryFailed"


def event_body(event_id: str, event_type: str, created: datetime, data: dict, tenant: str) -> bytes:
    """The payload of DESIGN.md: {"id","type","created","data","tenant"}."""
    stamp = created.astimezone(UTC).isoformat().replace("+00:00", "Z")
    payload = {"id": event_id, "type": event_type, "created": stamp, "data": data, "tenant": tenant}
    return orjson.dumps(payload)


def webhook_secrets(webhook: Webhook, box: SecretBox, now: datetime) -> list[str]:
    """The current secret, then the previous one while its rotation grace lasts."""
    current = [box.open(webhook.secret)]
    expires = webhook.previous_secret_expires_at
    if webhook.previous_secret and expires is not None and expires > now:
        current.append(box.open(webhook.previous_secret))
    return current


@dataclass
class SendResult:
    status_code: int | None
    body: str | None
    error: str | None
    duration_ms: int
    retry_after: str | None
    started_at: datetime


async def send(
    http: httpx.AsyncClient,
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
) -> SendResult:
    """Sign and POST one payload; never raises for what the receiver or network does."""
    started_at = datetime.now(UTC)
    started = time.perf_counter()
    timestamp = int(started_at.timestamp())
    headers = signing.signature_headers(secrets, msg_id=event_id, timestamp=timestamp, body=body)
    headers.update(
        {
            "Content-Type": "application/json",
            "X-Webhook-Delivery-Id": delivery_id,
            "X-Webhook-Event": event_type,
            "X-Webhook-Attempt": str(attempt),
        }
    )
    status_code = excerpt = error = retry_after = None
    try:
        async with asyncio.timeout(timeout):
            # Checked at send time as well: DNS may now point somewhere it did not at create.
            if not allow_private:
                await check_resolved_host(url, allow_private=False)
            async with http.stream("POST", url, content=body, headers=headers) as response:
                status_code = response.status_code
                retry_after = response.headers.get("retry-after")
                chunks, size = [], 0
                async for chunk in response.aiter_raw():
                    chunks.append(chunk)
                    size += len(chunk)
                    if size >= BODY_EXCERPT_BYTES:
                        break
                raw = b"".join(chunks)[:BODY_EXCERPT_BYTES]
                excerpt = raw.decode("utf-8", errors="replace")
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


def summary(url: str, result: SendResult) -> str:
    return f"POST {url} -> {result.status_code if result.status_code else result.error}"


class DeliveryActivities:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    @activity.defn(name="deliver")
    async def deliver(self, input: DeliverInput) -> DeliverOutput:
        attempt = input.attempt_offset + activity.info().attempt
        now = datetime.now(UTC)
        async with self.deps.sessions() as session:
            webhook = await session.get(Webhook, input.webhook_id)
            event = await session.get(Event, input.event_id)
        skip = None
        if event is None:
            skip = "event expired"
        elif webhook is None or webhook.tenant_id != input.tenant_id:
            skip = "webhook deleted"
        elif webhook.status != "active":
            skip = f"webhook {webhook.status}"
        if skip:
            await self._mark_skipped(input, skip)
            return DeliverOutput(
                delivery_id=input.delivery_id,
                webhook_id=input.webhook_id,
                status=DeliveryStatus.SKIPPED,
                attempts=attempt - 1,
                error=skip,
            )
        assert webhook is not None and event is not None
        body = event_body(event.id, event.type, event.created, event.data, event.tenant_id)
        result = await send(
            self.deps.http,
            webhook.url,
            body,
            secrets=webhook_secrets(webhook, self.deps.secrets, now),
            event_id=event.id,
            event_type=event.type,
            delivery_id=input.delivery_id,
            attempt=attempt,
            timeout=input.retry.timeout,
            allow_private=self.deps.settings.allow_private_urls,
        )
        if result.error and result.error.startswith("refused:"):
            decision = Decision(Outcome.FAIL, decide(None, 1, input.retry).status_class)
        else:
            decision = decide(
                result.status_code,
                attempt,
                input.retry,
                retry_after=parse_retry_after(result.retry_after),
            )
        await self._record(input, webhook.url, attempt, result, decision, webhook.failing_since)
        metrics.record_attempt(decision.outcome, result.status_code, result.duration_ms / 1000)
        log.info(
            "delivery attempt %s",
            decision.outcome,
            extra={
                "event_id": input.event_id,
                "delivery_id": input.delivery_id,
                "webhook_id": input.webhook_id,
                "tenant_id": input.tenant_id,
                "event_type": event.type,
                "attempt": attempt,
                "series": input.series,
                "trigger": input.trigger,
                "status_code": result.status_code,
                "outcome": decision.outcome,
                "duration_ms": result.duration_ms,
                "error": result.error,
            },
        )
        output = DeliverOutput(
            delivery_id=input.delivery_id,
            webhook_id=input.webhook_id,
            status=DeliveryStatus.SUCCEEDED
            if decision.outcome is Outcome.SUCCESS
            else DeliveryStatus.FAILED,
            attempts=attempt,
            status_code=result.status_code,
            error=result.error,
        )
        if decision.outcome is Outcome.SUCCESS:
            return output
        message = summary(webhook.url, result)
        if decision.outcome is Outcome.FAIL:
            raise ApplicationError(
                f"{message}; {decision.reason or 'not retried'}",
                output.model_dump(mode="json"),
                type=FAILED_ERROR,
                non_retryable=True,
                category=ApplicationErrorCategory.BENIGN,
            )
        raise ApplicationError(
            message,
            {"delay": decision.delay, **output.model_dump(mode="json")},
            type=RETRY_ERROR,
            next_retry_delay=timedelta(seconds=decision.delay)
            if decision.honours_retry_after and decision.delay is not None
            else None,
            category=ApplicationErrorCategory.BENIGN,
        )

    async def _record(
        self,
        input: DeliverInput,
        url: str,
        attempt: int,
        result: SendResult,
        decision: Decision,
        failing_since: datetime | None,
    ) -> None:
        """`failing_since` is the webhook's as loaded before the attempt."""
        now = datetime.now(UTC)
        disabled = False
        final = decision.outcome is not Outcome.RETRY
        if decision.outcome is Outcome.SUCCESS:
            status = DeliveryStatus.SUCCEEDED
        else:
            status = DeliveryStatus.FAILED if final else DeliveryStatus.PENDING
        async with self.deps.sessions.begin() as session:
            await session.merge(
                Attempt(
                    id=attempt_id(input.delivery_id, input.series, attempt),
                    tenant_id=input.tenant_id,
                    delivery_id=input.delivery_id,
                    event_id=input.event_id,
                    webhook_id=input.webhook_id,
                    number=attempt,
                    series=input.series,
                    trigger=input.trigger,
                    url=url,
                    status_code=result.status_code,
                    response_body=result.body,
                    error=result.error,
                    outcome=decision.outcome,
                    duration_ms=result.duration_ms,
                    started_at=result.started_at,
                )
            )
            delivery_changes: dict = {
                "status": status,
                "attempts": Delivery.attempts + 1,
                "last_status_code": result.status_code,
                "last_error": result.error,
                "updated_at": now,
            }
            if status == DeliveryStatus.SUCCEEDED:
                delivery_changes["delivered_at"] = now
            await session.execute(
                update(Delivery).where(Delivery.id == input.delivery_id).values(**delivery_changes)
            )
            changes: dict = {"last_triggered": now}
            if decision.outcome is Outcome.SUCCESS:
                changes["failing_since"] = None
            else:  # the first failure of a run of failures starts the clock
                changes["failing_since"] = func.coalesce(Webhook.failing_since, now)
            if decision.deactivate:
                changes.update(status="inactive", status_reason=f"{decision.reason} at {now:%c}")
            await session.execute(
                update(Webhook).where(Webhook.id == input.webhook_id).values(**changes)
            )
            cutoff = now - self.deps.settings.auto_disable_after
            failing_long = failing_since is not None and failing_since <= cutoff
            if decision.outcome is not Outcome.SUCCESS and failing_long:
                # Guarded again in SQL: a success since the load resets the clock.
                answer = await session.execute(
                    update(Webhook)
                    .where(
                        Webhook.id == input.webhook_id,
                        Webhook.status == "active",
                        Webhook.failing_since <= cutoff,
                    )
                    .values(
                        status="inactive",
                        status_reason="disabled: every attempt failed since "
                        + failing_since.isoformat(),
                    )
                )
                disabled = answer.rowcount == 1
        if disabled:
            await self._alert_disabled(input, url, failing_since)

    async def _alert_disabled(self, input: DeliverInput, url: str, since: datetime) -> None:
        """Tell the tenant: a system.alert event, delivered like any other."""
        from hookline.api.publish import event_workflow_input, start_event  # avoids a cycle

        data = {
            "alert": "webhook.disabled",
            "webhook_id": input.webhook_id,
            "url": url,
            "failing_since": since.isoformat(),
            "reason": f"every attempt failed for {self.deps.settings.auto_disable_after}",
        }
        event = event_workflow_input(
            self.deps.settings,
            input.tenant_id,
            "system.alert",
            data,
            f"webhook-disabled-{input.webhook_id}-{int(since.timestamp())}",
        )
        await start_event(activity.client(), self.deps.settings, event)

    async def _mark_skipped(self, input: DeliverInput, reason: str) -> None:
        async with self.deps.sessions.begin() as session:
            await session.execute(
                update(Delivery)
                .where(Delivery.id == input.delivery_id)
                .values(
                    status=DeliveryStatus.SKIPPED,
                    last_error=reason,
                    updated_at=datetime.now(UTC),
                )
            )
