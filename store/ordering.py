"""Turns: deliveries that wait for a slot of their webhook or for their turn (fifo), and the
delivery that wakes them (docs/DESIGN.md, "Ordered delivery" and "admission").

Ordered delivery: a webhook with `ordering: "fifo"` gets its events one at a time, in
publish order, each after the previous one succeeded or failed for good.

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

Parked: a delivery refused a slot (store/admission.py) or its turn waits on a long timer;
each delivery that gives back a slot wakes the oldest parked delivery of its webhook.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import (
    Connection,
    and_,
    bindparam,
    exists,
    func,
    literal_column,
    or_,
    select,
    true,
    update,
)

from hookline.core.models import DeliveryStatus, EventStatus
from hookline.store.tables import Delivery, DeliveryLease, Event, UTCDateTime

FIFO = "fifo"
_DELIVERIES, _EVENTS, _LEASES = Delivery.__table__, Event.__table__, DeliveryLease.__table__
# Literals, not parameters: the partial indexes ix_deliveries_pending_by_webhook and
# ix_deliveries_parked_by_webhook serve only queries whose condition is their own.
_PENDING = _DELIVERIES.c.status == literal_column(f"'{DeliveryStatus.PENDING}'")
_PARKED = _DELIVERIES.c.parked.is_(true())
# Bounds on a wait for the turn: a turn signal usually ends it sooner. The upper bound keeps a
# delivery waiting behind one that retries for days to a few timers an hour (its history).
TURN_WAIT_MIN = timedelta(seconds=1)
TURN_WAIT_MAX = timedelta(hours=1)
# A woken delivery asks again within seconds; one that has not by then is woken again: its
# signal was lost (the process that woke it died between the recording and the signal).
WAKE_LOST_AFTER = timedelta(seconds=10)


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


def parked(connection: Connection, webhook_id: str) -> int:
    """How many of the webhook's pending deliveries are parked (waiting for a slot or a turn)."""
    return connection.execute(
        select(func.count())
        .select_from(_DELIVERIES)
        .where(_DELIVERIES.c.webhook_id == webhook_id, _PENDING, _PARKED)
    ).scalar_one()


def woken_by(
    connection: Connection,
    ended: list[str],
    freed: list[str],
    fifo: set[str],
    now: datetime,
) -> list[tuple[str, str]]:
    """In the transaction that records attempts: the deliveries to wake because deliveries to
    the `ended` webhooks ended and those to the `freed` ones gave back their slot (`fifo`: the
    webhooks delivered in order, whose turn comes when one ends). Read from the store as it is
    now, not from what the webhook looked like when the delivery was admitted: any webhook
    may have parked deliveries (a lease thought stuck binds the default cap of a fast one)."""
    turned = sorted({webhook_id for webhook_id in ended if webhook_id in fifo})
    slots = [webhook_id for webhook_id in freed if webhook_id not in fifo]
    return to_wake(connection, turned, slots, now) if turned or slots else []


def to_wake(
    connection: Connection, turned: list[str], freed: list[str], now: datetime
) -> list[tuple[str, str]]:
    """(event id, webhook id) of the deliveries to wake: for each fifo webhook in `turned` (a
    delivery of it ended), its oldest pending delivery, whose turn has come; for each webhook
    in `freed` (a delivery of it gave back its slot), its oldest parked delivery, marked as
    asking now (`next_attempt_at`) so that the next slot freed wakes the next one. It stays
    parked until it asks (admitted and recorded, or parked again): a wake whose signal was
    lost is given again after WAKE_LOST_AFTER."""
    found = []
    for webhook_id in sorted(set(turned)):
        row = connection.execute(_oldest(webhook_id, now)).first()
        if row is not None:
            found.append((row.event_id, webhook_id))
    # Two freed slots wake two deliveries on PostgreSQL too: the first one's row is skipped.
    parked = _OLDEST_PARKED_LOCKED if connection.dialect.name == "postgresql" else _OLDEST_PARKED
    for webhook_id in freed:
        row = connection.execute(
            parked, {"p_webhook": webhook_id, "p_now": now, "p_lost": now - WAKE_LOST_AFTER}
        ).first()
        if row is not None:
            connection.execute(_WOKEN, {"w_id": row.id, "w_now": now})
            found.append((row.event_id, webhook_id))
    return found


def _oldest(webhook_id: str, now: datetime):
    """The webhook's oldest pending delivery in a live event (publish order)."""
    return (
        select(_DELIVERIES.c.id, _DELIVERIES.c.event_id)
        .join(_EVENTS, _EVENTS.c.id == _DELIVERIES.c.event_id)
        .where(_DELIVERIES.c.webhook_id == webhook_id, _PENDING, _EVENTS.c.expires_at > now)
        .order_by(_DELIVERIES.c.created_at, _DELIVERIES.c.id)
        .limit(1)
    )


# The webhook's oldest parked delivery in a live event that is not asking already: not woken
# within WAKE_LOST_AFTER (a wake sets `next_attempt_at` to its time; a park, to the end of the
# wait), and not POSTing (admitted, its lease held). Run after every attempt recorded, so
# built once (building a statement costs more than running it); the parked deliveries have an
# index of their own: a dead endpoint's thousands of retrying deliveries are pending, and
# every slot it frees looks for a parked one.
_NOW = bindparam("p_now", type_=UTCDateTime())
_WAKE_DUE = _DELIVERIES.c.next_attempt_at
_OLDEST_PARKED = (
    select(_DELIVERIES.c.id, _DELIVERIES.c.event_id)
    .join(_EVENTS, _EVENTS.c.id == _DELIVERIES.c.event_id)
    .where(
        _DELIVERIES.c.webhook_id == bindparam("p_webhook"),
        _PENDING,
        _PARKED,
        _EVENTS.c.expires_at > _NOW,
        or_(
            _WAKE_DUE.is_(None),
            _WAKE_DUE > _NOW,
            _WAKE_DUE <= bindparam("p_lost", type_=UTCDateTime()),
        ),
        ~exists().where(_LEASES.c.delivery_id == _DELIVERIES.c.id, _LEASES.c.expires_at > _NOW),
    )
    .order_by(_DELIVERIES.c.created_at, _DELIVERIES.c.id)
    .limit(1)
)
_OLDEST_PARKED_LOCKED = _OLDEST_PARKED.with_for_update(of=_DELIVERIES, skip_locked=True)
_WOKEN = (
    update(_DELIVERIES)
    .where(_DELIVERIES.c.id == bindparam("w_id"))
    .values(next_attempt_at=bindparam("w_now", type_=UTCDateTime()))
)


def _published_before(at: datetime, delivery_id: str):
    created, id_ = _DELIVERIES.c.created_at, _DELIVERIES.c.id
    return or_(created < at, and_(created == at, id_ < delivery_id))


def _bounded(wait: timedelta) -> float:
    return min(max(wait, TURN_WAIT_MIN), TURN_WAIT_MAX).total_seconds()


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
