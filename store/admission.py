"""Admission: at most `max_in_flight` deliveries POSTing to one webhook at once, across every
process, so a slow or dead endpoint never holds more than that of the shared capacity (worker
slots, sockets). A delivery is admitted with a lease row, in the transaction that reads its
webhook, and the lease goes in the transaction that records its attempt; a lease whose
process died mid-POST expires. A delivery not admitted makes no attempt: it waits durably (a
workflow timer) and asks again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, delete, func, select

from hookline.store.engine import insert_ignoring_duplicates
from hookline.store.tables import DeliveryLease, Webhook

_LEASES = DeliveryLease.__table__
_WEBHOOKS = Webhook.__table__
# A lease outlives its POST's timeout by this much before another process may reclaim it.
LEASE_MARGIN = timedelta(seconds=30)


@dataclass(frozen=True)
class Candidate:
    delivery_id: str
    webhook_id: str
    cap: int
    timeout: float  # seconds: the POST's own bound


def admit(connection: Connection, candidates: list[Candidate], now: datetime) -> dict[str, str]:
    """Leases for as many candidates as their webhooks' caps allow, in order; the ones not
    admitted, with why. A delivery holding a lease already (a retried activity) keeps it."""
    if not candidates:
        return {}
    webhook_ids = sorted({c.webhook_id for c in candidates})
    if connection.dialect.name == "postgresql":  # one admitter per webhook at a time
        connection.execute(
            select(_WEBHOOKS.c.id).where(_WEBHOOKS.c.id.in_(webhook_ids)).with_for_update()
        )
    connection.execute(
        delete(_LEASES).where(_LEASES.c.webhook_id.in_(webhook_ids), _LEASES.c.expires_at <= now)
    )
    held = dict(
        connection.execute(
            select(_LEASES.c.delivery_id, _LEASES.c.webhook_id).where(
                _LEASES.c.webhook_id.in_(webhook_ids)
            )
        ).all()
    )
    in_flight: dict[str, int] = {}
    for webhook_id in held.values():
        in_flight[webhook_id] = in_flight.get(webhook_id, 0) + 1
    granted, refused = [], {}
    for c in candidates:
        if c.delivery_id in held:
            continue
        count = in_flight.get(c.webhook_id, 0)
        if count >= c.cap:
            refused[c.delivery_id] = f"throttled: {count} deliveries in flight (max {c.cap})"
            continue
        in_flight[c.webhook_id] = count + 1
        granted.append(c)
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


def release(connection: Connection, delivery_ids: list[str]) -> None:
    if delivery_ids:
        connection.execute(delete(_LEASES).where(_LEASES.c.delivery_id.in_(delivery_ids)))


def in_flight(connection: Connection, webhook_id: str, now: datetime) -> int:
    """Deliveries POSTing to the webhook now (leases not expired)."""
    return connection.execute(
        select(func.count())
        .select_from(_LEASES)
        .where(_LEASES.c.webhook_id == webhook_id, _LEASES.c.expires_at > now)
    ).scalar_one()
