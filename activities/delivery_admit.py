"""What a delivery step does before its POSTs: load its event and webhooks, tell the targets
to skip, admit the others (store/admission.py), and answer for a target not admitted."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, select

from hookline.core import retry
from hookline.core.models import DeliverInput, DeliverOutput, DeliveryStatus, Trigger
from hookline.delivery.send import event_body
from hookline.store.admission import Candidate, Refusal, admit
from hookline.store.attempts import mark_throttled
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
    default_cap: int,
    now: datetime,
) -> tuple[EventFacts | None, dict[str, Row[Any]], dict[str, Refusal]]:
    """`load`, then leases for the targets that will POST (store/admission.py): those refused
    (their webhook has its `max_in_flight` POSTing) come back with why, marked throttled."""
    event, webhooks = load(connection, event_id, [t.webhook_id for t in targets])
    candidates = [
        Candidate.sized(
            t.delivery_id,
            t.webhook_id,
            webhooks[t.webhook_id].max_in_flight,
            default_cap,
            timeout=t.retry.timeout,
            booked=t.rate_booked,
            manual=t.trigger == Trigger.MANUAL,
        )
        for t in targets
        if skip_reason(t, event, webhooks) is None
    ]
    refused = admit(connection, candidates, now)
    mark_throttled(connection, refused, now)
    return event, webhooks, refused


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
