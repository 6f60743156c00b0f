"""Events: publish one or a batch, list the tenant's events, read one with its deliveries and
attempts."""

from __future__ import annotations

import asyncio
from datetime import datetime

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client

from hookline.api.errors import ApiError
from hookline.api.publish import event_workflow_input, publish
from hookline.api.schemas.common import Page, Pagination
from hookline.api.schemas.events import (
    AttemptOut,
    DeliveryDetail,
    EventDetail,
    EventOut,
    PublishEvent,
)
from hookline.api.services.event_types import check_published
from hookline.core.catalog import Catalog
from hookline.infra.config import Settings
from hookline.store.retention import has_expired, is_live
from hookline.store.tables import Attempt, Delivery, Event
from hookline.store.transactions import Store


def event_out(event: Event) -> EventOut:
    return EventOut(
        id=event.id,
        type=event.type,
        created=event.created,
        status=event.status,
        idempotency_key=event.idempotency_key,
    )


# --------------------------------------------------------------------------- publish


async def publish_event(
    store: Store,
    temporal: Client,
    settings: Settings,
    catalog: Catalog,
    tenant_id: str,
    body: PublishEvent,
    key: str | None,
) -> tuple[EventOut, bool]:
    """The event as accepted, and whether it was a replay (the same id or key before)."""
    await check_published(store, catalog, settings, tenant_id, body.type, body.data)
    event = event_workflow_input(settings, tenant_id, body.type, body.data, key)
    published = await publish(store, temporal, settings, event)
    out = EventOut(
        id=published.event_id,
        type=published.type,
        created=published.created,
        status=published.status,
        idempotency_key=published.idempotency_key,
    )
    return out, published.replayed


async def publish_batch(
    store: Store,
    temporal: Client,
    settings: Settings,
    catalog: Catalog,
    tenant_id: str,
    events: list[PublishEvent],
) -> list[EventOut]:
    """All-or-nothing validation first; then every event starts (each idempotent by its id)."""
    for index, item in enumerate(events):
        try:
            await check_published(store, catalog, settings, tenant_id, item.type, item.data)
        except ApiError as exc:
            exc.details = {"index": index, **(exc.details or {})}
            raise
    results = await asyncio.gather(
        *(
            publish_event(store, temporal, settings, catalog, tenant_id, item, item.id)
            for item in events
        )
    )
    return [out for out, _ in results]


# --------------------------------------------------------------------------- read


def filtered_events(
    tenant_id: str,
    status: str | None = None,
    type: str | None = None,
    webhook_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Select[tuple[Event]]:
    """The tenant's events matching the filters (the API's list and the console's)."""
    query = select(Event).where(Event.tenant_id == tenant_id, is_live())
    if status:
        query = query.where(Event.status == status)
    if type:
        query = query.where(Event.type == type)
    if webhook_id:
        query = query.where(
            Event.id.in_(select(Delivery.event_id).where(Delivery.webhook_id == webhook_id))
        )
    if since:
        query = query.where(Event.created >= since)
    if until:
        query = query.where(Event.created < until)
    return query


async def list_events(
    session: AsyncSession,
    tenant_id: str,
    pages: Pagination,
    status: str | None = None,
    type: str | None = None,
    webhook_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Page[EventOut]:
    """Newest first."""
    query = filtered_events(tenant_id, status, type, webhook_id, since, until)
    total = await session.scalar(select(func.count()).select_from(query.subquery()))
    rows = await session.scalars(
        query.order_by(Event.created.desc(), Event.id.desc())
        .offset(pages.offset)
        .limit(pages.limit)
    )
    return Page(data=[event_out(e) for e in rows], meta=pages.meta(total or 0))


async def owned_event(session: AsyncSession, tenant_id: str, event_id: str) -> Event:
    """The tenant's event, or 404 whether it is missing, someone else's or expired."""
    event = await session.get(Event, event_id)
    # Gone from its expires_at on, whether or not the sweep has deleted its rows yet.
    if event is None or event.tenant_id != tenant_id or has_expired(event.expires_at):
        raise ApiError(404, f"event {event_id} does not exist or has expired")
    return event


async def get_event(session: AsyncSession, tenant_id: str, event_id: str) -> EventDetail:
    """An event with its stages, its deliveries and every attempt of each."""
    event = await owned_event(session, tenant_id, event_id)
    deliveries = (
        await session.scalars(
            select(Delivery).where(Delivery.event_id == event.id).order_by(Delivery.created_at)
        )
    ).all()
    attempts = (
        await session.scalars(
            select(Attempt)
            .where(Attempt.event_id == event.id)
            .order_by(Attempt.started_at, Attempt.series, Attempt.number)
        )
    ).all()
    by_delivery: dict[str, list[AttemptOut]] = {}
    for attempt in attempts:
        by_delivery.setdefault(attempt.delivery_id, []).append(
            AttemptOut.model_validate(attempt, from_attributes=True)
        )
    return EventDetail(
        **event_out(event).model_dump(),
        data=event.data,
        tenant=event.tenant_id,
        expires_at=event.expires_at,
        stages=event.stages,
        deliveries=[
            DeliveryDetail(
                **DeliveryDetail.model_validate(d, from_attributes=True).model_dump(
                    exclude={"attempt_history"}
                ),
                attempt_history=by_delivery.get(d.id, []),
            )
            for d in deliveries
        ],
    )
