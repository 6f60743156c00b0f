"""Match an event to the tenant's active webhooks (types + filter) and open its deliveries."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Row, bindparam, select

from hookline.core import filters, retry
from hookline.core.ids import delivery_id
from hookline.core.models import AcceptInput, ChunkInput, DeliveryStatus, MatchedWebhook
from hookline.store.engine import insert_ignoring_duplicates
from hookline.store.settling import is_redeliverable
from hookline.store.tables import Delivery, Webhook

_WEBHOOKS = Webhook.__table__
_ACTIVE_WEBHOOKS = (  # built once: this runs for every event
    select(_WEBHOOKS)
    .where(_WEBHOOKS.c.tenant_id == bindparam("tenant"), _WEBHOOKS.c.status == "active")
    .order_by(_WEBHOOKS.c.created_at, _WEBHOOKS.c.id)
)


def event_document(type_: str, data: dict, tenant_id: str) -> dict:
    """What a filter sees: the event as published."""
    return {"type": type_, "data": data, "tenant": tenant_id}


def filter_verdicts(rows: list[Row[Any]], document: dict) -> dict[str, bool]:
    """Which of these webhooks take the event (types and filter), by webhook id."""
    return {row.id: filters.matches(row.events, row.filter, document) for row in rows}


def active_webhooks(connection: Connection, tenant_id: str) -> list[Row[Any]]:
    return list(connection.execute(_ACTIVE_WEBHOOKS, {"tenant": tenant_id}))


def match_webhooks(
    connection: Connection,
    event: AcceptInput,
    base: retry.RetrySpec,
    verdicts: dict[str, bool] | None = None,
) -> list[tuple[MatchedWebhook, Row[Any]]]:
    """The tenant's active webhooks whose types and filter accept the event, oldest first
    (with their rows: attempt 1 needs their url and secrets). `verdicts` are filters already
    evaluated (off the event loop, for a large event); a webhook not in them is evaluated
    here."""
    rows = connection.execute(_ACTIVE_WEBHOOKS, {"tenant": event.tenant_id})
    document = event_document(event.type, event.data, event.tenant_id)
    known = verdicts or {}
    return [
        (
            MatchedWebhook(
                webhook_id=row.id,
                delivery_id=delivery_id(event.event_id, row.id),
                retry=retry.webhook_spec(base, row.retry_policy),
            ),
            row,
        )
        for row in rows
        if (known[row.id] if row.id in known else filters.matches(row.events, row.filter, document))
    ]


def open_deliveries(
    connection: Connection, event: AcceptInput, matched: list[MatchedWebhook]
) -> None:
    """One pending Delivery per match; ids are derived, so a second run adds nothing."""
    if not matched:
        return
    connection.execute(
        insert_ignoring_duplicates(connection, Delivery.__table__),
        [
            {
                "id": m.delivery_id,
                "tenant_id": event.tenant_id,
                "event_id": event.event_id,
                "webhook_id": m.webhook_id,
                "event_type": event.type,
                # Publish time: a `fifo` webhook's deliveries go in this order (store/ordering.py).
                "created_at": event.created,
                "status": DeliveryStatus.PENDING,
                "attempts": 0,
            }
            for m in matched
        ],
    )


def chunk_targets(
    connection: Connection, chunk: ChunkInput, base: retry.RetrySpec
) -> list[MatchedWebhook]:
    """The deliveries of one chunk of a large event (ordered by webhook id, a stable slice:
    deliveries are opened once, at match). A redelivery takes of them the failed or named
    ones, never one in flight (pending)."""
    deliveries, hooks = Delivery.__table__, _WEBHOOKS
    query = (
        select(
            deliveries.c.id,
            deliveries.c.webhook_id,
            deliveries.c.status,
            hooks.c.retry_policy,
            hooks.c.status.label("webhook_status"),
        )
        .select_from(deliveries.outerjoin(hooks, hooks.c.id == deliveries.c.webhook_id))
        .where(deliveries.c.event_id == chunk.event_id)
        .order_by(deliveries.c.webhook_id)
        .offset(chunk.offset)
        .limit(chunk.limit)
    )
    rows = connection.execute(query).all()
    if chunk.series:
        rows = [r for r in rows if r.status != DeliveryStatus.PENDING]
        if chunk.webhook_ids is not None:
            named = set(chunk.webhook_ids)
            rows = [r for r in rows if r.webhook_id in named]
        elif chunk.only_failed:
            rows = [r for r in rows if is_redeliverable(r.status, r.webhook_status)]
    return [
        MatchedWebhook(
            webhook_id=r.webhook_id,
            delivery_id=r.id,
            retry=retry.webhook_spec(base, r.retry_policy),
        )
        for r in rows
    ]
