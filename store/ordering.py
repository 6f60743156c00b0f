"""Ordered delivery: a webhook with `ordering: "fifo"` gets its events one at a time, in
publish order, each after the previous one succeeded or failed for good (docs/DESIGN.md,
"Ordered delivery").

Publish order is the events' `created` (set by the API before its 202), copied onto each
delivery's `created_at`, then the delivery id: events published one after the other (the next
sent after the previous one's 202) go in that order. Admission (store/admission.py) lets a
fifo webhook's delivery go only when
- no other delivery of the webhook is POSTing (a lease), and
- no delivery of the webhook published before it is still pending in a live event, and
- no event of the tenant published before it is still unmatched (its deliveries do not exist
  yet, so whether it is for this webhook is not known).
A delivery refused for its turn waits durably until about when the earlier one's next attempt
is due; the delivery that ends first wakes the next in line with a `turn` signal
(activities/turns.py), so a queue moves at the receiver's pace, not the timers'.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, and_, literal_column, or_, select

from hookline.core.models import DeliveryStatus, EventStatus
from hookline.store.tables import Delivery, Event

FIFO = "fifo"
_DELIVERIES, _EVENTS = Delivery.__table__, Event.__table__
# A literal, not a parameter: the partial index ix_deliveries_pending_by_webhook serves only
# queries whose condition is its own.
_PENDING = _DELIVERIES.c.status == literal_column(f"'{DeliveryStatus.PENDING}'")
# Bounds on a wait for the turn: a turn signal usually ends it sooner. The upper bound keeps a
# delivery waiting behind one that retries for days to a few timers an hour (its history).
TURN_WAIT_MIN = timedelta(seconds=1)
TURN_WAIT_MAX = timedelta(hours=1)


def turn(
    connection: Connection,
    delivery_id: str,
    webhook_id: str,
    busy: int,
    timeout: float,
    now: datetime,
) -> tuple[str, float] | None:
    """None when the delivery's turn has come; else why not, and how long (s) to wait at most
    (a `turn` signal may end the wait sooner)."""
    if busy:
        return "ordered (fifo): another delivery is in flight", _bounded(timedelta(seconds=timeout))
    mine = connection.execute(
        select(_DELIVERIES.c.created_at, _DELIVERIES.c.tenant_id).where(
            _DELIVERIES.c.id == delivery_id
        )
    ).first()
    if mine is None:
        return None
    # The one just before it in line (not the head): a long queue's waits then lengthen along
    # it, instead of every waiting delivery asking at each of the head's attempts.
    before = connection.execute(
        select(_DELIVERIES.c.event_id, _DELIVERIES.c.next_attempt_at)
        .join(_EVENTS, _EVENTS.c.id == _DELIVERIES.c.event_id)
        .where(
            _DELIVERIES.c.webhook_id == webhook_id,
            _PENDING,
            _published_before(mine.created_at, delivery_id),
            _EVENTS.c.expires_at > now,
        )
        .order_by(_DELIVERIES.c.created_at.desc(), _DELIVERIES.c.id.desc())
        .limit(1)
    ).first()
    if before is not None:
        due = _aware(before.next_attempt_at) if before.next_attempt_at else now
        wait = max(due - now, timedelta(0)) + timedelta(seconds=timeout)
        return f"ordered (fifo): after event {before.event_id}", _bounded(wait)
    unmatched = connection.execute(
        select(_EVENTS.c.id)
        .where(
            _EVENTS.c.status == EventStatus.AWAITING,
            _EVENTS.c.tenant_id == mine.tenant_id,
            _EVENTS.c.created < mine.created_at,
            _EVENTS.c.expires_at > now,
        )
        .limit(1)
    ).first()
    if unmatched is not None:
        return f"ordered (fifo): event {unmatched.id} is not matched yet", _bounded(timedelta(0))
    return None


def next_in_line(
    connection: Connection, webhook_ids: list[str], now: datetime
) -> list[tuple[str, str]]:
    """(event id, webhook id): for each webhook, its oldest delivery still pending in a live
    event, the one whose turn comes when the delivery before it ends."""
    found = []
    for webhook_id in sorted(set(webhook_ids)):
        row = connection.execute(
            select(_DELIVERIES.c.event_id)
            .join(_EVENTS, _EVENTS.c.id == _DELIVERIES.c.event_id)
            .where(
                _DELIVERIES.c.webhook_id == webhook_id,
                _PENDING,
                _EVENTS.c.expires_at > now,
            )
            .order_by(_DELIVERIES.c.created_at, _DELIVERIES.c.id)
            .limit(1)
        ).first()
        if row is not None:
            found.append((row.event_id, webhook_id))
    return found


def _published_before(at: datetime, delivery_id: str):
    created, id_ = _DELIVERIES.c.created_at, _DELIVERIES.c.id
    return or_(created < at, and_(created == at, id_ < delivery_id))


def _bounded(wait: timedelta) -> float:
    return min(max(wait, TURN_WAIT_MIN), TURN_WAIT_MAX).total_seconds()


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
