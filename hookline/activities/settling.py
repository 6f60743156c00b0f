"""The event's status from its deliveries, and its stage history (within a store transaction)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Connection, exists, select, update

from hookline.core.models import DeliverOutput, DeliveryStatus, EventStatus
from hookline.core.tables import Delivery, Event


def stage(name: str, detail: str = "") -> dict[str, str]:
    return {"stage": name, "at": datetime.now(UTC).isoformat(), "detail": detail}


def event_status(outcomes: list[DeliveryStatus]) -> EventStatus:
    return EventStatus.FAILED if DeliveryStatus.FAILED in outcomes else EventStatus.SUCCEEDED


def settle(
    connection: Connection, event_id: str, outcomes: list[DeliverOutput], stage_name: str
) -> EventStatus | None:
    """Within the caller's transaction: the event's status from all its deliveries (a
    redelivery series may cover only some), plus a stage. None if the event has expired."""
    events, deliveries = Event.__table__, Delivery.__table__
    any_failed = (
        exists()
        .where(deliveries.c.event_id == event_id, deliveries.c.status == DeliveryStatus.FAILED)
        .label("any_failed")
    )
    row = connection.execute(
        select(events.c.stages, any_failed).where(events.c.id == event_id)
    ).first()
    if row is None:
        return None
    stages = row.stages
    status = EventStatus.FAILED if row.any_failed else EventStatus.SUCCEEDED
    succeeded = sum(o.status == DeliveryStatus.SUCCEEDED for o in outcomes)
    detail = f"{succeeded}/{len(outcomes)} deliveries succeeded"
    connection.execute(
        update(events)
        .where(events.c.id == event_id)
        .values(status=status, stages=[*stages, stage(stage_name, detail)])
    )
    return status
