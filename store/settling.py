"""The event's status from its deliveries, and its stage history (within a store transaction);
and which ended deliveries a redelivery can still make."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import ColumnElement, Connection, and_, bindparam, exists, or_, select, update

from hookline.core.models import DeliverOutput, DeliveryStatus, EventStatus
from hookline.store.tables import Delivery, Event, Webhook

_EVENTS, _DELIVERIES, _WEBHOOKS = Event.__table__, Delivery.__table__, Webhook.__table__
# Ended without reaching the receiver: what "redeliver failed" looks at.
NOT_DELIVERED = (DeliveryStatus.FAILED, DeliveryStatus.SKIPPED)


def undelivered() -> ColumnElement[bool]:
    """A delivery that ended without reaching its receiver while its webhook still exists:
    failed, or skipped because its webhook was deactivated (mid-retry or while it waited for
    a slot). Such a delivery makes its event `failed`, and "redeliver failed" takes it once
    its webhook is active again. A skip because the webhook was deleted does neither: that
    subscription is gone."""
    d = _DELIVERIES.c
    return or_(
        d.status == DeliveryStatus.FAILED,
        and_(
            d.status == DeliveryStatus.SKIPPED,
            exists(select(1).where(_WEBHOOKS.c.id == d.webhook_id)),
        ),
    )


def is_undelivered(status: DeliveryStatus, webhook_exists: bool) -> bool:
    """undelivered() for one delivery already loaded."""
    return status == DeliveryStatus.FAILED or (status == DeliveryStatus.SKIPPED and webhook_exists)


def is_redeliverable(status: DeliveryStatus, webhook_status: str | None) -> bool:
    """redeliverable() for one delivery already loaded (webhook_status None: deleted)."""
    return status in NOT_DELIVERED and webhook_status == "active"


def redeliverable() -> ColumnElement[bool]:
    """What "redeliver failed" sends now: an undelivered delivery whose webhook is active
    (an inactive webhook's delivery would only be skipped again)."""
    d = _DELIVERIES.c
    return and_(
        d.status.in_(NOT_DELIVERED),
        exists(select(1).where(_WEBHOOKS.c.id == d.webhook_id, _WEBHOOKS.c.status == "active")),
    )


# Built once: they run for every event.
_STAGES_AND_ANY_UNDELIVERED = select(
    _EVENTS.c.stages,
    exists()
    .where(_DELIVERIES.c.event_id == bindparam("event_id"), undelivered())
    .label("any_undelivered"),
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
    """For an event no longer in the store (expired): from the series' outcomes alone."""
    return EventStatus.FAILED if DeliveryStatus.FAILED in outcomes else EventStatus.SUCCEEDED


def settled_detail(outcomes: list[DeliverOutput]) -> str:
    succeeded = sum(o.status == DeliveryStatus.SUCCEEDED for o in outcomes)
    skipped = sum(o.status == DeliveryStatus.SKIPPED for o in outcomes)
    detail = f"{succeeded}/{len(outcomes)} deliveries succeeded"
    return detail + (f", {skipped} skipped" if skipped else "")


def settle(
    connection: Connection,
    event_id: str,
    outcomes: list[DeliverOutput],
    stage_name: str,
    detail: str | None = None,
) -> EventStatus | None:
    """Within the caller's transaction: the event's status from all its deliveries (a
    redelivery series may cover only some), plus a stage. None if the event has expired."""
    row = connection.execute(_STAGES_AND_ANY_UNDELIVERED, {"event_id": event_id}).first()
    if row is None:
        return None
    stages = row.stages
    status = EventStatus.FAILED if row.any_undelivered else EventStatus.SUCCEEDED
    if detail is None:
        detail = settled_detail(outcomes)
    connection.execute(
        _SETTLE,
        {
            "event_id": event_id,
            "b_status": status,
            "b_stages": [*stages, stage(stage_name, detail)],
        },
    )
    return status
