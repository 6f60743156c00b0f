"""What a redelivery job reads: the events it goes through, a page at a time, in (created, id)
order after a keyset cursor (the index `ix_events_tenant_created` serves it), with the
deliveries each event's signal names; and how many there are when the job starts."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, and_, exists, func, or_, select

from hookline.core.jobs import JobCursor, JobItem, JobKind, JobPage, JobQuery
from hookline.core.models import CHUNK_SIZE, DeliveryStatus
from hookline.store.settling import redeliverable
from hookline.store.tables import Delivery, Event

_events, _deliveries = Event.__table__, Delivery.__table__


def _delivery_filters(query: JobQuery) -> list[Any]:
    d = _deliveries.c
    filters: list[Any] = [d.tenant_id == query.tenant_id]
    if query.kind == JobKind.REDELIVER:
        filters.append(redeliverable())
    if query.webhook_id:
        filters.append(d.webhook_id == query.webhook_id)
    if query.type:
        filters.append(d.event_type == query.type)
    return filters


def _event_filters(query: JobQuery, now: datetime) -> list[Any]:
    e = _events.c
    filters: list[Any] = [
        e.tenant_id == query.tenant_id,
        e.expires_at > now,  # live events only (store/retention.py's is_live)
        e.created < query.until,
        exists(select(1).where(_deliveries.c.event_id == e.id, *_delivery_filters(query))),
    ]
    if query.since is not None:
        filters.append(e.created >= query.since)
    return filters


def count_job_events(connection: Connection, query: JobQuery) -> int:
    now = datetime.now(UTC)
    return int(
        connection.execute(
            select(func.count()).select_from(_events).where(*_event_filters(query, now))
        ).scalar_one()
    )


def job_page(
    connection: Connection, query: JobQuery, cursor: JobCursor | None, limit: int
) -> JobPage:
    """Up to `limit` events after `cursor`, each with the webhooks its signal names."""
    e = _events.c
    filters = _event_filters(query, datetime.now(UTC))
    if cursor is not None:
        filters.append(
            or_(
                e.created > cursor.created,
                and_(e.created == cursor.created, e.id > cursor.event_id),
            )
        )
    rows = connection.execute(
        select(e.id, e.created).where(*filters).order_by(e.created, e.id).limit(limit)
    ).all()
    if not rows:
        return JobPage(items=[], last=True)
    named: dict[str, list[str]] = {row.id: [] for row in rows}
    counts: dict[str, int] = {}
    in_flight: set[str] = set()
    if query.kind == JobKind.REPLAY and query.webhook_id:
        for ids in named.values():
            ids.append(query.webhook_id)
        d = _deliveries.c
        in_flight.update(
            connection.execute(
                select(d.event_id).where(
                    d.event_id.in_(list(named)),
                    d.webhook_id == query.webhook_id,
                    d.status == DeliveryStatus.PENDING,
                )
            ).scalars()
        )
    else:
        d = _deliveries.c
        counts = dict(
            connection.execute(
                select(d.event_id, func.count())
                .where(d.event_id.in_(list(named)), *_delivery_filters(query))
                .group_by(d.event_id)
            ).all()
        )
        # A large event's are not listed: its signal names none, so that neither this page
        # nor the signal grows with its webhooks (core/models.py CHUNK_SIZE).
        small = [event_id for event_id, n in counts.items() if n <= CHUNK_SIZE]
        pairs = connection.execute(
            select(d.event_id, d.webhook_id)
            .where(d.event_id.in_(small), *_delivery_filters(query))
            .order_by(d.event_id, d.webhook_id)
        )
        for event_id, webhook_id in pairs:
            named[event_id].append(webhook_id)
    items = [
        JobItem(
            event_id=row.id,
            created=row.created,
            webhook_ids=named[row.id] if counts.get(row.id, 0) <= CHUNK_SIZE else None,
            deliveries=counts.get(row.id, 0),
            in_flight=row.id in in_flight,
            undelivered_only=query.kind == JobKind.REDELIVER,
        )
        for row in rows
        if named[row.id] or counts.get(row.id, 0) > CHUNK_SIZE
    ]
    tail = rows[-1]
    return JobPage(
        items=items,
        cursor=JobCursor(created=tail.created, event_id=tail.id),
        last=len(rows) < limit,
    )
