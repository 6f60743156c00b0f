"""A request that never got one of its process's connections was not sent: no attempt is
recorded or used up (its delivery is throttled, with why), and it says nothing of its
receiver, so the webhook's failure clock (auto-disable), its circuit breaker and its moving
latency do not count it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from hookline.core.models import DeliverInput, SendResult
from hookline.core.retry import RetrySpec, decide
from hookline.store.admission import BreakerPolicy
from hookline.store.attempts import NOT_SENT_WAITS, AttemptRecord, record_attempts
from hookline.store.tables import Attempt, Delivery, Webhook
from tests.support.events import add_event
from tests.support.store import add_webhook

SPEC = RetrySpec()
NOT_SENT = "not sent: all 100 connections of this process stayed busy for 15s"


async def attempt_of(
    sessions, tenant_id: str, webhook_id: str, result: SendResult, refusals: int = 0
):
    far = datetime.now(UTC) + timedelta(days=7)
    event_id, delivery_id = await add_event(sessions, tenant_id, webhook_id, far, attempted=False)
    target = DeliverInput(
        event_id=event_id,
        tenant_id=tenant_id,
        webhook_id=webhook_id,
        delivery_id=delivery_id,
        retry=SPEC,
        refusals=refusals,
    )
    decision = decide(result.status_code, 1, SPEC)
    return AttemptRecord(target, "https://example.com/hook", 1, result, decision, None)


async def test_an_attempt_never_sent_is_not_recorded_nor_held_against_the_receiver(
    store, sessions, tenant
):
    now = datetime.now(UTC)
    busy = await add_webhook(sessions, tenant.tenant_id, "https://example.com/busy")
    down = await add_webhook(sessions, tenant.tenant_id, "https://example.com/down")
    policy = BreakerPolicy(min_attempts=1)  # one failure counted would open the circuit
    for _ in range(3):
        not_sent = SendResult(None, None, NOT_SENT, 0, None, now, sent=False)
        timed_out = SendResult(None, None, "timeout after 15s", 15_000, None, now)
        records = [
            await attempt_of(sessions, tenant.tenant_id, busy.id, not_sent),
            await attempt_of(sessions, tenant.tenant_id, down.id, timed_out),
        ]
        await store.transaction(record_attempts, records, now, now - timedelta(days=3), policy)
    async with sessions() as session:
        rows = {w: await session.get(Webhook, w) for w in (busy.id, down.id)}
        errors = (await session.scalars(select(Attempt.error))).all()
        waiting = (
            await session.scalars(select(Delivery).where(Delivery.webhook_id == busy.id))
        ).all()
    assert NOT_SENT not in errors and len(errors) == 3  # only the timeouts are attempts
    # Each delivery not sent is pending, no attempt used up, and says why it waits.
    assert [(d.status, d.attempts, d.last_error) for d in waiting] == [("pending", 0, NOT_SENT)] * 3
    assert all(d.next_attempt_at is not None for d in waiting)
    assert (rows[busy.id].failing_since, rows[busy.id].latency_ms) == (None, None)
    assert rows[busy.id].breaker_state == "closed"
    # The receiver that did time out is counted as before.
    assert rows[down.id].failing_since is not None and rows[down.id].latency_ms == 15_000
    assert rows[down.id].breaker_state == "open"


async def test_after_a_few_waits_in_a_row_a_request_not_sent_uses_up_an_attempt(
    store, sessions, tenant
):
    """Each wait adds to the workflow's history: a delivery refused NOT_SENT_WAITS times in a
    row makes its next request not sent an attempt, so a saturated process still ends its
    deliveries within their attempts. It is still not held against the receiver."""
    now = datetime.now(UTC)
    busy = await add_webhook(sessions, tenant.tenant_id, "https://example.com/busy")
    not_sent = SendResult(None, None, NOT_SENT, 0, None, now, sent=False)
    records = [
        await attempt_of(sessions, tenant.tenant_id, busy.id, not_sent, refusals=n)
        for n in (NOT_SENT_WAITS - 1, NOT_SENT_WAITS)
    ]
    assert [r.waits for r in records] == [True, False]
    policy = BreakerPolicy(min_attempts=1)
    await store.transaction(record_attempts, records, now, now - timedelta(days=3), policy)
    async with sessions() as session:
        waited, counted = [await session.get(Delivery, r.target.delivery_id) for r in records]
        errors = (await session.scalars(select(Attempt.error))).all()
        webhook = await session.get(Webhook, busy.id)
    assert (waited.status, waited.attempts) == ("pending", 0)
    assert (counted.attempts, errors) == (1, [NOT_SENT])
    assert (webhook.breaker_state, webhook.failing_since, webhook.latency_ms) == (
        "closed",
        None,
        None,
    )
