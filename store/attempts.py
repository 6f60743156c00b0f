"""Store writes of delivery attempts: one transaction for however many attempts a step made.

The first attempts of a fan-out (10 webhooks) are written together: one INSERT of the
Attempts, one executemany UPDATE of the Deliveries and one of the Webhooks, instead of three
transactions per attempt.

What a receiver wrote (the body excerpt, an error text quoting it) is kept only as text every
store and every workflow payload takes: `send()` makes it so, and an `AttemptRecord` makes it
so again, whoever built its result, because one value PostgreSQL refuses (a NUL) fails the
whole batch (every target's attempt unrecorded, and the step's retry POSTs them all again),
and one a payload cannot encode (a lone surrogate) fails the step after its POSTs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, Row, bindparam, func, select, update

from hookline.core.ids import attempt_id
from hookline.core.models import (
    DeliverInput,
    DeliveryStatus,
    SendResult,
    storable_result,
    utc_text,
)
from hookline.core.retry import THROTTLE_WAIT, Decision, Outcome
from hookline.store.admission import BreakerPolicy, Refusal, account, release
from hookline.store.engine import insert_ignoring_duplicates
from hookline.store.tables import Attempt, Delivery, UTCDateTime, Webhook

# How many times in a row a delivery may wait for want of a connection before such a request
# uses up an attempt (`AttemptRecord.waits`).
NOT_SENT_WAITS = 3


@dataclass
class AttemptRecord:
    target: DeliverInput
    url: str
    number: int
    result: SendResult
    decision: Decision
    failing_since: datetime | None  # the webhook's, as loaded before the attempt

    def __post_init__(self) -> None:
        # Stored, and in the activity's output and errors: storable, whoever built the result.
        self.result = storable_result(self.result)

    @property
    def waits(self) -> bool:
        """A request that never got one of its process's connections (all held by slow
        receivers) reached no receiver: no attempt is recorded or used up, and its delivery
        waits and asks again, as one refused admission does. Only the first few times in a
        row: each wait adds to the workflow's history, which a process saturated for hours
        would otherwise fill; after them such a request is an attempt (still not held
        against its receiver: breaker, latency and auto-disable skip it)."""
        return not self.result.sent and self.target.refusals < NOT_SENT_WAITS

    @property
    def delivery_status(self) -> DeliveryStatus:
        if self.decision.outcome is Outcome.SUCCESS:
            return DeliveryStatus.SUCCEEDED
        if self.decision.outcome is Outcome.FAIL:
            return DeliveryStatus.FAILED
        return DeliveryStatus.PENDING

    def next_attempt_at(self, now: datetime) -> datetime | None:
        """When the retry this attempt asked for is due, or None when it asked for none.

        The decision's delay is the one the workflow waits: its timer after attempt 1
        (`retry_delay`), the `next_retry_delay` of a Retry-After, or Temporal's RetryPolicy for
        later attempts, whose schedule is core/retry.py's `backoff_delay` (`retries_policy`).
        Counted from `now`, the recording; the workflow starts waiting a moment later."""
        if self.decision.outcome is not Outcome.RETRY or self.decision.delay is None:
            return None
        return now + timedelta(seconds=self.decision.delay)


def not_sent(record: AttemptRecord) -> Refusal:
    """Why a delivery whose request never got a connection waits (`AttemptRecord.waits`)."""
    return Refusal(record.result.error or "not sent")


def failing_too_long(record: AttemptRecord, cutoff: datetime) -> bool:
    """A failed attempt of a webhook that has failed every attempt since before `cutoff`."""
    since = record.failing_since
    failed = record.decision.outcome is not Outcome.SUCCESS and record.result.sent
    return failed and since is not None and since <= cutoff


_NOW = bindparam("b_now", type_=UTCDateTime())
_DELIVERY_UPDATE = (
    update(Delivery.__table__)
    .where(Delivery.__table__.c.id == bindparam("b_id"))
    .values(
        status=bindparam("b_status"),
        attempts=Delivery.__table__.c.attempts + 1,
        last_status_code=bindparam("b_code"),
        last_error=bindparam("b_error"),
        updated_at=_NOW,
        delivered_at=func.coalesce(
            bindparam("b_delivered", type_=UTCDateTime()), Delivery.__table__.c.delivered_at
        ),
        next_attempt_at=bindparam("b_next", type_=UTCDateTime()),
        parked=False,
        redelivery_requested_at=None,  # attempted: a claim (store/claims.py) has done its work
    )
)


def record_attempts(
    connection: Connection,
    records: list[AttemptRecord],
    now: datetime,
    disable_cutoff: datetime,
    breaker: BreakerPolicy,
) -> list[AttemptRecord]:
    """Writes the attempts and their effects (their admission leases released, their
    webhooks' accounts: store/admission.py `account`); returns those whose webhook it
    auto-disabled. A request that never got a connection and `waits` made no attempt: its
    delivery is throttled, as one not admitted is."""
    if not records:
        return []
    # The webhooks' rows first (`account` locks them, in id order), then the leases: the
    # order admission takes them in, so the two never wait on each other in a cycle (on
    # PostgreSQL a lease deleted first deadlocked with an admission reclaiming it).
    attempted = [r for r in records if not r.waits]
    account(
        connection,
        [
            (r.target.webhook_id, r.decision.outcome is Outcome.SUCCESS, r.result.duration_ms)
            for r in attempted
            if r.result.sent  # one never sent says nothing of its receiver
        ],
        now,
        breaker,
    )
    release(connection, [r.target.delivery_id for r in records])
    mark_throttled(connection, {r.target.delivery_id: not_sent(r) for r in records if r.waits}, now)
    records = attempted
    if not records:
        return []
    connection.execute(
        insert_ignoring_duplicates(connection, Attempt.__table__),
        [
            {
                "id": attempt_id(r.target.delivery_id, r.target.series, r.number),
                "tenant_id": r.target.tenant_id,
                "delivery_id": r.target.delivery_id,
                "event_id": r.target.event_id,
                "webhook_id": r.target.webhook_id,
                "number": r.number,
                "series": r.target.series,
                "trigger": r.target.trigger,
                "url": r.url,
                "status_code": r.result.status_code,
                "response_body": r.result.body,
                "error": r.result.error,
                "outcome": r.decision.outcome,
                "duration_ms": r.result.duration_ms,
                "started_at": r.result.started_at,
                "request_headers": r.result.request_headers,
                "response_headers": r.result.response_headers,
            }
            for r in records
        ],
    )
    connection.execute(
        _DELIVERY_UPDATE,
        [
            {
                "b_id": r.target.delivery_id,
                "b_status": r.delivery_status,
                "b_code": r.result.status_code,
                "b_error": r.result.error,
                "b_now": now,
                "b_delivered": now if r.decision.outcome is Outcome.SUCCESS else None,
                "b_next": r.next_attempt_at(now),
            }
            for r in records
        ],
    )
    disabled = []
    for r in records:
        if r.decision.deactivate:
            connection.execute(
                update(Webhook.__table__)
                .where(Webhook.id == r.target.webhook_id)
                .values(
                    status="inactive",
                    status_reason=f"{r.decision.reason} at {utc_text(now, 'seconds')}",
                )
            )
        elif failing_too_long(r, disable_cutoff):
            assert r.failing_since is not None
            # Guarded again in SQL: a success since the load resets the clock.
            answer = connection.execute(
                update(Webhook.__table__)
                .where(
                    Webhook.id == r.target.webhook_id,
                    Webhook.status == "active",
                    Webhook.failing_since <= disable_cutoff,
                )
                .values(
                    status="inactive",
                    status_reason="disabled: every attempt failed since "
                    + r.failing_since.isoformat(),
                )
            )
            if answer.rowcount == 1:
                disabled.append(r)
                # Not retried: the workflow settles it failed.
                connection.execute(
                    update(Delivery.__table__)
                    .where(Delivery.id == r.target.delivery_id)
                    .values(next_attempt_at=None)
                )
    return disabled


def recorded(connection: Connection, keys: list[tuple[str, int, int]]) -> dict[str, Row]:
    """The attempts already recorded among `keys` (delivery id, series, number), by delivery
    id, with their delivery's `next_attempt_at`: a step run again (replayed after its run was
    evicted mid-POST, or retried after the store failed) answers with those, never POSTs them
    again (their ids are derived, core/ids.py `attempt_id`)."""
    if not keys:
        return {}
    attempts, deliveries = Attempt.__table__, Delivery.__table__
    rows = connection.execute(
        select(
            attempts.c.delivery_id,
            attempts.c.number,
            attempts.c.outcome,
            attempts.c.status_code,
            attempts.c.error,
            deliveries.c.next_attempt_at,
        )
        .join(deliveries, deliveries.c.id == attempts.c.delivery_id)
        .where(attempts.c.id.in_([attempt_id(*key) for key in keys]))
    )
    return {row.delivery_id: row for row in rows}


def restamp_retries(connection: Connection, records: list[AttemptRecord], now: datetime) -> None:
    """Of attempts recorded before their step ended (a slow receiver beside them), those that
    asked for a retry: its wait starts when the step ends, so it is due from `now`. One that
    got no connection (`waits`) keeps the wait it was throttled with."""
    due = [(r.target.delivery_id, r.next_attempt_at(now)) for r in records if not r.waits]
    retrying = [{"r_id": delivery, "r_next": at} for delivery, at in due if at is not None]
    if retrying:
        connection.execute(_RESTAMP, retrying)


_RESTAMP = (
    update(Delivery.__table__)
    .where(
        Delivery.id == bindparam("r_id"),
        Delivery.status == DeliveryStatus.PENDING,
    )
    .values(next_attempt_at=bindparam("r_next", type_=UTCDateTime()))
)


def mark_throttled(connection: Connection, throttled: dict[str, Refusal], now: datetime) -> None:
    """Deliveries (by id) not admitted: no attempt made, why, and when they ask again. Pending
    again if a redelivery's series found them failed: in flight for the API, and in line for
    the wakes and the turns (store/ordering.py), which look among pending deliveries."""
    for delivery, refusal in throttled.items():
        wait = refusal.wait if refusal.wait is not None else THROTTLE_WAIT
        connection.execute(
            update(Delivery.__table__)
            .where(Delivery.id == delivery)
            .values(
                status=DeliveryStatus.PENDING,
                last_error=refusal.reason,
                updated_at=now,
                next_attempt_at=now + timedelta(seconds=wait),
                parked=refusal.turn,
            )
        )


def mark_skipped(connection: Connection, skipped: dict[str, str], now: datetime) -> None:
    """Deliveries (by id) that were not attempted, with why."""
    for delivery, reason in skipped.items():
        connection.execute(
            update(Delivery.__table__)
            .where(Delivery.id == delivery)
            .values(
                status=DeliveryStatus.SKIPPED,
                last_error=reason,
                updated_at=now,
                next_attempt_at=None,
                redelivery_requested_at=None,
            )
        )
