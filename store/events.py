"""The event row and its deliveries: every statement that writes them, one writer each.

The API records the row before its 202 (`record_accepted`); `record_and_match` moves it on
and opens one Delivery per match (inserting the row if the API did not: an event started
otherwise, or whose row was removed); `settle_deliveries` and `delete_event` end it.
`record_repair` ends an event whose run closed without finishing it (the reconciler,
infra/reconcile.py, and the fresh run it starts); `unfinished_events` is what it looks at.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, and_, bindparam, delete, or_, select, update

from hookline.core.models import (
    AcceptInput,
    DeliverOutput,
    DeliveryStatus,
    EventStatus,
    EventWorkflowInput,
    FirstAttemptsOutput,
    MatchedWebhook,
    MatchOutput,
    SettleInput,
    accepted_stage,
)
from hookline.core.retry import RetrySpec, webhook_spec
from hookline.store.engine import insert_ignoring_duplicates
from hookline.store.matching import match_webhooks, open_deliveries
from hookline.store.settling import settle, stage
from hookline.store.tables import Attempt, Delivery, Event, Webhook

_EVENTS, _DELIVERIES, _WEBHOOKS = Event.__table__, Delivery.__table__, Webhook.__table__
# An event in one of these has a run still to finish it.
UNFINISHED = (EventStatus.AWAITING, EventStatus.EXECUTING)
# Each event's accept moves its row on (built once: building costs more than running it); the
# columns to set come with the parameters.
_MOVE_ON = update(_EVENTS).where(
    _EVENTS.c.id == bindparam("m_id"), _EVENTS.c.status == EventStatus.AWAITING
)


def insert_event(
    connection: Connection, event: EventWorkflowInput, status: EventStatus, stages: list[dict]
) -> bool:
    """The one INSERT of an event row; False when a row of that id exists (kept as it is)."""
    inserted = connection.execute(
        insert_ignoring_duplicates(connection, _EVENTS),
        {
            "id": event.event_id,
            "tenant_id": event.tenant_id,
            "type": event.type,
            "data": event.data,
            "idempotency_key": event.idempotency_key,
            "created": event.created,
            "expires_at": event.expires_at,
            "status": status,
            "stages": stages,
        },
    )
    return inserted.rowcount == 1


def record_accepted(connection: Connection, event: EventWorkflowInput) -> Row[Any] | None:
    """The event row, awaiting-executing, before the 202 (read-your-writes). The primary key
    decides idempotency: None when this call inserted it, else the row published first."""
    if insert_event(connection, event, EventStatus.AWAITING, [accepted_stage(event.created)]):
        return None
    return connection.execute(select(_EVENTS).where(_EVENTS.c.id == event.event_id)).one()


def is_recorded(connection: Connection, event_id: str) -> bool:
    """Whether the event's row exists (published before, not swept yet)."""
    found = connection.execute(select(_EVENTS.c.id).where(_EVENTS.c.id == event_id)).first()
    return found is not None


def forget_unstarted(connection: Connection, event_id: str) -> None:
    """Remove a row whose workflow could not be started (only while nothing ran for it)."""
    connection.execute(
        delete(_EVENTS).where(_EVENTS.c.id == event_id, _EVENTS.c.status == EventStatus.AWAITING)
    )


def stored_input(row: Row[Any]) -> EventWorkflowInput:
    """The workflow input of a recorded event row."""
    return EventWorkflowInput(
        event_id=row.id,
        tenant_id=row.tenant_id,
        type=row.type,
        data=row.data,
        created=row.created,
        expires_at=row.expires_at,
        idempotency_key=row.idempotency_key,
    )


def record_and_match(
    connection: Connection,
    input: AcceptInput,
    base: RetrySpec,
    verdicts: dict[str, bool] | None = None,
) -> tuple[list[tuple[MatchedWebhook, Row[Any]]], bool]:
    """The Event row, moved past awaiting-executing, and one pending Delivery per match, in
    the caller's transaction; and whether it moved (this is the event's first accept: none
    of its attempts can be recorded yet). The API records the row before its 202
    (read-your-writes); an event started otherwise (or whose row the API removed) gets it
    inserted here."""
    found = match_webhooks(connection, input, base, verdicts)
    matched = [m for m, _ in found]
    status = EventStatus.EXECUTING if matched else EventStatus.SUCCEEDED
    stages = [
        accepted_stage(input.created),
        stage(EventStatus.EXECUTING, f"matched {len(matched)} webhooks"),
    ]
    moved = connection.execute(
        _MOVE_ON, {"m_id": input.event_id, "status": status, "stages": stages}
    )
    if moved.rowcount == 0:  # not recorded yet, or already past (a second run): keep it
        insert_event(connection, input, status, stages)
    open_deliveries(connection, input, matched)
    return found, moved.rowcount == 1


def settle_deliveries(connection: Connection, input: SettleInput) -> EventStatus | None:
    """Deliveries whose activity never reported (e.g. timed out) take the series' outcome;
    then the event's status."""
    table = Delivery.__table__
    by_id = {o.delivery_id: o for o in input.outcomes}
    rows = connection.execute(
        select(table.c.id, table.c.status, table.c.last_error).where(table.c.id.in_(by_id))
    ).all()
    for row in rows:
        outcome = by_id[row.id]
        if row.status != outcome.status:
            connection.execute(
                update(table)
                .where(table.c.id == row.id)
                .values(
                    status=outcome.status,
                    last_error=row.last_error or outcome.error,
                    next_attempt_at=None,  # settled: no retry is coming
                )
            )
    return settle(connection, input.event_id, input.outcomes, input.stage, input.detail)


def delete_event(connection: Connection, event_id: str) -> None:
    for table, column in (
        (Attempt.__table__, Attempt.__table__.c.event_id),
        (Delivery.__table__, Delivery.__table__.c.event_id),
        (Event.__table__, Event.__table__.c.id),
    ):
        connection.execute(delete(table).where(column == event_id))


def unfinished_events(
    connection: Connection,
    created_before: datetime,
    now: datetime,
    after: tuple[datetime, str] | None,
    batch: int,
) -> list[Row[Any]]:
    """Up to `batch` live events still awaiting-executing or executing, created before
    `created_before`, oldest first from past `after` (created, id): a caller walks them all,
    a batch at a time. Their id, tenant, creation and status (not their data)."""
    query = select(_EVENTS.c.id, _EVENTS.c.tenant_id, _EVENTS.c.created, _EVENTS.c.status).where(
        _EVENTS.c.status.in_(UNFINISHED),
        _EVENTS.c.created < created_before,
        _EVENTS.c.expires_at > now,
    )
    if after is not None:
        created, event_id = after
        query = query.where(
            or_(
                _EVENTS.c.created > created,
                and_(_EVENTS.c.created == created, _EVENTS.c.id > event_id),
            )
        )
    return list(connection.execute(query.order_by(_EVENTS.c.created, _EVENTS.c.id).limit(batch)))


def event_row(connection: Connection, event_id: str) -> Row[Any] | None:
    return connection.execute(select(_EVENTS).where(_EVENTS.c.id == event_id)).first()


def record_repair(connection: Connection, event_id: str, reason: str, base: RetrySpec) -> bool:
    """An event whose run closed without finishing it, recorded failed for `reason` (a
    `failed` stage, which the API and the console show), with its deliveries still pending
    (their last error: the reason). An event whose run ended before it was matched is matched
    now and its deliveries opened failed, not attempted: a redelivery sends them.

    Conditional: only an unfinished event changes (the row locked on PostgreSQL; SQLite's
    transactions begin IMMEDIATE), so of several callers one records it. True for that one."""
    row = connection.execute(
        select(_EVENTS).where(_EVENTS.c.id == event_id).with_for_update()
    ).first()
    if row is None or row.status not in UNFINISHED:
        return False
    if row.status == EventStatus.AWAITING:
        event = AcceptInput(**stored_input(row).model_dump())
        open_deliveries(connection, event, [m for m, _ in match_webhooks(connection, event, base)])
    connection.execute(
        update(_EVENTS)
        .where(_EVENTS.c.id == event_id, _EVENTS.c.status.in_(UNFINISHED))
        .values(status=EventStatus.FAILED, stages=[*row.stages, stage(EventStatus.FAILED, reason)])
    )
    connection.execute(
        update(_DELIVERIES)
        .where(_DELIVERIES.c.event_id == event_id, _DELIVERIES.c.status == DeliveryStatus.PENDING)
        .values(status=DeliveryStatus.FAILED, last_error=reason)
    )
    return True


def accept_repair(connection: Connection, input: AcceptInput, base: RetrySpec) -> MatchOutput:
    """accept_event of a run the reconciler started (`input.repair_reason`): the event
    recorded failed (unless the reconciler or an earlier try did it) and its deliveries as
    they are, every one final, as if attempt 1 had just been made: the run retries none and
    POSTs nothing until a redelivery asks for it."""
    reason = input.repair_reason or "its workflow closed without finishing it"
    record_repair(connection, input.event_id, reason, base)
    rows = connection.execute(
        select(
            _DELIVERIES.c.id,
            _DELIVERIES.c.webhook_id,
            _DELIVERIES.c.status,
            _DELIVERIES.c.attempts,
            _DELIVERIES.c.last_status_code,
            _DELIVERIES.c.last_error,
            _WEBHOOKS.c.retry_policy,
        )
        .select_from(_DELIVERIES.outerjoin(_WEBHOOKS, _WEBHOOKS.c.id == _DELIVERIES.c.webhook_id))
        .where(_DELIVERIES.c.event_id == input.event_id)
        .order_by(_DELIVERIES.c.created_at, _DELIVERIES.c.id)
    ).all()
    if input.chunk_size is not None and len(rows) > input.chunk_size:
        # A large event: its count, and attempt 1 made (nothing to fan out until redelivered;
        # record_repair failed its pending deliveries, so "every failed one" takes them).
        return MatchOutput(
            chunked_total=len(rows),
            first=FirstAttemptsOutput(outcomes=[], event_status=EventStatus.FAILED),
        )
    webhooks, outcomes = [], []
    for row in rows:
        # A delivery an attempt of the closed run moved back to pending counts as failed.
        status = DeliveryStatus(row.status)
        if status == DeliveryStatus.PENDING:
            status = DeliveryStatus.FAILED
        webhooks.append(
            MatchedWebhook(
                webhook_id=row.webhook_id,
                delivery_id=row.id,
                retry=webhook_spec(base, row.retry_policy),  # a deleted webhook: the base
            )
        )
        outcomes.append(
            DeliverOutput(
                delivery_id=row.id,
                webhook_id=row.webhook_id,
                status=status,
                attempts=row.attempts,
                status_code=row.last_status_code,
                error=row.last_error,
            )
        )
    return MatchOutput(
        webhooks=webhooks,
        first=FirstAttemptsOutput(outcomes=outcomes, event_status=EventStatus.FAILED),
    )
