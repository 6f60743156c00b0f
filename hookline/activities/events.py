"""Event store activities: record the event, settle its status, expire it."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import delete, select
from temporalio import activity

from hookline.activities.deps import Deps
from hookline.core.models import (
    DeliveryStatus,
    EventStatus,
    ExpireInput,
    RecordEventInput,
    SettleInput,
    SettleOutput,
)
from hookline.core.tables import Attempt, Delivery, Event


def stage(name: str, detail: str = "") -> dict[str, str]:
    return {"stage": name, "at": datetime.now(UTC).isoformat(), "detail": detail}


def event_status(outcomes: list[DeliveryStatus]) -> EventStatus:
    return EventStatus.FAILED if DeliveryStatus.FAILED in outcomes else EventStatus.SUCCEEDED


class EventActivities:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    @activity.defn(name="record_event")
    async def record_event(self, input: RecordEventInput) -> None:
        """Stash the event in the store, state awaiting-executing (idempotent on retry)."""
        async with self.deps.sessions.begin() as session:
            if await session.get(Event, input.event_id) is not None:
                return
            session.add(
                Event(
                    id=input.event_id,
                    tenant_id=input.tenant_id,
                    type=input.type,
                    data=input.data,
                    idempotency_key=input.idempotency_key,
                    created=input.created,
                    expires_at=input.expires_at,
                    status=EventStatus.AWAITING,
                    stages=[stage(EventStatus.AWAITING, "recorded in the event store")],
                )
            )

    @activity.defn(name="settle_event")
    async def settle_event(self, input: SettleInput) -> SettleOutput:
        """Set the event's status from its deliveries' outcomes once a series has finished."""
        status = event_status([o.status for o in input.outcomes])
        async with self.deps.sessions.begin() as session:
            event = await session.get(Event, input.event_id)
            if event is None:
                return SettleOutput(status=status)
            # Deliveries whose activity never reported (e.g. timed out) are settled here.
            by_id = {o.delivery_id: o for o in input.outcomes}
            rows = await session.scalars(select(Delivery).where(Delivery.id.in_(by_id)))
            for row in rows:
                outcome = by_id[row.id]
                if row.status != outcome.status:
                    row.status = outcome.status
                    row.last_error = row.last_error or outcome.error
            all_statuses = (
                await session.scalars(select(Delivery.status).where(Delivery.event_id == event.id))
            ).all()
            status = event_status([DeliveryStatus(s) for s in all_statuses])
            succeeded = sum(o.status == DeliveryStatus.SUCCEEDED for o in input.outcomes)
            detail = f"{succeeded}/{len(input.outcomes)} deliveries succeeded"
            event.status = status
            event.stages = [*event.stages, stage(input.stage, detail)]
        return SettleOutput(status=status)

    @activity.defn(name="expire_event")
    async def expire_event(self, input: ExpireInput) -> None:
        """Retention reached: the payload, deliveries and attempts are deleted for good."""
        async with self.deps.sessions.begin() as session:
            await session.execute(delete(Attempt).where(Attempt.event_id == input.event_id))
            await session.execute(delete(Delivery).where(Delivery.event_id == input.event_id))
            await session.execute(delete(Event).where(Event.id == input.event_id))
