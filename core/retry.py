"""The retry schedule of deliveries, decided here and nowhere else (docs/DESIGN.md, "The flow").

2xx success. 408, 425, 429, 5xx but 501, timeouts and connection errors: retried up to the
policy's attempts, `Retry-After` honoured (capped). 410: no retry, webhook deactivated.
Other 4xx, 3xx and 501: at most `client_error_max_attempts`.

This module owns the defaults (which Settings and RetrySpec take), the bounds (which Settings
and the webhook schemas validate against), the per-status-class limits (`decide`) and the
Temporal RetryPolicy the workflow gives its retries (`retries_policy`, a pure function). With
the defaults the gaps between the 6 attempts are 30 s, 2.5 min, 12.5 min, ~1 h, ~5 h.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel
from temporalio.common import RetryPolicy

# Defaults (the README's configuration table says the same).
# The delivery timeout's upper bound: the workflow bounds its first step by it.
MAX_DELIVERY_TIMEOUT = timedelta(minutes=2)
MAX_ATTEMPTS = 6  # in all, for retryable failures
CLIENT_ERROR_MAX_ATTEMPTS = 2  # in all, for 3xx, other 4xx, 501
INITIAL_INTERVAL = 30.0  # seconds, after attempt 1
BACKOFF = 5.0
MAX_INTERVAL = 12 * 3600.0
RETRY_AFTER_CAP = 3600.0
# A receiver's Retry-After is held within these (seconds) whatever it says: `0` or a past date
# waits the floor, not a tight loop; the webhook's `retry_after_cap` then applies (and wins).
RETRY_AFTER_FLOOR = 1.0
RETRY_AFTER_CEILING = 366 * 86400.0
DELIVERY_TIMEOUT = 15.0


@dataclass(frozen=True)
class Bounds:
    low: float
    high: float

    def check(self, name: str, value: float) -> None:
        if not self.low <= value <= self.high:
            raise ValueError(f"{name} must be between {self.low:g} and {self.high:g}")


# What the settings and a webhook's own `retry_policy` may ask for (seconds for intervals).
BOUNDS = {
    "max_attempts": Bounds(1, 20),
    "client_error_max_attempts": Bounds(1, 20),
    "initial_interval": Bounds(1, 86400),
    "backoff": Bounds(1, 10),
    "max_interval": Bounds(1, 86400),
}

# Error types the delivery activity raises: Temporal retries the first, stops on the second.
RETRY_ERROR = "DeliveryRetry"
FAILED_ERROR = "DeliveryFailed"


class RetrySpec(BaseModel):
    """A webhook's effective retry policy (settings merged with its override). Unbounded on
    purpose: it travels in workflow histories, and an open event written under other bounds
    must still decode; the bounds apply where a spec is made (settings, the webhook API)."""

    max_attempts: int = MAX_ATTEMPTS
    client_error_max_attempts: int = CLIENT_ERROR_MAX_ATTEMPTS
    initial_interval: float = INITIAL_INTERVAL  # seconds
    backoff: float = BACKOFF
    max_interval: float = MAX_INTERVAL
    retry_after_cap: float = RETRY_AFTER_CAP
    timeout: float = DELIVERY_TIMEOUT


def check_bounds(spec: RetrySpec) -> RetrySpec:
    """Raises ValueError naming the first field outside BOUNDS."""
    for name, bounds in BOUNDS.items():
        bounds.check(name, getattr(spec, name))
    return spec


def webhook_spec(base: RetrySpec, override: dict[str, Any] | None) -> RetrySpec:
    """`base` with the webhook's own `retry_policy` fields on top (unset ones follow base)."""
    if not override:
        return base
    given = {k: v for k, v in override.items() if v is not None and k in RetrySpec.model_fields}
    return base.model_copy(update=given) if given else base


def retries_policy(spec: RetrySpec, made: int = 1) -> RetryPolicy | None:
    """Temporal's policy for the attempts of one delivery after the `made` ones (attempt 1
    is made apart, and the workflow waits `backoff_delay(1)`, or the receiver's Retry-After,
    before attempt 2; a throttled delivery has made fewer). None when none is left."""
    if spec.max_attempts - made < 1:
        return None
    first = backoff_delay(max(made, 1) + 1, spec)
    return RetryPolicy(
        initial_interval=timedelta(seconds=first),
        backoff_coefficient=spec.backoff,
        # Temporal refuses a maximum below the initial interval.
        maximum_interval=timedelta(seconds=max(spec.max_interval, first)),
        maximum_attempts=spec.max_attempts - made,
        non_retryable_error_types=[FAILED_ERROR],
    )


RETRYABLE_CODES = frozenset({408, 425, 429})
# Every retry delay is stretched by up to this fraction, drawn per attempt, so deliveries that
# failed together (an endpoint down for thousands of them) do not retry in lockstep. Only
# upward: never earlier than the schedule or the receiver's Retry-After asked.
JITTER = 0.2
# A 429 (Too Many Requests) waits at least this long, whatever its Retry-After says.
RATE_LIMITED_MIN_WAIT = 5.0


class StatusClass(StrEnum):
    SUCCESS = "success"
    RETRYABLE = "retryable"  # transient: full retry policy
    CLIENT_ERROR = "client_error"  # 3xx, 4xx, 501: a couple of tries at most
    GONE = "gone"  # 410: the receiver says stop


class Outcome(StrEnum):
    SUCCESS = "success"
    RETRY = "retry"
    FAIL = "fail"


def classify(status_code: int | None) -> StatusClass:
    """None means no HTTP answer at all (timeout, refused connection, TLS error)."""
    if status_code is None:
        return StatusClass.RETRYABLE
    if 200 <= status_code < 300:
        return StatusClass.SUCCESS
    if status_code == 410:
        return StatusClass.GONE
    if status_code in RETRYABLE_CODES or (500 <= status_code < 600 and status_code != 501):
        return StatusClass.RETRYABLE
    return StatusClass.CLIENT_ERROR


def status_family(status_code: int | None) -> str:
    """`2xx`…`5xx`, or `network` when there was no answer: the buckets of the stats."""
    if status_code is None:
        return "network"
    return f"{status_code // 100}xx"


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds from a `Retry-After` header: delta-seconds (ASCII digits only) or an HTTP date,
    within [RETRY_AFTER_FLOOR, RETRY_AFTER_CEILING]; None if absent or anything else.

    Total: the receiver writes this text, so no text makes it raise. `0` or a date already
    past is the floor (never a tight loop); a number too long to be meant is the ceiling
    (`decide` then caps it by the policy's `retry_after_cap`); `-1`, `1.5`, `1e999`, `NaN`,
    `²` and other Unicode digits, dates out of range: None (the back-off schedule applies)."""
    if not isinstance(value, str):
        return None
    value = value.strip(" \t")
    if _ascii_digits(value):
        digits = value.lstrip("0")  # 10,000 digits: no int() of them (Python refuses > 4,300)
        seconds = RETRY_AFTER_CEILING if len(digits) > 12 else float(int(digits or "0"))
    elif value and len(value) <= _DATE_TEXT:
        seconds = _seconds_until(value, now)
    else:
        return None
    if seconds is None or not math.isfinite(seconds):
        return None
    return min(max(seconds, RETRY_AFTER_FLOOR), RETRY_AFTER_CEILING)


# An HTTP date is 29 characters (its obsolete forms a few more); 64 bounds the work on junk.
_DATE_TEXT = 64


def _ascii_digits(value: str) -> bool:
    """`str.isdigit()` is true for `²` or `٣` too, which `int()`/`float()` may refuse."""
    return bool(value) and value.isascii() and value.isdigit()


def _seconds_until(value: str, now: datetime | None) -> float | None:
    try:
        when = parsedate_to_datetime(value)
        if when.tzinfo is None:  # "-0000": UTC by RFC 5322
            when = when.replace(tzinfo=UTC)
        return (when - (now or datetime.now(UTC))).total_seconds()
    except (TypeError, ValueError, IndexError, OverflowError, UnicodeError):
        return None


def backoff_delay(attempt: int, spec: RetrySpec) -> float:
    """Delay after the given (1-based) failed attempt."""
    delay = spec.initial_interval * spec.backoff ** (attempt - 1)
    return min(delay, spec.max_interval)


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    status_class: StatusClass
    delay: float | None = None  # seconds until the next attempt, when retrying
    honours_retry_after: bool = False
    deactivate: bool = False
    reason: str = ""


def decide(
    status_code: int | None,
    attempt: int,
    spec: RetrySpec,
    *,
    retry_after: float | None = None,
    jitter: float = 0.0,
) -> Decision:
    """What follows an attempt: `attempt` is its 1-based number within its series. `jitter`,
    a draw in [0, 1) the caller makes, stretches the delay by up to JITTER of it."""
    status_class = classify(status_code)
    if status_class is StatusClass.SUCCESS:
        return Decision(Outcome.SUCCESS, status_class)
    if status_class is StatusClass.GONE:
        return Decision(
            Outcome.FAIL, status_class, deactivate=True, reason="receiver answered 410 Gone"
        )
    limit = spec.max_attempts
    if status_class is StatusClass.CLIENT_ERROR:
        limit = min(limit, spec.client_error_max_attempts)
    if attempt >= limit:
        return Decision(Outcome.FAIL, status_class, reason=f"gave up after {attempt} attempts")
    if (
        retry_after is not None
        and math.isfinite(retry_after)
        and status_class is StatusClass.RETRYABLE
    ):
        delay = min(max(retry_after, RETRY_AFTER_FLOOR), spec.retry_after_cap)
        return Decision(
            Outcome.RETRY,
            status_class,
            delay=jittered(at_least_for(status_code, delay), jitter),
            honours_retry_after=True,
        )
    delay = at_least_for(status_code, backoff_delay(attempt, spec))
    return Decision(Outcome.RETRY, status_class, delay=jittered(delay, jitter))


# A throttled delivery asks again after this (jittered), doubling each time it is refused in
# a row, up to THROTTLE_WAIT_MAX: a few timers while an endpoint's slots are taken.
THROTTLE_WAIT = 1.0
THROTTLE_WAIT_MAX = 15.0


def throttle_wait(refusals: int, draw: float) -> float:
    """Seconds before a delivery refused `refusals` times in a row asks again."""
    return jittered(min(THROTTLE_WAIT * 2 ** max(refusals - 1, 0), THROTTLE_WAIT_MAX), draw)


def at_least_for(status_code: int | None, delay: float) -> float:
    return max(delay, RATE_LIMITED_MIN_WAIT) if status_code == 429 else delay


def attempt_limit(timeout: float) -> float:
    """The longest one attempt takes (s): up to its `timeout` waiting for one of its process's
    connections, which is hookline's time and not the receiver's, then its `timeout` with the
    receiver. Activities, leases and probes are bounded by it."""
    return 2 * timeout


def jittered(delay: float, draw: float) -> float:
    """`delay` stretched by `draw` (in [0, 1)) times JITTER of it."""
    return delay * (1 + JITTER * min(max(draw, 0.0), 1.0))


def schedule_span(spec: RetrySpec) -> float:
    """The longest one delivery's series can last (s): every attempt the spec allows, each at
    its time limit, and every back-off stretched by the whole jitter."""
    attempts = max(spec.max_attempts, spec.client_error_max_attempts)
    waits = sum(backoff_delay(attempt, spec) for attempt in range(1, attempts))
    return attempts * attempt_limit(spec.timeout) + waits * (1 + JITTER)
