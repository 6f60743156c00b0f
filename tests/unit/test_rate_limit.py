"""The per-token rate limit: a token bucket kept as one timestamp per key (GCRA)."""

from __future__ import annotations

import pytest

from hookline.core import rate_limit
from hookline.core.rate_limit import TokenBuckets, parse_rate
from hookline.infra.config import Settings


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("text", "amount", "period", "shown"),
    [
        ("6000/minute", 6000, 60, "6000 per 1 minute"),
        ("100 per second", 100, 1, "100 per 1 second"),
        ("10/5 minutes", 10, 300, "10 per 5 minute"),
        (" 3/Hour ", 3, 3600, "3 per 1 hour"),
        ("1/day", 1, 86400, "1 per 1 day"),
    ],
)
def test_rates_parse(text, amount, period, shown) -> None:
    rate = parse_rate(text)
    assert (rate.amount, rate.period, str(rate)) == (amount, period, shown)


@pytest.mark.parametrize("text", ["", "6000", "0/minute", "5/0 seconds", "5/fortnight", "x/s"])
def test_bad_rates_are_refused_with_the_expected_form(text) -> None:
    with pytest.raises(ValueError, match=r"e\.g\. '6000/minute'"):
        parse_rate(text)


def test_a_bad_rate_setting_fails_at_start_up() -> None:
    with pytest.raises(ValueError, match="invalid rate"):
        Settings(rate_limit="lots")


def test_a_burst_of_the_whole_amount_then_one_per_interval() -> None:
    clock = Clock()
    buckets = TokenBuckets(parse_rate("3/minute"), clock)
    assert [buckets.hit("t") for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = buckets.hit("t")
    assert wait == pytest.approx(20.0)  # one request's worth of refill: 60 s / 3
    clock.now += 19.9
    assert buckets.hit("t") == pytest.approx(0.1)
    clock.now += 0.1
    assert buckets.hit("t") == 0.0
    assert buckets.hit("t") == pytest.approx(20.0)


def test_refused_requests_cost_nothing() -> None:
    clock = Clock()
    buckets = TokenBuckets(parse_rate("2/second"), clock)
    assert buckets.hit("t") == buckets.hit("t") == 0.0
    for _ in range(100):  # a client hammering while limited
        assert buckets.hit("t") > 0
    clock.now += 0.5
    assert buckets.hit("t") == 0.0


def test_a_full_bucket_after_a_quiet_period_never_exceeds_the_amount() -> None:
    clock = Clock()
    buckets = TokenBuckets(parse_rate("5/second"), clock)
    clock.now += 3600  # idle for an hour: still at most 5 at once
    allowed = sum(buckets.hit("t") == 0.0 for _ in range(20))
    assert allowed == 5


def test_keys_are_independent() -> None:
    clock = Clock()
    buckets = TokenBuckets(parse_rate("1/minute"), clock)
    assert buckets.hit("a") == 0.0
    assert buckets.hit("a") > 0
    assert buckets.hit("b") == 0.0


def test_sustained_rate_matches_the_limit() -> None:
    clock = Clock()
    buckets = TokenBuckets(parse_rate("600/minute"), clock)
    allowed = 0
    for _ in range(60_000):  # 60 s of a client asking every millisecond
        clock.now += 0.001
        allowed += buckets.hit("t") == 0.0
    assert 600 + 600 - 2 <= allowed <= 600 + 600 + 1  # the burst, then 10 per second


def test_keys_whose_bucket_refilled_are_forgotten(monkeypatch) -> None:
    monkeypatch.setattr(rate_limit, "PRUNE_EVERY", 10)
    clock = Clock()
    buckets = TokenBuckets(parse_rate("100/second"), clock)
    for i in range(9):
        buckets.hit(f"old-{i}")
    clock.now += 1  # every old bucket is full again
    buckets.hit("new")  # the 10th hit sweeps
    assert len(buckets) == 1
