"""A redelivery asked for, until its first attempt is recorded: concurrent requests for one
delivery schedule it once. The workflow takes a redelivery of a delivery in flight as nothing
to do, and the store shows a delivery in flight only from its first recorded attempt, so
without a claim two requests a moment apart would each be answered "scheduled" for one POST.

A claim is one conditional UPDATE, atomic on both stores; the recording of an attempt (or a
skip) ends it (store/attempts.py). One whose request the workflow never acted on (it was in
flight there after all, a moment before its end) lapses after CLAIM_FOR."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

from sqlalchemy import Connection, Update, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from hookline.core.models import DeliveryStatus
from hookline.store.settling import undelivered
from hookline.store.tables import Delivery

CLAIM_FOR = timedelta(minutes=2)
_BATCH = 500  # ids per statement: far under every store's bound on parameters


def _claiming(delivery_ids: list[str], now: datetime, undelivered_only: bool) -> Update:
    """`undelivered_only`: a request that read the deliveries as failed a while before (a bulk
    redelivery's page, a single "redeliver failed") claims only those still undelivered."""
    conditions = [undelivered()] if undelivered_only else []
    return (
        update(Delivery)
        .where(
            Delivery.id.in_(delivery_ids),
            Delivery.status != DeliveryStatus.PENDING,
            or_(
                Delivery.redelivery_requested_at.is_(None),
                Delivery.redelivery_requested_at < now - CLAIM_FOR,
            ),
            *conditions,
        )
        .values(redelivery_requested_at=now)
        .returning(Delivery.id)
        .execution_options(synchronize_session=False)
    )


def _releasing(delivery_ids: list[str]) -> Update:
    return (
        update(Delivery)
        .where(Delivery.id.in_(delivery_ids))
        .values(redelivery_requested_at=None)
        .execution_options(synchronize_session=False)
    )


def _batches(delivery_ids: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(delivery_ids), _BATCH):
        yield delivery_ids[start : start + _BATCH]


async def claim(
    session: AsyncSession, delivery_ids: list[str], now: datetime, undelivered_only: bool
) -> set[str]:
    """Those of the deliveries this request claims: ended, and not claimed by another request
    within CLAIM_FOR. Committed at once, so a concurrent request sees them. "Redeliver failed"
    (`undelivered_only`) also needs each still undelivered: read a moment before, it may
    have been redelivered and delivered since, by a job."""
    claimed: set[str] = set()
    for batch in _batches(delivery_ids):
        claimed.update((await session.execute(_claiming(batch, now, undelivered_only))).scalars())
    await session.commit()
    return claimed


async def release(session: AsyncSession, delivery_ids: list[str]) -> None:
    """Claims whose request was not sent (the event had expired, or Temporal was away)."""
    for batch in _batches(delivery_ids):
        await session.execute(_releasing(batch))
    await session.commit()


def claim_for_job(
    connection: Connection, delivery_ids: list[str], now: datetime, undelivered_only: bool
) -> tuple[set[str], bool]:
    """claim(), in a job's transaction: (those claimed, whether any of the others is in flight:
    pending, or claimed by another request). A bulk redelivery's (`undelivered_only`) also needs
    each still undelivered: its page was read a while ago, and one redelivered and delivered
    since (by a single redelivery, or another job) must not be POSTed again."""
    claimed: set[str] = set()
    for batch in _batches(delivery_ids):
        claimed.update(connection.execute(_claiming(batch, now, undelivered_only)).scalars())
    others = [delivery_id for delivery_id in delivery_ids if delivery_id not in claimed]
    in_flight = any(
        connection.execute(
            select(Delivery.id)
            .where(
                Delivery.id.in_(batch),
                or_(
                    Delivery.status == DeliveryStatus.PENDING,
                    Delivery.redelivery_requested_at >= now - CLAIM_FOR,
                ),
            )
            .limit(1)
        ).first()
        for batch in _batches(others)
    )
    return claimed, in_flight


def release_for_job(connection: Connection, delivery_ids: list[str]) -> None:
    for batch in _batches(delivery_ids):
        connection.execute(_releasing(batch))
