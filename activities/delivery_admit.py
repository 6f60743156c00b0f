"""What a delivery step does before its POSTs: load its event and webhooks, tell the targets
to skip, find the attempts a run of this step made already, admit the others
(store/admission.py), and answer for a target not admitted or already attempted."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Row, select

from hookline.core import retry
from hookline.core.models import DeliverInput, DeliverOutput, DeliveryStatus, Trigger
from hookline.delivery.send import event_body
from hookline.store.admission import Candidate, Refusal, admit
from hookline.store.attempts import mark_throttled, recorded
from hookline.store.tables import Event, Webhook


@dataclass(frozen=True)
class EventFacts:
    """What a delivery needs of its event (from the workflow's input or the store)."""

    id: str
    tenant_id: str
    type: str
    created: datetime
    data: dict[str, Any]

    def body(self) -> bytes:
        return event_body(self.id, self.type, self.created, self.data, self.tenant_id)


def load(
    connection: Connection, event_id: str, webhook_ids: list[str]
) -> tuple[EventFacts | None, dict[str, Row[Any]]]:
    """The event (None once expired) and the webhooks of a delivery step."""
    events, hooks = Event.__table__, Webhook.__table__
    row = connection.execute(
        select(
            events.c.id, events.c.tenant_id, events.c.type, events.c.created, events.c.data
        ).where(events.c.id == event_id)
    ).first()
    rows = connection.execute(select(hooks).where(hooks.c.id.in_(webhook_ids)))
    return (EventFacts(*row) if row else None), {webhook.id: webhook for webhook in rows}


def load_and_admit(
    connection: Connection,
    event_id: str,
    targets: list[DeliverInput],
    number: int,
    default_cap: int,
    now: datetime,
    retried: bool = False,
) -> tuple[EventFacts | None, dict[str, Row[Any]], dict[str, Refusal], dict[str, Row[Any]]]:
    """`load`, then `admit_unmade` for the targets that will POST attempt `number` (of their
    series): the refused ones and those already attempted, by delivery id. `retried`: a retry
    of this step, whose earlier try ended (store/admission.py `Candidate`)."""
    event, webhooks = load(connection, event_id, [t.webhook_id for t in targets])
    candidates = [
        Candidate.sized(
            t.delivery_id,
            t.webhook_id,
            webhooks[t.webhook_id].max_in_flight,
            default_cap,
            timeout=retry.attempt_limit(t.retry.timeout),
            booked=t.rate_booked,
            manual=t.trigger == Trigger.MANUAL,
            retried=retried,
        )
        for t in targets
        if skip_reason(t, event, webhooks) is None
    ]
    series = targets[0].series if targets else 0
    refused, made = admit_unmade(connection, candidates, series, number, now)
    return event, webhooks, refused, made


def admit_unmade(
    connection: Connection,
    candidates: list[Candidate],
    series: int,
    number: int,
    now: datetime,
    *,
    first_run: bool = False,
) -> tuple[dict[str, Refusal], dict[str, Row[Any]]]:
    """Leases for the candidates whose attempt `number` of `series` is not recorded yet
    (store/admission.py); those refused (their webhook has its `max_in_flight` POSTing, its
    circuit is open, ...) come back with why, marked throttled; those recorded already (a run
    of this step replayed after its POST) with their recorded attempt, and POST nothing.
    `first_run`: the caller knows no run of this step came before (nothing to look up)."""
    keys = [] if first_run else [(c.delivery_id, series, number) for c in candidates]
    made = recorded(connection, keys)
    refused = admit(connection, [c for c in candidates if c.delivery_id not in made], now)
    mark_throttled(connection, refused, now)
    return refused, made


def already_made(target: DeliverInput, attempt: Row[Any], now: datetime) -> DeliverOutput:
    """The answer of an attempt an earlier run of this step made and recorded: its outcome,
    and for a retry the wait left until the time it recorded."""
    status = {
        retry.Outcome.SUCCESS: DeliveryStatus.SUCCEEDED,
        retry.Outcome.FAIL: DeliveryStatus.FAILED,
    }.get(attempt.outcome, DeliveryStatus.PENDING)
    delay = None
    if status is DeliveryStatus.PENDING:
        due = attempt.next_attempt_at
        if due is None:
            delay = retry.backoff_delay(attempt.number, target.retry)
        else:
            due = due if due.tzinfo is not None else due.replace(tzinfo=now.tzinfo)
            delay = max((due - now) / timedelta(seconds=1), 0.0)
    return DeliverOutput(
        delivery_id=target.delivery_id,
        webhook_id=target.webhook_id,
        status=status,
        attempts=attempt.number,
        status_code=attempt.status_code,
        error=attempt.error,
        retry_delay=delay,
    )


def throttled(target: DeliverInput, refusal: Refusal, made: int) -> DeliverOutput:
    """No attempt: ask again when admission says (an open circuit's next probe, the rate
    limit's next slot), or after a wait that grows with the refusals in a row."""
    draw = random.random()
    if refusal.booked:  # exactly at its slot: the rate holds only if it comes then
        wait = refusal.wait
    elif refusal.wait is not None:
        wait = retry.jittered(refusal.wait, draw)
    else:
        wait = retry.throttle_wait(target.refusals + 1, draw)
    return DeliverOutput(
        delivery_id=target.delivery_id,
        webhook_id=target.webhook_id,
        status=DeliveryStatus.PENDING,
        attempts=made,
        error=refusal.reason,
        retry_delay=wait,
        throttled=True,
        rate_booked=refusal.booked,
        awaits_turn=refusal.turn,
    )


def skip_reason(
    target: DeliverInput, event: EventFacts | None, webhooks: dict[str, Row[Any]]
) -> str | None:
    """Why a target is not attempted (its event expired, its webhook deleted or inactive)."""
    webhook = webhooks.get(target.webhook_id)
    if event is None:
        return "event expired"
    if webhook is None or webhook.tenant_id != target.tenant_id:
        return "webhook deleted"
    if webhook.status != "active":
        return f"webhook {webhook.status}"
    return None
