"""Event store activities: accept the event (record + match), settle its status, expire it."""

from __future__ import annotations

from sqlalchemy import delete, select
from temporalio import activity

from hookline.activities.delivery import DeliveryActivities
from hookline.activities.deps import Deps
from hookline.activities.matching import match_webhooks, open_deliveries
from hookline.activities.settling import event_status, settle, stage
from hookline.core.db import insert_ignoring_duplicates
from hookline.core.models import (
    AcceptInput,
    DeliverInput,
    EventStatus,
    ExpireInput,
    MatchOutput,
    SettleInput,
    SettleOutput,
)
from hookline.core.tables import Attempt, Delivery, Event


class EventActivities:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self.delivery = DeliveryActivities(deps)

    @activity.defn(name="accept_event")
    async def accept_event(self, input: AcceptInput) -> MatchOutput:
        """record_event and match_webhooks in one store transaction: the Event row (already
        past awaiting-executing when it is written) and one pending Delivery per match; then,
        if asked, attempt 1 to every match (as `deliver_first` does, without reading back
        what was just written). Idempotent: a second run keeps the rows of the first."""
        async with self.deps.sessions.begin() as session:
            found = await match_webhooks(session, input, self.deps.settings)
            matched = [m for m, _ in found]
            status = EventStatus.EXECUTING if matched else EventStatus.SUCCEEDED
            await session.execute(
                insert_ignoring_duplicates(session, Event.__table__).values(
                    id=input.event_id,
                    tenant_id=input.tenant_id,
                    type=input.type,
                    data=input.data,
                    idempotency_key=input.idempotency_key,
                    created=input.created,
                    expires_at=input.expires_at,
                    status=status,
                    stages=[
                        stage(EventStatus.AWAITING, "recorded in the event store"),
                        stage(EventStatus.EXECUTING, f"matched {len(matched)} webhooks"),
                    ],
                )
            )
            await open_deliveries(session, input, matched)
        if not (input.attempt_first and matched):
            return MatchOutput(webhooks=matched)
        event = Event(
            id=input.event_id,
            tenant_id=input.tenant_id,
            type=input.type,
            data=input.data,
            created=input.created,
        )
        targets = [
            DeliverInput(
                event_id=input.event_id,
                tenant_id=input.tenant_id,
                webhook_id=m.webhook_id,
                delivery_id=m.delivery_id,
                retry=m.retry,
            )
            for m in matched
        ]
        webhooks = {row.id: row for _, row in found}
        first = await self.delivery.first_attempts(event, targets, webhooks, "delivered")
        return MatchOutput(webhooks=matched, first=first)

    @activity.defn(name="settle_event")
    async def settle_event(self, input: SettleInput) -> SettleOutput:
        """Set the event's status from its deliveries' outcomes once a series has finished."""
        async with self.deps.sessions.begin() as session:
            # Deliveries whose activity never reported (e.g. timed out) are settled here.
            by_id = {o.delivery_id: o for o in input.outcomes}
            rows = await session.scalars(select(Delivery).where(Delivery.id.in_(by_id)))
            for row in rows:
                outcome = by_id[row.id]
                if row.status != outcome.status:
                    row.status = outcome.status
                    row.last_error = row.last_error or outcome.error
            await session.flush()
            status = await settle(session, input.event_id, input.outcomes, input.stage)
        if status is None:
            status = event_status([o.status for o in input.outcomes])
        return SettleOutput(status=status)

    @activity.defn(name="expire_event")
    async def expire_event(self, input: ExpireInput) -> None:
        """Retention reached: the payload, deliveries and attempts are deleted for good."""
        async with self.deps.sessions.begin() as session:
            await session.execute(delete(Attempt).where(Attempt.event_id == input.event_id))
            await session.execute(delete(Delivery).where(Delivery.event_id == input.event_id))
            await session.execute(delete(Event).where(Event.id == input.event_id))
