"""Deliveries and attempts of a webhook, and its stats (success rate, latency, failures)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import func, select

from hookline.api.deps import EventsRead, SessionDep
from hookline.api.errors import ApiError
from hookline.api.routes.webhooks import owned_webhook
from hookline.api.schemas.common import ERRORS, Data, Page, PaginationDep
from hookline.api.schemas.events import AttemptOut, DeliveryOut, WebhookStats
from hookline.core.models import DeliveryStatus
from hookline.core.retry import status_family
from hookline.store.retention import has_expired, is_live
from hookline.store.tables import Attempt, Delivery, Event

router = APIRouter(tags=["events"])

MAX_STATS_WINDOW = timedelta(days=7)
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, None: 1}


def stats_window(window: str) -> timedelta:
    """The window, capped before it becomes a timedelta: `99999999999999999999d` is 7 days,
    not an OverflowError."""
    match = re.fullmatch(r"(\d+)(ms|s|m|h|d|w)?", window)
    if match is None:  # the query's pattern already refused it
        raise ApiError(400, f"invalid window {window!r} (use e.g. 1h, 24h, 7d)")
    seconds = int(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    return min(timedelta(seconds=min(seconds, MAX_STATS_WINDOW.total_seconds())), MAX_STATS_WINDOW)


@router.get(
    "/webhooks/{webhook_id}/deliveries",
    response_model=Page[DeliveryOut],
    responses=ERRORS,
    summary="A webhook's deliveries, newest first",
)
async def list_deliveries(
    webhook_id: str,
    principal: EventsRead,
    session: SessionDep,
    pages: PaginationDep,
    status: Annotated[DeliveryStatus | None, Query()] = None,
) -> Page[DeliveryOut]:
    await owned_webhook(session, principal.tenant_id, webhook_id)
    query = (
        select(Delivery)
        .join(Event, Event.id == Delivery.event_id)
        .where(
            Delivery.webhook_id == webhook_id,
            Delivery.tenant_id == principal.tenant_id,
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


@router.get(
    "/deliveries/{delivery_id}/attempts",
    response_model=Page[AttemptOut],
    responses=ERRORS,
    summary="Every attempt of a delivery, in order",
)
async def list_attempts(
    delivery_id: str, principal: EventsRead, session: SessionDep, pages: PaginationDep
) -> Page[AttemptOut]:
    delivery = await session.get(Delivery, delivery_id)
    event = await session.get(Event, delivery.event_id) if delivery is not None else None
    if (
        delivery is None
        or event is None
        or delivery.tenant_id != principal.tenant_id
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


def percentile(sorted_values: list[int], fraction: float) -> float | None:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return None
    rank = max(1, round(fraction * len(sorted_values) + 0.5 - 1e-9))
    return float(sorted_values[min(rank, len(sorted_values)) - 1])


@router.get(
    "/webhooks/{webhook_id}/stats",
    response_model=Data[WebhookStats],
    responses=ERRORS,
    summary="Success rate, failures by status class and latency over a window",
)
async def webhook_stats(
    webhook_id: str,
    principal: EventsRead,
    session: SessionDep,
    window: Annotated[
        str,
        Query(
            max_length=32,
            pattern=r"^\d+(ms|s|m|h|d|w)?$",
            description="e.g. 1h, 24h, 7d; longer windows count as 7d (history is kept 7 days)",
        ),
    ] = "24h",
) -> Data[WebhookStats]:
    webhook = await owned_webhook(session, principal.tenant_id, webhook_id)
    span = stats_window(window)
    since = datetime.now(UTC) - span
    statuses = (
        await session.execute(
            select(Delivery.status, func.count())
            .where(Delivery.webhook_id == webhook_id, Delivery.created_at >= since)
            .group_by(Delivery.status)
        )
    ).all()
    counts = {status: n for status, n in statuses}
    attempts = (
        await session.execute(
            select(Attempt.status_code, Attempt.duration_ms).where(
                Attempt.webhook_id == webhook_id, Attempt.started_at >= since
            )
        )
    ).all()
    by_class: dict[str, int] = {}
    for code, _ in attempts:
        family = status_family(code)
        by_class[family] = by_class.get(family, 0) + 1
    latencies = sorted(ms for code, ms in attempts if code is not None)
    succeeded = counts.get(DeliveryStatus.SUCCEEDED, 0)
    failed = counts.get(DeliveryStatus.FAILED, 0)
    finished = succeeded + failed
    stats = WebhookStats(
        webhook_id=webhook_id,
        window_seconds=int(span.total_seconds()),
        since=since,
        deliveries=sum(counts.values()),
        succeeded=succeeded,
        failed=failed,
        pending=counts.get(DeliveryStatus.PENDING, 0),
        success_rate=round(succeeded / finished, 4) if finished else None,
        attempts=len(attempts),
        attempts_by_class=by_class,
        latency_ms_p50=percentile(latencies, 0.50),
        latency_ms_p95=percentile(latencies, 0.95),
        failing_since=webhook.failing_since,
        status=webhook.status,
    )
    return Data(data=stats)
