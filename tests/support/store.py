"""Direct store helpers for workflow tests (the API tests go through the API)."""

from __future__ import annotations

from sqlalchemy import select

from hookline.core import ids, signing
from hookline.store.engine import SessionMaker
from hookline.store.tables import Attempt, Delivery, Event, Webhook


async def add_webhook(
    sessions: SessionMaker,
    tenant_id: str,
    url: str,
    *,
    events: list[str] | None = None,
    filter: dict | None = None,
    retry: dict | None = None,
    secret: str | None = None,
) -> Webhook:
    webhook = Webhook(
        id=ids.webhook_id(),
        tenant_id=tenant_id,
        url=url,
        events=events or ["user.created"],
        filter=filter,
        retry_policy=retry,
        secret=secret or signing.new_secret(),
    )
    async with sessions.begin() as session:
        session.add(webhook)
    return webhook


async def get_webhook(sessions: SessionMaker, webhook_id: str) -> Webhook | None:
    async with sessions() as session:
        return await session.get(Webhook, webhook_id)


async def event_rows(sessions: SessionMaker, event_id: str):
    """(event, deliveries by webhook id, attempts in order)."""
    async with sessions() as session:
        event = await session.get(Event, event_id)
        deliveries = (
            await session.scalars(select(Delivery).where(Delivery.event_id == event_id))
        ).all()
        attempts = (
            await session.scalars(
                select(Attempt)
                .where(Attempt.event_id == event_id)
                .order_by(Attempt.series, Attempt.number)
            )
        ).all()
    return event, {d.webhook_id: d for d in deliveries}, list(attempts)
