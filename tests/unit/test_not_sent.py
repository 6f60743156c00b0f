"""An attempt that never got one of its process's connections was not sent: it is recorded
(with why) and retried, but it says nothing of its receiver, so the webhook's failure clock
(auto-disable), its circuit breaker and its moving latency do not count it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from hookline.core.models import DeliverInput, SendResult
from hookline.core.retry import RetrySpec, decide
from hookline.store.admission import BreakerPolicy
from hookline.store.attempts import AttemptRecord, record_attempts
from hookline.store.tables import Attempt, Webhook
from tests.support.events import add_event
from tests.support.store import add_webhook

SPEC = RetrySpec()
NOT_SENT = "not sent: all 100 connections of this process stayed busy for 15s"


async def attempt_of(sessions, tenant_id: str, webhook_id: str, result: SendResult):
    far = datetime.now(UTC) + timedelta(days=7)
    event_id, delivery_id = await add_event(sessions, tenant_id, webhook_id, far, attempted=False)
    target = DeliverInput(
        event_id=event_id,
        tenant_id=tenant_id,
        webhook_id=webhook_id,
        delivery_id=delivery_id,
        retry=SPEC,
    )
    decision = decide(result.status_code, 1, SPEC)
    return AttemptRecord(target, "https://example.com/hook", 1, result, decision, None)


async def test_an_attempt_never_sent_is_recorded_but_not_held_against_the_receiver(
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
    assert errors.count(NOT_SENT) == 3  # recorded, with why
    assert (rows[busy.id].failing_since, rows[busy.id].latency_ms) == (None, None)
    assert rows[busy.id].breaker_state == "closed"
    # The receiver that did time out is counted as before.
    assert rows[down.id].failing_since is not None and rows[down.id].latency_ms == 15_000
    assert rows[down.id].breaker_state == "open"
