"""core/retry.py, the one owner of the retry schedule: defaults, bounds, limits, policy."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from hookline.api.schemas.webhooks import RetryPolicy as WebhookRetryPolicy
from hookline.core import retry
from hookline.core.retry import Outcome, RetrySpec, StatusClass, decide
from hookline.infra.config import Settings


def test_the_settings_defaults_are_the_schedules():
    assert Settings().retry_spec() == RetrySpec()
    assert [retry.backoff_delay(n, RetrySpec()) for n in range(1, 6)] == [
        30,
        150,
        750,
        3750,
        18750,
    ]


@pytest.mark.parametrize(
    ("setting", "value"),
    [("max_attempts", 21), ("max_attempts", 0), ("retry_backoff", 11), ("retry_max_interval", 0)],
)
def test_settings_outside_the_bounds_fail_at_start_up(setting: str, value: object):
    with pytest.raises(ValidationError, match="must be between"):
        Settings(**{setting: value})


@pytest.mark.parametrize("name", sorted(retry.BOUNDS))
def test_a_webhook_policy_is_held_to_the_same_bounds(name: str):
    bounds = retry.BOUNDS[name]
    WebhookRetryPolicy(**{name: bounds.low})
    WebhookRetryPolicy(**{name: bounds.high})
    for outside in (bounds.low - 1, bounds.high + 1):
        with pytest.raises(ValidationError):
            WebhookRetryPolicy(**{name: outside})


def test_a_webhooks_override_changes_only_what_it_names():
    base = RetrySpec()
    spec = retry.webhook_spec(base, {"max_attempts": 3, "backoff": None, "unknown": 1})
    assert spec == base.model_copy(update={"max_attempts": 3})
    assert retry.webhook_spec(base, None) is base


def test_the_policy_of_the_retries():
    policy = retry.retries_policy(RetrySpec())
    assert policy is not None
    assert policy.initial_interval == timedelta(seconds=150)  # after attempt 2
    assert policy.backoff_coefficient == 5
    assert policy.maximum_attempts == 5  # attempts 2..6
    assert policy.non_retryable_error_types == [retry.FAILED_ERROR]
    # A maximum below the first interval would be refused by Temporal.
    short = retry.retries_policy(RetrySpec(initial_interval=600, max_interval=60))
    assert short is not None and short.maximum_interval == short.initial_interval
    assert retry.retries_policy(RetrySpec(max_attempts=1)) is None


@pytest.mark.parametrize(
    ("status", "attempt", "outcome"),
    [
        (503, 5, Outcome.RETRY),
        (503, 6, Outcome.FAIL),
        (None, 1, Outcome.RETRY),
        (400, 1, Outcome.RETRY),
        (400, 2, Outcome.FAIL),  # at most 2 attempts for a client error
        (501, 2, Outcome.FAIL),
        (410, 1, Outcome.FAIL),
        (204, 3, Outcome.SUCCESS),
    ],
)
def test_limits_by_status_class(status: int | None, attempt: int, outcome: Outcome):
    assert decide(status, attempt, RetrySpec()).outcome is outcome


def test_gone_deactivates_and_retry_after_is_capped():
    assert decide(410, 1, RetrySpec()).deactivate
    capped = decide(429, 1, RetrySpec(), retry_after=10 * 3600)
    assert capped.status_class is StatusClass.RETRYABLE
    assert capped.honours_retry_after and capped.delay == RetrySpec().retry_after_cap


@given(draw=st.floats(min_value=0.0, max_value=0.999999), attempt=st.integers(1, 5))
def test_jitter_stretches_a_retry_by_at_most_its_fraction_never_less(draw: float, attempt: int):
    spec = RetrySpec()
    base = retry.backoff_delay(attempt, spec)
    delay = retry.decide(503, attempt, spec, jitter=draw).delay
    assert delay is not None and base <= delay <= base * (1 + retry.JITTER)


def test_retries_that_failed_together_spread_apart():
    spec = RetrySpec()
    delays = {retry.decide(503, 1, spec, jitter=n / 1000).delay for n in range(1000)}
    assert len(delays) == 1000
    assert max(delays) - min(delays) > 0.19 * retry.backoff_delay(1, spec)


def test_a_retry_after_is_never_shortened_by_jitter():
    spec = RetrySpec()
    decision = retry.decide(503, 1, spec, retry_after=120.0, jitter=0.5)
    assert decision.honours_retry_after and 120.0 <= decision.delay <= 120.0 * 1.2


def test_429_waits_at_least_its_minimum_even_when_told_zero():
    spec = RetrySpec(initial_interval=1.0)
    told_zero = retry.decide(429, 1, spec, retry_after=retry.parse_retry_after("0"))
    assert told_zero.delay >= retry.RATE_LIMITED_MIN_WAIT
    on_schedule = retry.decide(429, 1, spec)
    assert on_schedule.delay >= retry.RATE_LIMITED_MIN_WAIT
    assert retry.decide(503, 1, spec).delay == 1.0  # other statuses keep their schedule


def test_a_series_lasts_at_most_its_attempts_and_jittered_waits():
    # 6 attempts of at most 30 s each (a connection wait, then the 15 s timeout), the five
    # waits of the default schedule stretched by the whole 20 % jitter.
    assert retry.schedule_span(RetrySpec()) == 6 * 30 + (30 + 150 + 750 + 3750 + 18750) * 1.2
    # The larger of the two attempt counts bounds it; one attempt has no wait.
    assert retry.schedule_span(RetrySpec(max_attempts=1, client_error_max_attempts=3)) == (
        3 * 30 + (30 + 150) * 1.2
    )
    assert retry.schedule_span(RetrySpec(max_attempts=1, client_error_max_attempts=1)) == 30
