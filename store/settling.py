"""The event's status from its deliveries, and its stage history (within a store transaction)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Connection, bindparam, exists, select, update

from hookline.core.models import DeliverOutput, DeliveryStatus, EventStatus
from hookline.store.tables import Delivery, Event

_EVENTS, _DELIVERIES = Event.__table__, Delivery.__table__
# Built once: they run for every event.
_STAGES_AND_ANY_FAILED = select(
    _EVENTS.c.stages,
    exists()
    .where(
        _DELIVERIES.c.event_id == bindparam("event_id"),
        _DELIVERIES.c.status == DeliveryStatus.FAILED,
    )
    .label("any_failed"),
).where(_EVENTS.c.id == bindparam("event_id"))
_SETTLE = (
    update(_EVENTS)
    .where(_EVENTS.c.id == bindparam("event_id"))
    .values(
        status=bindparam("b_status", type_=_EVENTS.c.status.type),
        stages=bindparam("b_stages", type_=_EVENTS.c.stages.type),
    )
)


def stage(name: str, detail: str = "") -> dict[str, str]:
    return {"stage": name, "at": datetime.now(UTC).isoformat(), "detail": detail}


def event_status(outcomes: list[DeliveryStatus]) -> EventStatus:
    return EventStatus.FAILED if DeliveryStatus.FAILED in outcomes else EventStatus.SUCCEEDED


def settle(
    connection: Connection,
    event_id: str,
    outcomes: list[DeliverOutput],
    stage_name: str,
    detail: str | None = None,
) -> EventStatus | None:
    """Within the caller's transaction: the event's status from all its deliveries (a
    redelivery series may cover only some), plus a stage. None if the event has expired."""
    row = connection.execute(_STAGES_AND_ANY_FAILED, {"event_id": event_id}).first()
    if row is None:
        return None
    stages = row.stages
    status = EventStatus.FAILED if row.any_failed else EventStatus.SUCCEEDED
    if detail is None:
        succeeded = sum(o.status == DeliveryStatus.SUCCEEDED for o in outcomes)
        detail = f"{succeeded}/{len(outcomes)} deliveries succeeded"
    connection.execute(
        _SETTLE,
        {
            "event_id": event_id,
            "b_status": status,
            "b_stages": [*stages, stage(stage_name, detail)],
        },
    )
    return status
