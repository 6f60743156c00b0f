"""Event store activities: accept the event (record + match), settle its status, expire it."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio import activity

from hookline.activities.deps import Deps
from hookline.activities.matching import match_webhooks, open_deliveries
from hookline.core.db import insert_ignoring_duplicates
from hookline.core.models import (
    AcceptInput,
    DeliverOutput,
    DeliveryStatus,
    EventStatus,
    ExpireInput,
    MatchOutput,
    SettleInput,
    SettleOutput,
)
from hookline.core.tables import Attempt, Delivery, Event


def stage(name: str, detail: str = "") -> dict[str, str]:
    return {"stage": name, "at": datetime.now(UTC).isoformat(), "detail": detail}


def event_status(outcomes: list[DeliveryStatus]) -> EventStatus:
    return EventStatus.FAILED if DeliveryStatus.FAILED in outcomes else EventStatus.SUCCEEDED


async def settle(
    session: AsyncSession, event_id: str, outcomes: list[DeliverOutput], stage_name: str
) -> EventStatus | None:
    """Within the caller's transaction: the event's status from all its deliveries (a
    redelivery series may cover only some), plus a stage. None if the event has expired."""
    stages = await session.scalar(select(Event.stages).where(Event.id == event_id))
    if stages is None:
        return None
    statuses = (
        await session.scalars(select(Delivery.status).where(Delivery.event_id == event_id))
    ).all()
    status = event_status([DeliveryStatus(s) for s in statuses])
    succeeded = sum(o.status == DeliveryStatus.SUCCEEDED for o in outcomes)
    detail = f"{succeeded}/{len(outcomes)} deliveries succeeded"
    await session.execute(
        update(Event)
        .where(Event.id == event_id)
        .values(status=status, stages=[*stages, stage(stage_name, detail)])
    )
    return status


class EventActivities:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    @activity.defn(name="accept_event")
    async def accept_event(self, input: AcceptInput) -> MatchOutput:
        """record_event and match_webhooks in one store transaction: the Event row (already
        past awaiting-executing when it is written) and one pending Delivery per match.
        Idempotent: a second run keeps the rows of the first."""
        async with self.deps.sessions.begin() as session:
            matched = await match_webhooks(session, input, self.deps.settings)
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
        return MatchOutput(webhooks=matched)

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
