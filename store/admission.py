"""Admission: at most `max_in_flight` deliveries POSTing to one webhook at once, across every
process, so a slow or dead endpoint never holds more than that of the shared capacity (worker
slots, sockets). A delivery is admitted with a lease row, in the transaction that reads its
webhook, and the lease goes in the transaction that records its attempt; a lease whose
process died mid-POST expires. A delivery not admitted makes no attempt: it waits durably (a
workflow timer) and asks again; refused a slot, it is parked, and the delivery that frees a
slot wakes the oldest parked one (store/ordering.py), so a queue moves at the endpoint's pace
and a thousand waiting deliveries do not poll.

The default cap binds an endpoint that is slow, hangs, or is not known yet: one that answers
fast (its recent attempts took under SLOW on average, the receiver's own time, and none of its
leases is older than STUCK) holds no shared capacity for long, and what would count its leases
up is hookline's own queueing under a burst (the store's writes, the connection pool), which a
cap would only turn into timers and activities. A webhook's own `max_in_flight` binds at any
speed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, bindparam, delete, func, select, update

from hookline.store import ordering
from hookline.store.engine import insert_ignoring_duplicates
from hookline.store.row_gates import locked_rows
from hookline.store.tables import DeliveryLease, Webhook

_LEASES = DeliveryLease.__table__
_WEBHOOKS = Webhook.__table__
# A lease outlives its attempt's limit by this much before another process may reclaim it
# (its process died mid-POST): long enough for the attempt to be recorded.
LEASE_MARGIN = timedelta(seconds=10)
SLOW = timedelta(seconds=1)
# A lease this old means the endpoint stopped answering fast, before any attempt says so.
STUCK = timedelta(seconds=3)
# A parked delivery asks again after this at most, a wake lost or a lease expired.
PARKED_WAIT_MAX = timedelta(minutes=5)
LATENCY_WEIGHT = 0.3  # of the newest attempt in the webhook's moving average of durations


@dataclass(frozen=True)
class Candidate:
    delivery_id: str
    webhook_id: str
    cap: int
    timeout: float  # seconds: the longest its attempt takes (core/retry.py attempt_limit)
    booked: bool = False  # holds a slot of the rate limit, booked when it was refused
    manual: bool = False  # an operator's redelivery: goes through an open circuit
    default_cap: bool = False  # the server's default: binds only while the endpoint is slow
    # A retry of a step whose earlier try ended (failed): a lease it holds is its own to keep.
    retried: bool = False

    @classmethod
    def sized(
        cls, delivery_id: str, webhook_id: str, own_cap: int | None, default_cap: int, **rest
    ) -> Candidate:
        """A webhook's own `max_in_flight` binds at any speed; the default while it is slow."""
        if own_cap:
            return cls(delivery_id, webhook_id, own_cap, **rest)
        return cls(delivery_id, webhook_id, default_cap, default_cap=True, **rest)


@dataclass(frozen=True)
class Refusal:
    reason: str
    wait: float | None = None  # seconds until it can be admitted, when known
    booked: bool = False  # a slot of the rate limit is booked for it, `wait` from now
    # Parked (refused a slot, or behind an earlier event of a fifo webhook): a `turn` signal
    # may end the wait (store/ordering.py).
    turn: bool = False


@dataclass(frozen=True)
class BreakerPolicy:
    """An endpoint whose recent attempts mostly fail is opened: at least `min_attempts` in
    `window`, `failure_ratio` of them failed. Open, its deliveries wait; after `open_for`
    (doubling each time a probe fails, up to `open_for_max`) one probe attempt decides."""

    min_attempts: int = 10
    failure_ratio: float = 0.7
    window: timedelta = timedelta(minutes=5)
    open_for: timedelta = timedelta(seconds=30)
    open_for_max: timedelta = timedelta(hours=1)


HISTORY_KEPT = 20  # breaker transitions kept per webhook

# Run for every step that POSTs, so built once (building a statement costs more than running
# it); on PostgreSQL, the webhook rows are read locked: one admitter per webhook at a time
# (SQLite's writers are serial; store/row_gates.py: at most one per process waits for them).
# Rows are locked in id order, so two transactions locking overlapping webhooks (a fan-out's,
# recorded at once) wait for each other, never deadlock.
_IDS = bindparam("a_ids", expanding=True)
_ADMISSION_ROWS = (
    select(
        _WEBHOOKS.c.id,
        _WEBHOOKS.c.rate_limit,
        _WEBHOOKS.c.rate_tat,
        _WEBHOOKS.c.rate_burst_tat,
        _WEBHOOKS.c.breaker_state,
        _WEBHOOKS.c.breaker_until,
        _WEBHOOKS.c.breaker_history,
        _WEBHOOKS.c.latency_ms,
        _WEBHOOKS.c.ordering,
    )
    .where(_WEBHOOKS.c.id.in_(_IDS))
    .order_by(_WEBHOOKS.c.id)
)
_ACCOUNTED_ROWS = select(_WEBHOOKS).where(_WEBHOOKS.c.id.in_(_IDS)).order_by(_WEBHOOKS.c.id)
_EXPIRED_LEASES = delete(_LEASES).where(
    _LEASES.c.delivery_id.in_(_IDS), _LEASES.c.expires_at <= bindparam("a_now")
)
_LEASES_OF = select(_LEASES.c.delivery_id, _LEASES.c.webhook_id, _LEASES.c.expires_at).where(
    _LEASES.c.webhook_id.in_(_IDS)
)
_RELEASE = delete(_LEASES).where(_LEASES.c.delivery_id.in_(_IDS))
# The columns to set come with the parameters (each set of names compiles once). The
# delivery's own bookkeeping, not a change of the webhook: `updated_at` stays as it is.
_WEBHOOK_CHANGE = (
    update(_WEBHOOKS)
    .where(_WEBHOOKS.c.id == bindparam("a_webhook"))
    .values(updated_at=_WEBHOOKS.c.updated_at)
)


def admit(connection: Connection, candidates: list[Candidate], now: datetime) -> dict[str, Refusal]:
    """Leases for the candidates their webhooks admit, in order; the others, with why. In
    turn: the circuit breaker (open: none; after its time: one probe), the cap on deliveries
    in flight (for a fifo webhook: one, and its turn, store/ordering.py), the rate limit
    (GCRA: one delivery per 1/rate s). A delivery holding a lease already keeps it when its
    step is retried (the earlier try ended); otherwise it waits until the lease ends: another
    run of its step is POSTing it (a run replayed after the worker evicted it mid-POST), or
    died doing so; then it asks again and finds the attempt recorded, or makes it
    (store/attempts.py `recorded`)."""
    if not candidates:
        return {}
    webhook_ids = sorted({c.webhook_id for c in candidates})
    rows = {
        row.id: row
        for row in locked_rows(connection, _ADMISSION_ROWS, webhook_ids, a_ids=webhook_ids)
    }
    held: dict[str, datetime] = {}  # delivery id: its lease's expiry
    in_flight: dict[str, int] = {}
    soonest: dict[str, datetime] = {}  # the expiry of each webhook's oldest lease
    expired: list[str] = []  # leases whose process died mid-POST: reclaimed
    for delivery_id, webhook_id, expires_at in connection.execute(
        _LEASES_OF, {"a_ids": webhook_ids}
    ):
        expires_at = _aware(expires_at)
        if expires_at <= now:
            expired.append(delivery_id)
            continue
        held[delivery_id] = expires_at
        in_flight[webhook_id] = in_flight.get(webhook_id, 0) + 1
        soonest[webhook_id] = min(soonest.get(webhook_id, expires_at), expires_at)
    if expired:  # read with the live ones: the delete runs only when one expired
        connection.execute(_EXPIRED_LEASES, {"a_ids": expired, "a_now": now})
    changes: dict[str, dict] = {}
    granted, refused = [], {}
    for c in candidates:
        if c.delivery_id in held and c.retried:
            continue
        if c.delivery_id in held:  # POSTing in another run of its step, or its process died
            refused[c.delivery_id] = Refusal(
                "throttled: an earlier run of this attempt is still in flight",
                (held[c.delivery_id] - now).total_seconds(),
                turn=True,  # woken when that run records it and gives the slot back
            )
            continue
        row = rows.get(c.webhook_id)
        state = changes.get(c.webhook_id, {})
        breaker = state.get("breaker_state", row.breaker_state if row else CLOSED)
        until = state.get("breaker_until", row.breaker_until if row else None)
        if breaker in (OPEN, HALF_OPEN) and until is not None and now < until and not c.manual:
            why = "circuit open" if breaker == OPEN else "circuit half-open: a probe decides"
            refused[c.delivery_id] = Refusal(f"throttled: {why}", (until - now).total_seconds())
            continue
        count = in_flight.get(c.webhook_id, 0)
        if row is not None and row.ordering == ordering.FIFO:
            waits = ordering.turn(connection, c.delivery_id, c.webhook_id, count, c.timeout, now)
            if waits is not None:
                refused[c.delivery_id] = Refusal(f"throttled: {waits[0]}", waits[1], turn=True)
                continue
        fast = c.default_cap and _answers_fast(row, soonest.get(c.webhook_id), c.timeout, now)
        if count >= c.cap and not fast:
            refused[c.delivery_id] = Refusal(
                f"throttled: {count} deliveries in flight (max {c.cap})",
                parked_wait(connection, c, now),
                turn=True,
            )
            continue
        if row is not None and row.rate_limit:
            refusal = _rate(row, state, c.booked, now)
            changes[c.webhook_id] = state
            if refusal is not None:
                refused[c.delivery_id] = refusal
                continue
        if breaker in (OPEN, HALF_OPEN) and not c.manual:  # its time is up: this one probes
            state["breaker_state"] = HALF_OPEN
            state["breaker_until"] = now + timedelta(seconds=c.timeout) + LEASE_MARGIN
            state["breaker_history"] = _history(row, state, now, "half-open: one probe")
        changes[c.webhook_id] = state
        in_flight[c.webhook_id] = count + 1
        granted.append(c)
    for webhook_id, values in changes.items():
        if values:
            connection.execute(_WEBHOOK_CHANGE, {"a_webhook": webhook_id, **values})
    if granted:
        connection.execute(
            insert_ignoring_duplicates(connection, _LEASES),
            [
                {
                    "delivery_id": c.delivery_id,
                    "webhook_id": c.webhook_id,
                    "expires_at": now + timedelta(seconds=c.timeout) + LEASE_MARGIN,
                }
                for c in granted
            ],
        )
    return refused


def _rate(row, state: dict, booked: bool, now: datetime) -> Refusal | None:
    """The rate limit, two cell-rate checks (GCRA) of one delivery per 1/rate s.

    Slots: a delivery refused books the next slot and comes back at it, booked. The server's
    timers are not finer than about a second, and a loaded server fires them later still, so
    booked slots of two seconds or more could come back together. Admissions: every delivery
    let through, booked or not, also passes a second check over the times it was let through,
    with a second's worth of burst; one refused there comes back when it would pass, keeping
    its slot. So no second (any window of one) sees more than twice the limit, and timers
    that bunch a second's slots together cost nothing: the average rate stays the limit."""
    limit = row.rate_limit
    why = f"throttled: rate limit {limit}/s"
    interval = timedelta(seconds=1 / limit)
    if not booked:
        tat = max(state.get("rate_tat", row.rate_tat) or now, now)
        state["rate_tat"] = tat + interval  # this delivery's slot: now, or booked
        if tat - now >= interval:  # a burst of one; later, it comes back at its slot
            return Refusal(why, (tat - now).total_seconds(), booked=True)
    burst_tat = max(state.get("rate_burst_tat", row.rate_burst_tat) or now, now)
    early = burst_tat - now - (timedelta(seconds=1) - interval)
    if early > timedelta(0):
        return Refusal(why, early.total_seconds(), booked=True)
    state["rate_burst_tat"] = burst_tat + interval
    return None


def parked_wait(connection: Connection, candidate: Candidate, now: datetime) -> float:
    """How long (s) a delivery refused a slot waits at most: by its place among the parked
    deliveries of its webhook, a slot freeing at least every POST's timeout; between 1 s and
    PARKED_WAIT_MAX. The delivery that frees a slot wakes the oldest parked one first
    (store/ordering.py `to_wake`): the timer is for a wake that does not come."""
    ahead = ordering.parked(connection, candidate.webhook_id)
    lease = timedelta(seconds=candidate.timeout) + LEASE_MARGIN
    wait = lease * (ahead // candidate.cap + 1)
    return min(max(wait, ordering.TURN_WAIT_MIN), PARKED_WAIT_MAX).total_seconds()


def _answers_fast(row, soonest: datetime | None, timeout: float, now: datetime) -> bool:
    """Its recent attempts took under SLOW on average, and no lease of it is older than STUCK
    (a lease expires `timeout` + LEASE_MARGIN after it was taken)."""
    if row is None or row.latency_ms is None or row.latency_ms >= SLOW / timedelta(milliseconds=1):
        return False
    return soonest is None or soonest - now > timedelta(seconds=timeout) + LEASE_MARGIN - STUCK


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def account(
    connection: Connection,
    outcomes: list[tuple[str, bool, int]],
    now: datetime,
    policy: BreakerPolicy,
) -> None:
    """Counts recorded attempts (webhook id, succeeded, duration in ms), in one update per
    webhook: when it was last triggered and since when it fails (a success ends a run of
    failures, the first failure of a run starts its clock: auto-disable's), the moving
    average of its durations (admission's speed); for the circuit breaker, a probe closes or
    reopens it; enough failures in the window open it."""
    if not outcomes:
        return
    webhook_ids = sorted({webhook_id for webhook_id, _, _ in outcomes})
    rows = {
        row.id: row
        for row in locked_rows(connection, _ACCOUNTED_ROWS, webhook_ids, a_ids=webhook_ids)
    }
    # Webhooks whose changes set the same columns are updated in one executemany (a fan-out's
    # webhooks mostly do).
    changes: dict[tuple[str, ...], list[dict]] = {}
    for webhook_id in webhook_ids:
        row = rows.get(webhook_id)
        if row is None:
            continue
        results = [ok for wh, ok, _ in outcomes if wh == webhook_id]
        latency = row.latency_ms
        for wh, _, duration in outcomes:
            if wh == webhook_id:
                latency = (
                    duration if latency is None else latency + LATENCY_WEIGHT * (duration - latency)
                )
        values: dict = {}
        if row.breaker_state == HALF_OPEN:  # the probe's answer decides
            if results[-1]:
                values = {"breaker_state": CLOSED, "breaker_until": None, "breaker_opened": 0}
                values["breaker_history"] = _history(row, {}, now, "closed: the probe succeeded")
            else:
                opened = row.breaker_opened + 1
                values = _opened(row, now, policy, opened, "reopened: the probe failed")
            values |= {"window_start": now, "window_attempts": 0, "window_failures": 0}
        else:
            fresh = row.window_start is None or now - row.window_start > policy.window
            start = now if fresh else row.window_start
            attempts = (0 if fresh else row.window_attempts) + len(results)
            failures = (0 if fresh else row.window_failures) + results.count(False)
            values = {
                "window_start": start,
                "window_attempts": attempts,
                "window_failures": failures,
            }
            if row.breaker_state == OPEN and any(results):  # an operator's redelivery got through
                values |= {"breaker_state": CLOSED, "breaker_until": None, "breaker_opened": 0}
                values["breaker_history"] = _history(row, {}, now, "closed: a delivery succeeded")
            elif (
                row.breaker_state == CLOSED
                and attempts >= policy.min_attempts
                and failures >= policy.failure_ratio * attempts
            ):
                reason = f"opened: {failures} of {attempts} attempts failed"
                values |= _opened(row, now, policy, 1, reason)
        values["latency_ms"] = round(latency) if latency is not None else None
        values["last_triggered"] = now
        values["failing_since"] = _failing_since(row.failing_since, results, now)
        changes.setdefault(tuple(values), []).append({"a_webhook": webhook_id, **values})
    for parameters in changes.values():
        connection.execute(_WEBHOOK_CHANGE, parameters)


def _failing_since(since: datetime | None, results: list[bool], now: datetime) -> datetime | None:
    """The start of the webhook's run of failures after these results, in order."""
    for ok in results:
        since = None if ok else since or now
    return since


CLOSED, OPEN, HALF_OPEN = "closed", "open", "half-open"


def _opened(row, now: datetime, policy: BreakerPolicy, opened: int, reason: str) -> dict:
    wait = min(policy.open_for * 2 ** (opened - 1), policy.open_for_max)
    return {
        "breaker_state": OPEN,
        "breaker_until": now + wait,
        "breaker_opened": opened,
        "breaker_history": _history(row, {}, now, f"{reason}; next probe in {wait}"),
    }


def breaker_reset(webhook: Webhook, now: datetime, why: str) -> None:
    """A new endpoint (the webhook's URL changed): the breaker starts closed with an empty
    window, and auto-disable counts failures from now on, not the old URL's."""
    if webhook.breaker_state != CLOSED:
        webhook.breaker_history = _history(webhook, {}, now, f"closed: {why}")
    webhook.breaker_state, webhook.breaker_until, webhook.breaker_opened = CLOSED, None, 0
    webhook.window_start, webhook.window_attempts, webhook.window_failures = None, 0, 0
    webhook.failing_since = None


def _history(row, state: dict, now: datetime, what: str) -> list:
    earlier = state.get("breaker_history", row.breaker_history if row is not None else None)
    return [*(earlier or []), {"at": now.isoformat(), "event": what}][-HISTORY_KEPT:]


def release(connection: Connection, delivery_ids: list[str]) -> None:
    if delivery_ids:
        connection.execute(_RELEASE, {"a_ids": delivery_ids})


def in_flight(connection: Connection, webhook_id: str, now: datetime) -> int:
    """Deliveries POSTing to the webhook now (leases not expired)."""
    return connection.execute(
        select(func.count())
        .select_from(_LEASES)
        .where(_LEASES.c.webhook_id == webhook_id, _LEASES.c.expires_at > now)
    ).scalar_one()
