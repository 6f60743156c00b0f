"""A redelivery asked for, until its first attempt is recorded: concurrent requests for one
delivery schedule it once. The workflow takes a redelivery of a delivery in flight as nothing
to do, and the store shows a delivery in flight only from its first recorded attempt, so
without a claim two requests a moment apart would each be answered "scheduled" for one POST.

A claim is one conditional UPDATE, atomic on both stores; the recording of an attempt (or a
skip) ends it (store/attempts.py). One whose request the workflow never acted on (it was in
flight there after all, a moment before its end) lapses after CLAIM_FOR."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import or_, update
from sqlalchemy.ext.asyncio import AsyncSession

from hookline.core.models import DeliveryStatus
from hookline.store.tables import Delivery

CLAIM_FOR = timedelta(minutes=2)
_BATCH = 500  # ids per statement: far under every store's bound on parameters


async def claim(session: AsyncSession, delivery_ids: list[str], now: datetime) -> set[str]:
    """Those of the deliveries this request claims: ended, and not claimed by another request
    within CLAIM_FOR. Committed at once, so a concurrent request sees them."""
    claimed: set[str] = set()
    for start in range(0, len(delivery_ids), _BATCH):
        rows = await session.execute(
            update(Delivery)
            .where(
                Delivery.id.in_(delivery_ids[start : start + _BATCH]),
                Delivery.status != DeliveryStatus.PENDING,
                or_(
                    Delivery.redelivery_requested_at.is_(None),
                    Delivery.redelivery_requested_at < now - CLAIM_FOR,
                ),
            )
            .values(redelivery_requested_at=now)
            .returning(Delivery.id)
            .execution_options(synchronize_session=False)
        )
        claimed.update(rows.scalars())
    await session.commit()
    return claimed


async def release(session: AsyncSession, delivery_ids: list[str]) -> None:
    """Claims whose request was not sent (the event had expired)."""
    for start in range(0, len(delivery_ids), _BATCH):
        await session.execute(
            update(Delivery)
            .where(Delivery.id.in_(delivery_ids[start : start + _BATCH]))
            .values(redelivery_requested_at=None)
            .execution_options(synchronize_session=False)
        )
    await session.commit()
