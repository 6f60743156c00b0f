"""A pending delivery's `next_attempt_at` (store/attempts.py): set from the decision of the
attempt that asked for a retry, cleared when the delivery ends; and the decision's delay is
the one the workflow waits (its timer after attempt 1, Temporal's RetryPolicy after later
ones), so the time recorded is when the retry is due."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import update

from hookline.core import retry
from hookline.core.models import (
    DeliverInput,
    DeliverOutput,
    DeliveryStatus,
    SendResult,
    SettleInput,
)
from hookline.core.retry import Decision, Outcome, RetrySpec, StatusClass, decide
from hookline.store.admission import BreakerPolicy
from hookline.store.attempts import (
    AttemptRecord,
    mark_skipped,
    record_attempts,
    restamp_retries,
)
from hookline.store.events import settle_deliveries
from hookline.store.tables import Delivery, Webhook
from tests.support.events import add_event
from tests.support.store import add_webhook

SPEC = RetrySpec()


def attempt(delivery, number: int, status: int | None, decision: Decision) -> AttemptRecord:
    event_id, delivery_id, tenant_id = delivery
    target = DeliverInput(
        event_id=event_id,
        tenant_id=tenant_id,
        webhook_id="wh_next",
        delivery_id=delivery_id,
        retry=SPEC,
    )
    started = datetime.now(UTC)
    result = SendResult(status, "busy", None, 12, None, started)
    return AttemptRecord(target, "https://example.com/hook", number, result, decision, None)


async def next_attempt_at(sessions, delivery_id: str) -> datetime | None:
    async with sessions() as session:
        row = await session.get(Delivery, delivery_id)
        assert row is not None
        return row.next_attempt_at


@pytest.fixture
async def delivery(sessions, tenant):
    far = datetime.now(UTC) + timedelta(days=7)
    event_id, delivery_id = await add_event(sessions, tenant.tenant_id, "wh_next", far)
    return event_id, delivery_id, tenant.tenant_id


async def record(store, records, now):
    return await store.transaction(
        record_attempts, records, now, now - timedelta(days=3), BreakerPolicy()
    )


async def test_a_retry_records_when_it_is_due_and_the_end_clears_it(store, sessions, delivery):
    _, delivery_id, _ = delivery
    now = datetime.now(UTC).replace(microsecond=0)
    await record(store, [attempt(delivery, 1, 503, decide(503, 1, SPEC))], now)
    assert await next_attempt_at(sessions, delivery_id) == now + timedelta(seconds=30)

    # A Retry-After is what the workflow waits instead (capped by the policy).
    later = now + timedelta(seconds=31)
    retry_after = decide(429, 2, SPEC, retry_after=120)
    await record(store, [attempt(delivery, 2, 429, retry_after)], later)
    assert await next_attempt_at(sessions, delivery_id) == later + timedelta(seconds=120)

    await record(store, [attempt(delivery, 3, 200, decide(200, 3, SPEC))], later)
    assert await next_attempt_at(sessions, delivery_id) is None


async def test_a_final_failure_a_skip_or_a_settle_clears_it(store, sessions, delivery):
    event_id, delivery_id, _ = delivery
    now = datetime.now(UTC)
    await record(store, [attempt(delivery, 1, 500, decide(500, 1, SPEC))], now)
    assert await next_attempt_at(sessions, delivery_id) is not None
    gave_up = decide(500, SPEC.max_attempts, SPEC)
    await record(store, [attempt(delivery, SPEC.max_attempts, 500, gave_up)], now)
    assert await next_attempt_at(sessions, delivery_id) is None

    await record(store, [attempt(delivery, 1, 500, decide(500, 1, SPEC))], now)
    await store.transaction(mark_skipped, {delivery_id: "webhook deleted"}, now)
    assert await next_attempt_at(sessions, delivery_id) is None

    # A retry activity that never reported (timed out): the series' outcome ends it.
    await record(store, [attempt(delivery, 1, 500, decide(500, 1, SPEC))], now)
    outcome = DeliverOutput(
        delivery_id=delivery_id,
        webhook_id="wh_next",
        status=DeliveryStatus.FAILED,
        attempts=SPEC.max_attempts,
        error="timed out",
    )
    await store.transaction(settle_deliveries, SettleInput(event_id=event_id, outcomes=[outcome]))
    assert await next_attempt_at(sessions, delivery_id) is None


async def test_a_webhook_the_attempt_disables_gets_no_next_attempt(store, sessions, tenant):
    webhook = await add_webhook(sessions, tenant.tenant_id, "https://example.com/hook")
    long_ago = datetime.now(UTC) - timedelta(days=5)
    async with sessions.begin() as session:
        await session.execute(
            update(Webhook).where(Webhook.id == webhook.id).values(failing_since=long_ago)
        )
    far = datetime.now(UTC) + timedelta(days=7)
    event_id, delivery_id = await add_event(sessions, tenant.tenant_id, webhook.id, far)
    second = attempt((event_id, delivery_id, tenant.tenant_id), 2, 503, decide(503, 2, SPEC))
    second.target = second.target.model_copy(update={"webhook_id": webhook.id})
    second.failing_since = long_ago
    assert await record(store, [second], datetime.now(UTC)) == [second]  # disabled
    assert await next_attempt_at(sessions, delivery_id) is None


async def test_a_refused_address_is_not_retried(store, sessions, delivery):
    _, delivery_id, _ = delivery
    refused = Decision(Outcome.FAIL, StatusClass.RETRYABLE)  # what `_attempt` decides
    await record(store, [attempt(delivery, 1, None, refused)], datetime.now(UTC))
    assert await next_attempt_at(sessions, delivery_id) is None


specs = st.builds(
    RetrySpec,
    max_attempts=st.integers(2, 20),
    initial_interval=st.floats(1, 86400),
    backoff=st.floats(1, 10),
    max_interval=st.floats(1, 86400),
)


@given(specs)
def test_the_decisions_delay_is_what_the_retry_policy_waits(spec: RetrySpec):
    """After attempt n (n >= 2, activity attempt n - 1) Temporal waits initial * coefficient
    ** (n - 2), at most the maximum: the delay `decide` gave the record."""
    policy = retry.retries_policy(spec)
    assert policy is not None and policy.initial_interval and policy.maximum_interval
    initial = policy.initial_interval.total_seconds()
    maximum = policy.maximum_interval.total_seconds()
    for n in range(2, spec.max_attempts):
        waits = min(initial * policy.backoff_coefficient ** (n - 2), maximum)
        decided = decide(503, n, spec).delay
        assert decided is not None
        # Within the rounding of the policy's interval to microseconds (a timedelta).
        assert decided == pytest.approx(waits, rel=1e-6, abs=1e-3)
    # Attempt 1: the workflow's timer waits the delay itself (`retry_delay`).
    assert decide(503, 1, spec).delay == retry.backoff_delay(1, spec)


def test_the_console_says_when_and_reloads_when_the_retry_is_due():
    from types import SimpleNamespace

    from hookline.api.console.events import refresh_seconds
    from hookline.api.console.render import due

    now = datetime(2025, 1, 1, 12, tzinfo=UTC)
    assert due(now + timedelta(minutes=4, seconds=5), now) == "in 4 min"
    assert due(now - timedelta(seconds=3), now) == "now"
    assert due(None, now) == "—"

    def pending(seconds: float | None) -> SimpleNamespace:
        at = None if seconds is None else now + timedelta(seconds=seconds)
        return SimpleNamespace(status=DeliveryStatus.PENDING, next_attempt_at=at)

    done = SimpleNamespace(status=DeliveryStatus.SUCCEEDED, next_attempt_at=None)
    assert refresh_seconds([done], now) == 2
    assert refresh_seconds([done, pending(None)], now) == 2  # attempt 1 still running
    assert refresh_seconds([pending(3600), pending(9)], now) == 10
    assert refresh_seconds([pending(3600)], now) == 60
    assert refresh_seconds([pending(-5)], now) == 2


async def test_a_webhooks_run_of_failures_starts_at_its_first_and_a_success_ends_it(
    store, sessions, tenant
):
    """What auto-disable counts from (`failing_since`) and when the webhook last fired, both
    written with its account in the attempt's transaction."""
    webhook = await add_webhook(sessions, tenant.tenant_id, "https://example.com/hook")
    far = datetime.now(UTC) + timedelta(days=7)
    event_id, delivery_id = await add_event(sessions, tenant.tenant_id, webhook.id, far)

    async def attempt_at(number: int, status: int, at: datetime) -> Webhook:
        made = attempt(
            (event_id, delivery_id, tenant.tenant_id), number, status, decide(status, number, SPEC)
        )
        made.target = made.target.model_copy(update={"webhook_id": webhook.id})
        await record(store, [made], at)
        async with sessions() as session:
            row = await session.get(Webhook, webhook.id)
            assert row is not None
            return row

    first = datetime.now(UTC).replace(microsecond=0)
    row = await attempt_at(1, 503, first)
    assert (row.failing_since, row.last_triggered) == (first, first)
    later = first + timedelta(minutes=1)
    row = await attempt_at(2, 500, later)
    assert (row.failing_since, row.last_triggered) == (first, later)
    row = await attempt_at(3, 200, later + timedelta(minutes=1))
    assert row.failing_since is None and row.last_triggered == later + timedelta(minutes=1)
    row = await attempt_at(4, 503, later + timedelta(minutes=2))
    assert row.failing_since == later + timedelta(minutes=2)


async def test_a_retry_recorded_before_its_step_ended_is_due_from_the_end(
    store, sessions, delivery
):
    """Attempt 1 recorded while a slow sibling's POST still ran: its retry's timer starts when
    the step ends, and so does the time it is due."""
    _, delivery_id, _ = delivery
    answered = datetime.now(UTC).replace(microsecond=0)
    early = attempt(delivery, 1, 503, decide(503, 1, SPEC))
    await record(store, [early], answered)
    ended = answered + timedelta(seconds=14)  # the sibling timed out
    await store.transaction(restamp_retries, [early], ended)
    assert await next_attempt_at(sessions, delivery_id) == ended + timedelta(seconds=30)

    # Ended meanwhile (not pending), it is left as it is.
    done = attempt(delivery, 2, 200, decide(200, 2, SPEC))
    await record(store, [done], ended)
    await store.transaction(restamp_retries, [early], ended + timedelta(seconds=1))
    assert await next_attempt_at(sessions, delivery_id) is None
