"""A step run again (its run replayed after the worker evicted it mid-POST) answers with the
attempt an earlier run of it recorded (activities/delivery_admit.py `already_made`), the way
that run answered: a success, a final failure, or a retry due when that run said."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from hookline.activities.delivery_admit import already_made
from hookline.core.models import DeliverInput, DeliveryStatus
from hookline.core.retry import RetrySpec, backoff_delay

NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
TARGET = DeliverInput(
    event_id="evt_1", tenant_id="ten_1", webhook_id="wh_1", delivery_id="dlv_1", retry=RetrySpec()
)


def recorded(outcome: str, code: int | None, next_attempt_at=None, error=None):
    return SimpleNamespace(
        delivery_id="dlv_1",
        number=1,
        outcome=outcome,
        status_code=code,
        error=error,
        next_attempt_at=next_attempt_at,
    )


def test_a_recorded_success_answers_succeeded():
    output = already_made(TARGET, recorded("success", 200), NOW)
    assert (output.status, output.attempts, output.status_code) == (
        DeliveryStatus.SUCCEEDED,
        1,
        200,
    )
    assert output.retry_delay is None


def test_a_recorded_final_failure_answers_failed():
    output = already_made(TARGET, recorded("fail", 410), NOW)
    assert output.status is DeliveryStatus.FAILED
    assert output.retry_delay is None


def test_a_recorded_retry_waits_what_is_left_of_its_delay():
    due = NOW + timedelta(seconds=42)
    output = already_made(TARGET, recorded("retry", 503, due), NOW)
    assert output.status is DeliveryStatus.PENDING
    assert output.retry_delay == pytest.approx(42)
    # Already due (the replay came late): at once, never a negative wait.
    late = already_made(TARGET, recorded("retry", 503, NOW - timedelta(seconds=5)), NOW)
    assert late.retry_delay == 0.0
    # Stored without a zone (SQLite): read as UTC.
    naive = already_made(TARGET, recorded("retry", 503, due.replace(tzinfo=None)), NOW)
    assert naive.retry_delay == pytest.approx(42)


def test_a_recorded_retry_without_a_due_time_waits_the_schedule():
    output = already_made(TARGET, recorded("retry", None, error="timed out"), NOW)
    assert output.retry_delay == backoff_delay(1, TARGET.retry)
    assert output.error == "timed out"
