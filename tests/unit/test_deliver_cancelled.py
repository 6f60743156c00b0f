"""A later attempt's step cancelled after its POST (its timeout, while the recording waits for
its webhook's row behind another process's transaction) still records the attempt: its retry
then finds it made and does not POST again."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine
from temporalio.testing import ActivityEnvironment

from hookline.activities.delivery import DeliveryActivities
from hookline.core.models import DeliverInput
from hookline.core.retry import RetrySpec
from hookline.process import process_resources
from hookline.store.tables import Attempt, Webhook
from tests.support.events import add_event
from tests.support.receiver import Reply
from tests.support.store import add_webhook


@pytest.fixture
def store_kind() -> str:
    return "postgres"  # the row is held by another process's transaction


async def test_a_later_attempt_cancelled_while_its_recording_waits_is_recorded(
    settings, sessions, tenant, receiver
) -> None:
    receiver.script("/slow", Reply(status=503, delay=1.0))
    webhook = await add_webhook(sessions, tenant.tenant_id, receiver.url("/slow"))
    expires = datetime.now(UTC) + timedelta(days=7)
    event_id, delivery_id = await add_event(
        sessions, tenant.tenant_id, webhook.id, expires, attempted=False
    )
    target = DeliverInput(
        event_id=event_id,
        tenant_id=tenant.tenant_id,
        webhook_id=webhook.id,
        delivery_id=delivery_id,
        retry=RetrySpec(),
        attempt_offset=1,  # attempt 2
    )
    holder = create_async_engine(settings.resolved_database_url)
    try:
        async with process_resources(settings, runs_workflows=False) as resources:
            env = ActivityEnvironment()
            step = asyncio.create_task(env.run(DeliveryActivities(resources.deps).deliver, target))
            await receiver.wait_for(1, "/slow")  # admitted and POSTing: the answer takes 1 s
            async with holder.connect() as elsewhere:
                await elsewhere.begin()
                await elsewhere.execute(
                    select(Webhook.id).where(Webhook.id == webhook.id).with_for_update()
                )
                await asyncio.sleep(1.5)  # answered; the recording waits for the row
                env.cancel()
                with pytest.raises(BaseException) as ended:
                    await asyncio.wait_for(step, 10)
                assert "cancel" in repr(ended.value).lower()
                await elsewhere.rollback()
            for _ in range(100):  # the recording goes on, bounded
                async with sessions() as session:
                    attempts = (await session.scalars(select(Attempt))).all()
                if attempts:
                    break
                await asyncio.sleep(0.1)
    finally:
        await holder.dispose()
    assert [(a.number, a.status_code) for a in attempts] == [(2, 503)]
    assert len(receiver.for_path("/slow")) == 1
