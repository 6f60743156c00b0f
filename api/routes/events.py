"""Events: publish (one or a batch), read the event history, redeliver."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Header, Query, Response
from sqlalchemy import Select, func, select
from temporalio.service import RPCError, RPCStatusCode

from hookline.api.deps import (
    CatalogDep,
    EventsPublish,
    EventsRead,
    EventsRedeliver,
    SessionDep,
    SettingsDep,
    StoreDep,
    TemporalDep,
)
from hookline.api.errors import ApiError
from hookline.api.json_body import LimitedJsonRoute
from hookline.api.publish import (
    UNAVAILABLE,
    check_event,
    event_workflow_input,
    publish,
    temporal_unavailable,
)
from hookline.api.schemas.common import ERRORS, Data, Page, PaginationDep
from hookline.api.schemas.events import (
    AttemptOut,
    BulkRedeliverRequest,
    DeliveryDetail,
    EventDetail,
    EventOut,
    PublishBatch,
    PublishEvent,
    RedeliverRequest,
    RedeliverResponse,
    RedeliverResult,
)
from hookline.core.models import DeliveryStatus, EventStatus, RedeliverSignal
from hookline.infra import metrics
from hookline.infra.crypto import missing_key_message
from hookline.infra.keys_in_use import client_key_ids, missing_workflow_keys
from hookline.store.retention import has_expired, is_live
from hookline.store.tables import Attempt, Delivery, Event

router = APIRouter(tags=["events"], route_class=LimitedJsonRoute)

BULK_REDELIVER_MAX = 10_000
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=200,
        pattern=r"^[A-Za-z0-9_.:\-]+$",
        description="Publishing twice with the same key delivers once.",
    ),
]


def event_out(event: Event) -> EventOut:
    return EventOut(
        id=event.id,
        type=event.type,
        created=event.created,
        status=event.status,
        idempotency_key=event.idempotency_key,
    )


async def _publish_one(
    body: PublishEvent, key: str | None, principal, store, settings, temporal, catalog
) -> tuple[EventOut, bool]:
    check_event(catalog, settings, body.type, body.data)
    event = event_workflow_input(settings, principal.tenant_id, body.type, body.data, key)
    published = await publish(store, temporal, settings, event)
    out = EventOut(
        id=published.event_id,
        type=published.type,
        created=published.created,
        status=published.status,
        idempotency_key=published.idempotency_key,
    )
    return out, published.replayed


@router.post(
    "/events",
    status_code=202,
    response_model=Data[EventOut],
    responses=ERRORS | {413: ERRORS[422] | {"description": "Payload over 256 KiB"}},
    summary="Publish an event",
)
async def publish_event(
    body: PublishEvent,
    response: Response,
    principal: EventsPublish,
    store: StoreDep,
    settings: SettingsDep,
    temporal: TemporalDep,
    catalog: CatalogDep,
    idempotency_key: IdempotencyKey = None,
) -> Data[EventOut]:
    """Accepted for delivery to every matching webhook. The same `id` (or `Idempotency-Key`)
    published again delivers once and answers with the same event."""
    key = body.id or idempotency_key
    out, replayed = await _publish_one(body, key, principal, store, settings, temporal, catalog)
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return Data(data=out)


@router.post(
    "/events/batch",
    status_code=202,
    response_model=Data[list[EventOut]],
    responses=ERRORS,
    summary="Publish up to 100 events",
)
async def publish_batch(
    body: PublishBatch,
    principal: EventsPublish,
    store: StoreDep,
    settings: SettingsDep,
    temporal: TemporalDep,
    catalog: CatalogDep,
) -> Data[list[EventOut]]:
    """All-or-nothing validation first; then every event starts (each idempotent by its id)."""
    for index, item in enumerate(body.events):
        try:
            check_event(catalog, settings, item.type, item.data)
        except ApiError as exc:
            exc.details = {"index": index, **(exc.details or {})}
            raise
    results = await asyncio.gather(
        *(
            _publish_one(item, item.id, principal, store, settings, temporal, catalog)
            for item in body.events
        )
    )
    return Data(data=[out for out, _ in results])


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


@router.get("/events", response_model=Page[EventOut], responses=ERRORS, summary="List events")
async def list_events(
    principal: EventsRead,
    session: SessionDep,
    pages: PaginationDep,
    status: Annotated[EventStatus | None, Query()] = None,
    type: Annotated[str | None, Query(max_length=200)] = None,
    webhook_id: Annotated[str | None, Query(max_length=40)] = None,
    since: Annotated[datetime | None, Query()] = None,
    until: Annotated[datetime | None, Query()] = None,
) -> Page[EventOut]:
    query = filtered_events(principal.tenant_id, status, type, webhook_id, since, until)
    total = await session.scalar(select(func.count()).select_from(query.subquery()))
    rows = await session.scalars(
        query.order_by(Event.created.desc(), Event.id.desc())
        .offset(pages.offset)
        .limit(pages.limit)
    )
    return Page(data=[event_out(e) for e in rows], meta=pages.meta(total or 0))


async def _owned_event(session, tenant_id: str, event_id: str) -> Event:
    event = await session.get(Event, event_id)
    # Gone from its expires_at on, whether or not the sweep has deleted its rows yet.
    if event is None or event.tenant_id != tenant_id or has_expired(event.expires_at):
        raise ApiError(404, f"event {event_id} does not exist or has expired")
    return event


@router.get(
    "/events/{event_id}",
    response_model=Data[EventDetail],
    responses=ERRORS,
    summary="An event with its stages, deliveries and every attempt",
)
async def get_event(event_id: str, principal: EventsRead, session: SessionDep) -> Data[EventDetail]:
    event = await _owned_event(session, principal.tenant_id, event_id)
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
    detail = EventDetail(
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
    return Data(data=detail)


async def signal_redeliver(temporal, event_id: str, webhook_ids: list[str]) -> bool:
    """False when the workflow has closed: the event's retention is over. 409 when the event's
    history was sealed with a key no longer configured (its worker could not replay it)."""
    try:
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
        if exc.status in UNAVAILABLE:
            raise temporal_unavailable(exc) from exc
        raise
    return True


@router.post(
    "/events/{event_id}/redeliver",
    response_model=RedeliverResponse,
    responses=ERRORS,
    summary="Redeliver an event's failed (or named) deliveries",
)
async def redeliver_event(
    event_id: str,
    principal: EventsRedeliver,
    session: SessionDep,
    temporal: TemporalDep,
    body: RedeliverRequest | None = None,
) -> RedeliverResponse:
    webhook_ids = body.webhook_ids if body else None
    return await redeliver(session, temporal, principal.tenant_id, event_id, webhook_ids)


async def redeliver(
    session, temporal, tenant_id: str, event_id: str, webhook_ids: list[str] | None = None
) -> RedeliverResponse:
    """An event's failed deliveries, or those to the named webhooks, start a new manual series:
    one `redeliver` signal to its workflow (the API's endpoint and the console's button)."""
    event = await _owned_event(session, tenant_id, event_id)
    deliveries = (
        await session.scalars(select(Delivery).where(Delivery.event_id == event.id))
    ).all()
    if webhook_ids:
        known = {d.webhook_id: d for d in deliveries}
        unknown = [wh for wh in webhook_ids if wh not in known]
        if unknown:
            raise ApiError(
                404,
                "this event has no delivery to some of the named webhooks",
                details={"webhook_ids": unknown},
            )
        targets = [known[wh] for wh in dict.fromkeys(webhook_ids)]
    else:
        targets = [d for d in deliveries if d.status == DeliveryStatus.FAILED]
    expired: list[str] = []
    if targets and not await signal_redeliver(temporal, event.id, [d.webhook_id for d in targets]):
        expired, targets = [event.id], []
    metrics.redelivery_requested(len(targets))
    result = RedeliverResult(
        scheduled=len(targets),
        events=1 if targets else 0,
        delivery_ids=[d.id for d in targets],
        expired=expired,
    )
    message = (
        f"event {event.id} expired; nothing can be redelivered"
        if expired
        else f"{len(targets)} deliveries scheduled for redelivery"
    )
    return RedeliverResponse(success=not expired, message=message, data=result)


@router.post(
    "/events/redeliver",
    response_model=RedeliverResponse,
    responses=ERRORS,
    summary="Redeliver every failed delivery matching the filters",
)
async def bulk_redeliver(
    body: BulkRedeliverRequest,
    principal: EventsRedeliver,
    session: SessionDep,
    temporal: TemporalDep,
) -> RedeliverResponse:
    """The seed's "see if you have any failed events and schedule them for redelivery"."""
    query = select(Delivery).where(
        Delivery.tenant_id == principal.tenant_id, Delivery.status == DeliveryStatus.FAILED
    )
    if body.webhook_id:
        query = query.where(Delivery.webhook_id == body.webhook_id)
    if body.type:
        query = query.where(Delivery.event_type == body.type)
    if body.since or body.until:
        created = select(Event.id).where(Event.tenant_id == principal.tenant_id)
        if body.since:
            created = created.where(Event.created >= body.since)
        if body.until:
            created = created.where(Event.created < body.until)
        query = query.where(Delivery.event_id.in_(created))
    rows = (await session.scalars(query.limit(BULK_REDELIVER_MAX))).all()
    by_event: dict[str, list[Delivery]] = {}
    for row in rows:
        by_event.setdefault(row.event_id, []).append(row)
    scheduled: list[str] = []
    expired: list[str] = []
    for event_id, deliveries in by_event.items():
        if await signal_redeliver(temporal, event_id, [d.webhook_id for d in deliveries]):
            scheduled += [d.id for d in deliveries]
        else:
            expired.append(event_id)
    metrics.redelivery_requested(len(scheduled))
    result = RedeliverResult(
        scheduled=len(scheduled),
        events=len(by_event) - len(expired),
        delivery_ids=scheduled,
        expired=expired,
    )
    return RedeliverResponse(
        message=f"{len(scheduled)} failed deliveries scheduled for redelivery", data=result
    )
