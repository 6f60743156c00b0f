"""Prometheus metrics: what was published, how deliveries went, how long attempts took.

Module-level collectors on the default registry (served by ``GET /metrics``); the helpers
below are the only thing the rest of the code calls, one line each.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from hookline.core.retry import status_family

EVENTS_PUBLISHED = Counter(
    "hookline_events_published_total", "Events accepted for delivery.", ["type"]
)
DELIVERIES = Counter(
    "hookline_deliveries_total",
    "Delivery attempts by outcome (success, retry, fail) and status class (2xx..5xx, network).",
    ["outcome", "status_class"],
)
ATTEMPT_DURATION = Histogram(
    "hookline_attempt_duration_seconds",
    "Duration of one webhook delivery attempt (request to response).",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30),
)
RETRIES = Counter("hookline_retries_total", "Attempts whose outcome was a scheduled retry.")
REDELIVERIES = Counter(
    "hookline_redeliveries_total", "Deliveries scheduled for redelivery through the API."
)
WORKFLOW_STARTS = Counter(
    "hookline_events_started_total",
    "Publishes answered with the event's workflow run (a new run, or the open one of that id).",
)
OPEN_EVENTS = Gauge(
    "hookline_open_events",
    "Events within their retention window (workflow open, redeliverable), by status; read "
    "from the store at scrape time.",
    ["status"],
)


def event_published(type_: str) -> None:
    EVENTS_PUBLISHED.labels(type=type_).inc()


def record_attempt(outcome: str, status_code: int | None, seconds: float) -> None:
    """One delivery attempt: ``outcome`` is success/retry/fail, ``status_code`` None when
    there was no HTTP answer (counted as status class ``network``)."""
    outcome = str(outcome)
    DELIVERIES.labels(outcome=outcome, status_class=status_family(status_code)).inc()
    ATTEMPT_DURATION.observe(max(seconds, 0.0))
    if outcome == "retry":
        RETRIES.inc()


def redelivery_requested(n: int) -> None:
    if n > 0:
        REDELIVERIES.inc(n)


def event_started() -> None:
    WORKFLOW_STARTS.inc()


def set_open_events(by_status: dict[str, int]) -> None:
    """The store's counts replace the last scrape's: a status with no events reads 0."""
    from hookline.core.models import EventStatus

    for status in EventStatus:
        if status is not EventStatus.EXPIRED:  # expired events are deleted from the store
            OPEN_EVENTS.labels(status=str(status)).set(by_status.get(str(status), 0))
