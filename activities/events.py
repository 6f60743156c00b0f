"""Event store activities: accept the event (record + match), settle its status, expire it."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from sqlalchemy import Connection, Row, delete, select, update
from temporalio import activity

from hookline.activities.delivery import DeliveryActivities, EventFacts
from hookline.activities.deps import Deps
from hookline.activities.matching import (
    active_webhooks,
    event_document,
    filter_verdicts,
    match_webhooks,
    open_deliveries,
)
from hookline.activities.settling import event_status, settle, stage
from hookline.core.config import Settings
from hookline.core.db import insert_ignoring_duplicates
from hookline.core.models import (
    AcceptInput,
    DeliverInput,
    EventStatus,
    ExpireInput,
    MatchedWebhook,
    MatchOutput,
    SettleInput,
    SettleOutput,
    accepted_stage,
)
from hookline.core.tables import Attempt, Delivery, Event

# Events whose data is larger than this have their filters evaluated off the event loop.
LARGE_EVENT_BYTES = 16 * 1024


def record_and_match(
    connection: Connection,
    input: AcceptInput,
    settings: Settings,
    verdicts: dict[str, bool] | None = None,
) -> list[tuple[MatchedWebhook, Row[Any]]]:
    """The Event row, moved past awaiting-executing, and one pending Delivery per match, in
    the caller's transaction. The API records the row before its 202 (read-your-writes);
    an event started otherwise (or whose row the API removed) gets it inserted here."""
    found = match_webhooks(connection, input, settings, verdicts)
    matched = [m for m, _ in found]
    status = EventStatus.EXECUTING if matched else EventStatus.SUCCEEDED
    stages = [
        accepted_stage(input.created),
        stage(EventStatus.EXECUTING, f"matched {len(matched)} webhooks"),
    ]
    table = Event.__table__
    moved = connection.execute(
        update(table)
        .where(table.c.id == input.event_id, table.c.status == EventStatus.AWAITING)
        .values(status=status, stages=stages)
    )
    if moved.rowcount == 0:  # not recorded yet, or already past (a second run): keep it
        connection.execute(
            insert_ignoring_duplicates(connection, table),
            {
                "id": input.event_id,
                "tenant_id": input.tenant_id,
                "type": input.type,
                "data": input.data,
                "idempotency_key": input.idempotency_key,
                "created": input.created,
                "expires_at": input.expires_at,
                "status": status,
                "stages": stages,
            },
        )
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
                .values(status=outcome.status, last_error=row.last_error or outcome.error)
            )
    return settle(connection, input.event_id, input.outcomes, input.stage)


def delete_event(connection: Connection, event_id: str) -> None:
    for table, column in (
        (Attempt.__table__, Attempt.__table__.c.event_id),
        (Delivery.__table__, Delivery.__table__.c.event_id),
        (Event.__table__, Event.__table__.c.id),
    ):
        connection.execute(delete(table).where(column == event_id))


class EventActivities:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self.delivery = DeliveryActivities(deps)

    @activity.defn(name="accept_event")
    async def accept_event(self, input: AcceptInput) -> MatchOutput:
        """record_event and match_webhooks in one store transaction; then, if asked,
        attempt 1 to every match (as `deliver_first` does, with the webhook rows just read).
        Idempotent: a second run keeps the rows of the first."""
        verdicts = await self._filters_off_the_loop(input)
        found = await self.deps.store.transaction(
            record_and_match, input, self.deps.settings, verdicts
        )
        matched = [m for m, _ in found]
        if not (input.attempt_first and matched):
            return MatchOutput(webhooks=matched)
        event = EventFacts(input.event_id, input.tenant_id, input.type, input.created, input.data)
        targets = [DeliverInput.of(m, input.event_id, input.tenant_id) for m in matched]
        webhooks = {row.id: row for _, row in found}
        first = await self.delivery.first_attempts(event, targets, webhooks, "delivered")
        return MatchOutput(webhooks=matched, first=first)

    async def _filters_off_the_loop(self, input: AcceptInput) -> dict[str, bool] | None:
        """For a large event, the tenant's filters run in a thread: evaluation is linear
        (RE2, at most 100 nodes) but over 256 KiB of data it can take tens of milliseconds
        per webhook, which would hold the event loop every other tenant's work runs on."""
        if len(orjson.dumps(input.data)) <= LARGE_EVENT_BYTES:
            return None
        rows = await self.deps.store.transaction(active_webhooks, input.tenant_id)
        if not any(row.filter for row in rows):
            return None
        document = event_document(input.type, input.data, input.tenant_id)
        return await asyncio.to_thread(filter_verdicts, rows, document)

    @activity.defn(name="settle_event")
    async def settle_event(self, input: SettleInput) -> SettleOutput:
        """Set the event's status from its deliveries' outcomes once a series has finished."""
        status = await self.deps.store.transaction(settle_deliveries, input)
        if status is None:
            status = event_status([o.status for o in input.outcomes])
        return SettleOutput(status=status)

    @activity.defn(name="expire_event")
    async def expire_event(self, input: ExpireInput) -> None:
        """Retention reached: the payload, deliveries and attempts are deleted for good."""
        await self.deps.store.transaction(delete_event, input.event_id)
