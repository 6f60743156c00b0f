"""The event row and its deliveries: every statement that writes them, one writer each.

The API records the row before its 202 (`record_accepted`); `record_and_match` moves it on
and opens one Delivery per match (inserting the row if the API did not: an event started
otherwise, or whose row was removed); `settle_deliveries` and `delete_event` end it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Row, delete, select, update

from hookline.core.models import (
    AcceptInput,
    EventStatus,
    EventWorkflowInput,
    MatchedWebhook,
    SettleInput,
    accepted_stage,
)
from hookline.core.retry import RetrySpec
from hookline.store.engine import insert_ignoring_duplicates
from hookline.store.matching import match_webhooks, open_deliveries
from hookline.store.settling import settle, stage
from hookline.store.tables import Attempt, Delivery, Event

_EVENTS = Event.__table__


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
) -> list[tuple[MatchedWebhook, Row[Any]]]:
    """The Event row, moved past awaiting-executing, and one pending Delivery per match, in
    the caller's transaction. The API records the row before its 202 (read-your-writes);
    an event started otherwise (or whose row the API removed) gets it inserted here."""
    found = match_webhooks(connection, input, base, verdicts)
    matched = [m for m, _ in found]
    status = EventStatus.EXECUTING if matched else EventStatus.SUCCEEDED
    stages = [
        accepted_stage(input.created),
        stage(EventStatus.EXECUTING, f"matched {len(matched)} webhooks"),
    ]
    moved = connection.execute(
        update(_EVENTS)
        .where(_EVENTS.c.id == input.event_id, _EVENTS.c.status == EventStatus.AWAITING)
        .values(status=status, stages=stages)
    )
    if moved.rowcount == 0:  # not recorded yet, or already past (a second run): keep it
        insert_event(connection, input, status, stages)
    open_deliveries(connection, input, matched)
    return found


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
    return settle(connection, input.event_id, input.outcomes, input.stage)


def delete_event(connection: Connection, event_id: str) -> None:
    for table, column in (
        (Attempt.__table__, Attempt.__table__.c.event_id),
        (Delivery.__table__, Delivery.__table__.c.event_id),
        (Event.__table__, Event.__table__.c.id),
    ):
        connection.execute(delete(table).where(column == event_id))
