"""Events: publish one or a batch, list the tenant's events, read one with its deliveries and
attempts."""

from __future__ import annotations

import asyncio
from datetime import datetime

from sqlalchemy import Select, and_, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client

from hookline.api.errors import ApiError
from hookline.api.publish import event_workflow_input, publish
from hookline.api.schemas.common import Page, Pagination
from hookline.api.schemas.events import (
    AttemptOut,
    BatchEventOut,
    DeliveryDetail,
    EventDetail,
    EventOut,
    PublishEvent,
)
from hookline.api.services.event_search import DataMatch, payload_matches
from hookline.api.services.event_type_checks import check_published
from hookline.core.catalog import Catalog
from hookline.core.ids import tenant_scoped_event_id
from hookline.infra.config import Settings
from hookline.store.events import is_recorded
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
    await _check_unless_replay(store, catalog, settings, tenant_id, body, key)
    return await _publish_checked(store, temporal, settings, tenant_id, body, key)


async def publish_batch(
    store: Store,
    temporal: Client,
    settings: Settings,
    catalog: Catalog,
    tenant_id: str,
    events: list[PublishEvent],
) -> list[BatchEventOut]:
    """All-or-nothing validation first; then every event starts (each idempotent by its id)."""
    for index, item in enumerate(events):
        try:
            await _check_unless_replay(store, catalog, settings, tenant_id, item, item.id)
        except ApiError as exc:
            exc.details = {"index": index, **(exc.details or {})}
            raise
    results = await asyncio.gather(
        *(_publish_checked(store, temporal, settings, tenant_id, item, item.id) for item in events),
        return_exceptions=True,  # every start ends before the answer, which names each
    )
    failed = [(index, r) for index, r in enumerate(results) if isinstance(r, BaseException)]
    if failed:
        raise _partly_accepted(results, failed)
    return [BatchEventOut(**out.model_dump(), replayed=replayed) for out, replayed in results]


def _partly_accepted(results: list, failed: list[tuple[int, BaseException]]) -> BaseException:
    """A batch some of whose events did not start: the first failure's status, and which
    events were accepted (their ids) and which not, by index, so that a retry of only the
    latter never delivers the others twice."""
    unexpected = [error for _, error in failed if not isinstance(error, ApiError)]
    if unexpected:
        return unexpected[0]  # not the client's doing nor Temporal's: raised as it is
    first = failed[0][1]
    assert isinstance(first, ApiError)
    accepted = [
        {"index": index, "id": result[0].id}
        for index, result in enumerate(results)
        if not isinstance(result, BaseException)
    ]
    return ApiError(
        first.status,
        f"{len(failed)} of {len(results)} events were not accepted ({first.message}); "
        f"{len(accepted)} were: publish again only those in `details.not_accepted`, or the "
        "whole batch if each event has its `id`",
        details={
            "accepted": accepted,
            "not_accepted": [
                {"index": index, "code": error.code, "message": error.message}
                | ({"event_id": error.details["event_id"]} if _event_id(error) else {})
                for index, error in failed
                if isinstance(error, ApiError)
            ],
        },
        code=first.code,
        headers=first.headers,
    )


def _event_id(error: ApiError) -> bool:
    return isinstance(error.details, dict) and "event_id" in error.details


async def _check_unless_replay(
    store: Store,
    catalog: Catalog,
    settings: Settings,
    tenant_id: str,
    body: PublishEvent,
    key: str | None,
) -> None:
    """The event's type and data checked (event_type_checks.py), unless its key names an event
    published before: the retry of a publish whose answer was lost is answered as a replay
    (202), whatever the type's schema or archiving says since. The store is read only when
    the check fails, so a publish pays nothing for it."""
    try:
        await check_published(store, catalog, settings, tenant_id, body.type, body.data)
    except ApiError:
        if key is None:
            raise
        if not await store.transaction(is_recorded, tenant_scoped_event_id(tenant_id, key)):
            raise


async def _publish_checked(
    store: Store,
    temporal: Client,
    settings: Settings,
    tenant_id: str,
    body: PublishEvent,
    key: str | None,
) -> tuple[EventOut, bool]:
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


# --------------------------------------------------------------------------- read


def filtered_events(
    tenant_id: str,
    status: str | None = None,
    type: str | None = None,
    webhook_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    q: str | None = None,
    data: list[DataMatch] | None = None,
) -> Select[tuple[Event]]:
    """The tenant's events matching the filters (the API's list and the console's).

    `q`: the event's id or its idempotency key, exactly (the primary key and the index on
    tenant and key). `data`: payload fields (event_search.py), path and value bound as
    parameters; they have no index of their own: they are read from the tenant's live
    events within `since`/`until` (the index on tenant and creation), at most 7 days of them."""
    query = select(Event).where(Event.tenant_id == tenant_id, is_live())
    if q:
        query = query.where(or_(Event.id == q, Event.idempotency_key == q))
    for match in data or ():
        query = query.where(payload_matches(match))
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
    q: str | None = None,
    data: list[DataMatch] | None = None,
    *,
    starting_after: str | None = None,
) -> Page[EventOut]:
    """Newest first; `starting_after`: from the event after that one (older), so that events
    published meanwhile shift nothing (an offset would list some twice)."""
    query = filtered_events(tenant_id, status, type, webhook_id, since, until, q, data)
    if starting_after is not None:
        cursor = await session.get(Event, starting_after)
        if cursor is None or cursor.tenant_id != tenant_id or has_expired(cursor.expires_at):
            raise ApiError(
                400, f"starting_after: event {starting_after} does not exist or has expired"
            )
        query = query.where(
            or_(
                Event.created < cursor.created,
                and_(Event.created == cursor.created, Event.id < cursor.id),
            )
        )
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
    """An event with its stages, its deliveries and every attempt of each.

    What changes as a worker records attempts (the event's status and stages, its deliveries,
    their attempts) is read in one statement, so one snapshot: a worker commits an attempt
    with its delivery's status and the event's settling in one transaction, and two
    statements could fall on either side of it (an attempt beside a delivery still pending),
    on SQLite as on PostgreSQL (READ COMMITTED: a snapshot per statement). The payload,
    which never changes, is read apart: not once per attempt."""
    event = await owned_event(session, tenant_id, event_id)
    rows = (
        await session.execute(
            # The stages (they grow with redeliveries) on the first row only, not on each.
            select(
                Event.status, case((func.row_number().over() == 1, Event.stages)), Delivery, Attempt
            )
            .outerjoin(Delivery, Delivery.event_id == Event.id)
            .outerjoin(Attempt, Attempt.delivery_id == Delivery.id)
            .where(Event.id == event.id)
            .order_by(
                Delivery.created_at,
                Delivery.id,
                Attempt.started_at,
                Attempt.series,
                Attempt.number,
            )
        )
    ).all()
    if not rows:  # deleted since (the expiry sweep)
        raise ApiError(404, f"event {event_id} does not exist or has expired")
    status = rows[0][0]
    stages = next(row[1] for row in rows if row[1] is not None)
    deliveries = list(dict.fromkeys(row[2] for row in rows if row[2] is not None))
    attempts = [row[3] for row in rows if row[3] is not None]
    by_delivery: dict[str, list[AttemptOut]] = {}
    for attempt in attempts:
        by_delivery.setdefault(attempt.delivery_id, []).append(
            AttemptOut.model_validate(attempt, from_attributes=True)
        )
    return EventDetail(
        **event_out(event).model_dump(exclude={"status"}),
        status=status,
        data=event.data,
        tenant=event.tenant_id,
        expires_at=event.expires_at,
        stages=stages,
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
