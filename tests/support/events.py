"""Event rows written straight to the store (an event, a delivery, an attempt), for tests of
what reads and the expiry sweep do with them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hookline.core import ids
from hookline.store.engine import SessionMaker
from hookline.store.settling import stage
from hookline.store.tables import Attempt, Delivery, Event


async def add_event(
    sessions: SessionMaker,
    tenant_id: str,
    webhook_id: str,
    expires_at: datetime,
    *,
    attempted: bool = True,
) -> tuple[str, str]:
    """One event with one delivery (failed) and its one attempt; (event id, delivery id).
    Not `attempted`: the event executing (its stage recorded), the delivery pending, no
    attempt yet."""
    event_id = ids.event_id()
    delivery_id = ids.delivery_id(event_id, webhook_id)
    created = min(expires_at, datetime.now(UTC)) - timedelta(days=7)
    async with sessions.begin() as session:
        session.add(
            Event(
                id=event_id,
                tenant_id=tenant_id,
                type="user.created",
                data={"id": "usr_1"},
                created=created,
                expires_at=expires_at,
                status="failed" if attempted else "executing",
                stages=[] if attempted else [stage("executing")],
            )
        )
        await session.flush()  # no ORM relationship orders the inserts
        status = "failed" if attempted else "pending"
        session.add(_delivery(tenant_id, event_id, webhook_id, status, created_at=created))
        await session.flush()
        if attempted:
            attempt = first_attempt(tenant_id, event_id, webhook_id, 500, "fail", created)
            session.add(Attempt(**attempt))
    return event_id, delivery_id


async def add_delivery(
    sessions: SessionMaker, tenant_id: str, event_id: str, webhook_id: str, status: str
) -> str:
    """Another delivery of an event add_event() wrote; its id."""
    row = _delivery(tenant_id, event_id, webhook_id, status)
    async with sessions.begin() as session:
        session.add(row)
    return row.id


def _delivery(
    tenant_id: str, event_id: str, webhook_id: str, status: str, **more: object
) -> Delivery:
    """A delivery row of user.created; one attempt made unless it is pending."""
    return Delivery(
        id=ids.delivery_id(event_id, webhook_id),
        tenant_id=tenant_id,
        event_id=event_id,
        webhook_id=webhook_id,
        event_type="user.created",
        status=status,
        attempts=int(status != "pending"),
        **more,
    )


def first_attempt(
    tenant_id: str, event_id: str, webhook_id: str, status_code: int, outcome: str, at: datetime
) -> dict:
    """The columns of a delivery's attempt 1, of its scheduled series."""
    delivery_id = ids.delivery_id(event_id, webhook_id)
    return {
        "id": ids.attempt_id(delivery_id, 0, 1),
        "tenant_id": tenant_id,
        "delivery_id": delivery_id,
        "event_id": event_id,
        "webhook_id": webhook_id,
        "number": 1,
        "series": 0,
        "trigger": "scheduled",
        "url": "https://example.com/hook",
        "status_code": status_code,
        "outcome": outcome,
        "duration_ms": 3,
        "started_at": at,
    }
