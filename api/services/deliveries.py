"""Deliveries: a webhook's deliveries, a delivery's attempts, a webhook's stats, and
redelivery of one event's deliveries (in bulk, a job does it: api/services/jobs.py)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from hookline.api.errors import ApiError
from hookline.api.publish import temporal_reached
from hookline.api.schemas.common import Page, Pagination
from hookline.api.schemas.events import (
    AttemptOut,
    DeliveryOut,
    RedeliverResponse,
    RedeliverResult,
    WebhookStats,
)
from hookline.api.services.events import owned_event
from hookline.core.models import CHUNK_SIZE, DeliveryStatus, RedeliverSignal
from hookline.core.retry import status_family
from hookline.infra import metrics
from hookline.infra.crypto import missing_key_message
from hookline.infra.keys_in_use import client_key_ids, missing_workflow_keys
from hookline.store import claims
from hookline.store.retention import has_expired, is_live
from hookline.store.settling import is_undelivered
from hookline.store.tables import Attempt, Delivery, Event, Webhook

MAX_STATS_WINDOW = timedelta(days=7)
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, None: 1}


# --------------------------------------------------------------------------- read


async def list_deliveries(
    session: AsyncSession, webhook: Webhook, pages: Pagination, status: str | None = None
) -> Page[DeliveryOut]:
    """The webhook's deliveries of live events, newest first."""
    query = (
        select(Delivery)
        .join(Event, Event.id == Delivery.event_id)
        .where(
            Delivery.webhook_id == webhook.id,
            Delivery.tenant_id == webhook.tenant_id,
            is_live(),  # an expired event's deliveries are gone with it, swept or not
        )
    )
    if status:
        query = query.where(Delivery.status == status)
    total = await session.scalar(select(func.count()).select_from(query.subquery()))
    rows = await session.scalars(
        query.order_by(Delivery.created_at.desc(), Delivery.id.desc())
        .offset(pages.offset)
        .limit(pages.limit)
    )
    return Page(
        data=[DeliveryOut.model_validate(r, from_attributes=True) for r in rows],
        meta=pages.meta(total or 0),
    )


async def list_attempts(
    session: AsyncSession, tenant_id: str, delivery_id: str, pages: Pagination
) -> Page[AttemptOut]:
    """Every attempt of the tenant's delivery, in order; 404 once its event has expired."""
    delivery = await session.get(Delivery, delivery_id)
    event = await session.get(Event, delivery.event_id) if delivery is not None else None
    if (
        delivery is None
        or event is None
        or delivery.tenant_id != tenant_id
        or has_expired(event.expires_at)
    ):
        raise ApiError(404, f"delivery {delivery_id} does not exist or has expired")
    query = select(Attempt).where(Attempt.delivery_id == delivery_id)
    total = await session.scalar(select(func.count()).select_from(query.subquery()))
    rows = await session.scalars(
        query.order_by(Attempt.started_at, Attempt.series, Attempt.number)
        .offset(pages.offset)
        .limit(pages.limit)
    )
    return Page(
        data=[AttemptOut.model_validate(r, from_attributes=True) for r in rows],
        meta=pages.meta(total or 0),
    )


# --------------------------------------------------------------------------- stats


def stats_window(window: str) -> timedelta:
    """The window, capped before it becomes a timedelta: `99999999999999999999d` is 7 days,
    not an OverflowError."""
    match = re.fullmatch(r"([0-9]+)(ms|s|m|h|d|w)?", window)
    if match is None:  # the query's pattern already refused it
        raise ApiError(400, f"invalid window {window!r} (use e.g. 1h, 24h, 7d)")
    seconds = int(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    return min(timedelta(seconds=min(seconds, MAX_STATS_WINDOW.total_seconds())), MAX_STATS_WINDOW)


LATENCY_SAMPLE = 10_000  # a webhook's latest answered attempts its percentiles are over


def percentile(sorted_values: list[int], fraction: float) -> float | None:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return None
    rank = max(1, round(fraction * len(sorted_values) + 0.5 - 1e-9))
    return float(sorted_values[min(rank, len(sorted_values)) - 1])


async def webhook_stats(session: AsyncSession, webhook: Webhook, span: timedelta) -> WebhookStats:
    """Success rate, failures by status class and latency over the last `span`."""
    since = datetime.now(UTC) - span
    statuses = (
        await session.execute(
            select(Delivery.status, func.count())
            .where(Delivery.webhook_id == webhook.id, Delivery.created_at >= since)
            .group_by(Delivery.status)
        )
    ).all()
    counts = {status: n for status, n in statuses}
    recent = (Attempt.webhook_id == webhook.id, Attempt.started_at >= since)
    family = Attempt.status_code / 100  # integer division on both stores; NULL: no answer
    by_class = {
        status_family(None if hundreds is None else hundreds * 100): n
        for hundreds, n in (
            await session.execute(select(family, func.count()).where(*recent).group_by(family))
        ).all()
    }
    # Percentiles over the latest answered attempts, not all of a busy week's: the rows read
    # stay bounded whatever the webhook's traffic.
    latencies = sorted(
        (
            await session.scalars(
                select(Attempt.duration_ms)
                .where(*recent, Attempt.status_code.is_not(None))
                .order_by(Attempt.started_at.desc())
                .limit(LATENCY_SAMPLE)
            )
        ).all()
    )
    succeeded = counts.get(DeliveryStatus.SUCCEEDED, 0)
    failed = counts.get(DeliveryStatus.FAILED, 0)
    finished = succeeded + failed
    return WebhookStats(
        webhook_id=webhook.id,
        window_seconds=int(span.total_seconds()),
        since=since,
        deliveries=sum(counts.values()),
        succeeded=succeeded,
        failed=failed,
        pending=counts.get(DeliveryStatus.PENDING, 0),
        success_rate=round(succeeded / finished, 4) if finished else None,
        attempts=sum(by_class.values()),
        attempts_by_class=by_class,
        latency_ms_p50=percentile(latencies, 0.50),
        latency_ms_p95=percentile(latencies, 0.95),
        latency_attempts=len(latencies),
        failing_since=webhook.failing_since,
        status=webhook.status,
    )


# --------------------------------------------------------------------------- redelivery


async def signal_redeliver(temporal: Client, event_id: str, webhook_ids: list[str] | None) -> bool:
    """False when the workflow has closed: the event's retention is over. 409 when the event's
    history was sealed with a key no longer configured (its worker could not replay it); 503
    when Temporal is away."""
    try:
        async with temporal_reached():
            missing = await missing_workflow_keys(temporal, event_id)
            if missing:
                raise ApiError(
                    409,
                    missing_key_message(f"event {event_id} is", missing, client_key_ids(temporal)),
                    details={"missing_key_ids": sorted(missing)},
                )
            await temporal.get_workflow_handle(event_id).signal(
                "redeliver", RedeliverSignal(webhook_ids=webhook_ids)
            )
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


IN_FLIGHT = "in flight: its current series goes on"
JUST_ASKED = "in flight: another request just scheduled its redelivery"


def _not_redeliverable(delivery: Delivery, webhook_status: str | None) -> str | None:
    """Why a delivery asked for is not redelivered now (said in the answer, not counted as
    scheduled), or None. The workflow also refuses one in flight, and skips one whose webhook
    is not active: answering "scheduled" for those would promise a POST that never comes."""
    if delivery.status == DeliveryStatus.PENDING:
        return IN_FLIGHT
    if webhook_status is None:
        return "webhook deleted: nothing to deliver to"
    if webhook_status != "active":
        return f"webhook {webhook_status}: activate it, then redeliver"
    return None


def _scheduled_message(scheduled: int, not_scheduled: dict[str, str]) -> str:
    in_flight = sum(reason in (IN_FLIGHT, JUST_ASKED) for reason in not_scheduled.values())
    inactive = len(not_scheduled) - in_flight
    return (
        f"{scheduled} {'delivery' if scheduled == 1 else 'deliveries'} scheduled for redelivery"
        + (f"; {in_flight} still in flight, not redelivered" if in_flight else "")
        + (f"; {inactive} not redelivered: webhook inactive or deleted" if inactive else "")
    )


async def redeliver(
    session: AsyncSession,
    temporal: Client,
    tenant_id: str,
    event_id: str,
    webhook_ids: list[str] | None = None,
) -> RedeliverResponse:
    """An event's failed deliveries (and those skipped because their webhook was deactivated),
    or those to the named webhooks, start a new manual series: one `redeliver` signal to its
    workflow. Deliveries in flight, or to a webhook not active, are answered as not scheduled."""
    event = await owned_event(session, tenant_id, event_id)
    rows = (
        await session.execute(
            select(Delivery, Webhook.status)
            .outerjoin(Webhook, Webhook.id == Delivery.webhook_id)
            .where(Delivery.event_id == event.id)
        )
    ).all()
    webhook_status = {d.webhook_id: status for d, status in rows}  # None: deleted
    if webhook_ids:
        known = {d.webhook_id: d for d, _ in rows}
        unknown = [wh for wh in webhook_ids if wh not in known]
        if unknown:
            raise ApiError(
                404,
                "this event has no delivery to some of the named webhooks",
                details={"webhook_ids": unknown},
            )
        wanted = [known[wh] for wh in dict.fromkeys(webhook_ids)]
    else:  # "redeliver failed"; those still in their series are said to be, not left out
        wanted = [
            d
            for d, status in rows
            if is_undelivered(d.status, status is not None) or d.status == DeliveryStatus.PENDING
        ]
    not_scheduled = {
        d.id: reason
        for d in wanted
        if (reason := _not_redeliverable(d, webhook_status[d.webhook_id])) is not None
    }
    targets = [d for d in wanted if d.id not in not_scheduled]
    # Another request for the same deliveries a moment ago: its series has not recorded an
    # attempt yet, and the workflow would take this one as nothing to do.
    claimed = await claims.claim(
        session, [d.id for d in targets], datetime.now(UTC), undelivered_only=not webhook_ids
    )
    not_scheduled |= {d.id: JUST_ASKED for d in targets if d.id not in claimed}
    targets = [d for d in targets if d.id in claimed]
    # "Every failed one" of a large event is named by none: its chunks each take their own
    # (store/matching.py), where naming thousands would make one chunk of them all.
    named = None if not webhook_ids and len(rows) > CHUNK_SIZE else [d.webhook_id for d in targets]
    expired: list[str] = []
    try:
        signalled = not targets or await signal_redeliver(temporal, event.id, named)
    except Exception:
        # Not asked of the workflow: a retry of this request must not find its own claim.
        # (A cancelled request keeps it: the signal may have gone; the claim lapses.)
        await claims.release(session, [d.id for d in targets])
        raise
    if not signalled:
        await claims.release(session, [d.id for d in targets])
        expired, targets = [event.id], []
    metrics.redelivery_requested(len(targets))
    result = RedeliverResult(
        scheduled=len(targets),
        events=1 if targets else 0,
        delivery_ids=[d.id for d in targets],
        expired=expired,
        not_scheduled=not_scheduled,
    )
    if expired:
        message = f"event {event.id} expired; nothing can be redelivered"
    elif not wanted:
        why = "no delivery of this event failed" if rows else "this event matched no webhook"
        message = f"nothing to redeliver: {why}"
    else:
        message = _scheduled_message(len(targets), not_scheduled)
    return RedeliverResponse(success=not expired, message=message, data=result)
