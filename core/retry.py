"""Status classes and the retry decision for one delivery attempt (DESIGN.md, delivery rules).

2xx success. 408, 425, 429, 5xx but 501, timeouts and connection errors: retried up to the
policy's attempts, `Retry-After` honoured (capped). 410: no retry, webhook deactivated.
Other 4xx, 3xx and 501: at most `client_error_max_attempts`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import StrEnum

from hookline.core.models import RetrySpec

RETRYABLE_CODES = frozenset({408, 425, 429})


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
    """Seconds from a `Retry-After` header: delta-seconds or an HTTP date; None if absent or odd."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


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
) -> Decision:
    """What follows an attempt: `attempt` is its 1-based number within its series."""
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
    if retry_after is not None and status_class is StatusClass.RETRYABLE:
        delay = min(max(retry_after, 0.0), spec.retry_after_cap)
        return Decision(Outcome.RETRY, status_class, delay=delay, honours_retry_after=True)
    return Decision(Outcome.RETRY, status_class, delay=backoff_delay(attempt, spec))
