"""core/retry.py's `parse_retry_after` is total: any text a receiver writes is a delay within
[RETRY_AFTER_FLOOR, RETRY_AFTER_CEILING] or None, never an exception; `decide` honours it
within the floor and the policy's cap."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hookline.core.retry import (
    RETRY_AFTER_CEILING,
    RETRY_AFTER_FLOOR,
    RetrySpec,
    decide,
    parse_retry_after,
)

NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (None, None),
        ("", None),
        ("   ", None),
        ("7", 7.0),
        (" 7\t", 7.0),
        ("0007", 7.0),
        ("120", 120.0),
        ("0", RETRY_AFTER_FLOOR),  # not a tight loop
        ("0" * 100, RETRY_AFTER_FLOOR),
        ("31622399", 31622399.0),
        ("9" * 12, RETRY_AFTER_CEILING),  # finite, held to the ceiling (decide caps it more)
        ("9" * 13, RETRY_AFTER_CEILING),
        ("9" * 10_000, RETRY_AFTER_CEILING),  # int() refuses 4,300+ digits: never tried
        ("0" * 5000 + "5", 5.0),
        ("²", None),  # "²".isdigit() is true; float("²") raises
        ("٣", None),  # Arabic-Indic three: isdigit, int() would read it; not HTTP
        ("\uff11\uff12", None),  # fullwidth digits
        ("-1", None),
        ("+5", None),
        ("1.5", None),
        ("1e3", None),
        ("1e999", None),
        ("NaN", None),
        ("nan", None),
        ("inf", None),
        ("-Infinity", None),
        ("0x10", None),
        ("1 2", None),
        ("\x00", None),
        ("\udcff\udcfe", None),  # undecodable bytes as aiohttp keeps them
        ("soon", None),
        ("Wed, 01 Jan 2026 00:01:40 GMT", 100.0),
        ("Wednesday, 01-Jan-26 00:01:40 GMT", 100.0),  # RFC 850
        ("Wed Jan  1 00:01:40 2026", 100.0),  # asctime, no zone: UTC
        ("Wed, 01 Jan 2026 01:01:40 +0100", 100.0),
        ("Tue, 31 Dec 2025 23:00:00 GMT", RETRY_AFTER_FLOOR),  # past: the floor
        ("Mon, 01 Jan 0001 00:00:00 GMT", RETRY_AFTER_FLOOR),
        ("Fri, 31 Dec 9999 23:59:59 GMT", RETRY_AFTER_CEILING),
        ("Mon, 32 Foo 2015 99:99:99 GMT", None),
        ("Wed, 21 Oct 99999 07:28:00 GMT", None),
        ("Wed, 21 Oct 2015 07:28:00 +99999", None),
        ("Wed, 01 Jan 2026 00:01:40 GMT" + " " * 100 + "x", None),
    ],
)
def test_every_form(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value, now=NOW) == seconds


@settings(max_examples=2000, deadline=None)
@given(
    st.text()
    | st.text(alphabet=st.characters(codec="utf-8"), max_size=40)
    | st.from_regex(r"\A\s*[+-]?[0-9²٣]{0,40}(\.[0-9]*)?([eE][+-]?[0-9]{1,5})?\s*\Z")
    | st.builds(
        "{}, {:02d} {} {} {:02d}:{:02d}:{:02d} {}".format,
        st.sampled_from(["Mon", "Wed", "Xyz", ""]),
        st.integers(-1, 99),
        st.sampled_from(["Jan", "Feb", "Oct", "Foo"]),
        st.integers(-10, 10**6),
        st.integers(-1, 99),
        st.integers(-1, 99),
        st.integers(-1, 99),
        st.sampled_from(["GMT", "UT", "+0000", "-0000", "+2359", "-9999", "EST", "Z", ""]),
    )
)
def test_never_raises_and_is_always_sane(value: str) -> None:
    seconds = parse_retry_after(value)
    assert seconds is None or (
        math.isfinite(seconds) and RETRY_AFTER_FLOOR <= seconds <= RETRY_AFTER_CEILING
    )


def test_decide_holds_retry_after_between_the_floor_and_the_cap() -> None:
    spec = RetrySpec()
    assert decide(503, 1, spec, retry_after=0.0).delay == RETRY_AFTER_FLOOR
    assert decide(503, 1, spec, retry_after=-5.0).delay == RETRY_AFTER_FLOOR
    assert decide(429, 1, spec, retry_after=RETRY_AFTER_CEILING).delay == spec.retry_after_cap
    # The cap wins over the floor when a policy sets it lower.
    tight = spec.model_copy(update={"retry_after_cap": 0.5})
    assert decide(503, 1, tight, retry_after=0.0).delay == 0.5
    # Not finite (only a caller's bug could pass one): the back-off, never a NaN timer.
    for odd in (math.nan, math.inf, -math.inf):
        decision = decide(503, 1, spec, retry_after=odd)
        assert not decision.honours_retry_after and decision.delay == 30.0
    # A 200 with an odd Retry-After is a success; a 400's is ignored.
    assert decide(200, 1, spec, retry_after=parse_retry_after("²")).outcome == "success"
    assert not decide(400, 1, spec, retry_after=5.0).honours_retry_after
