"""Prometheus metrics: what was published, how deliveries went, how long attempts took.

Module-level collectors on the default registry; the helpers below are the only thing the
rest of the code calls, one line each. Every process that delivers exports them: the API on
``GET /metrics``, a standalone worker on its own port (``HOOKLINE_METRICS_ADDRESS``,
`MetricsServer`). With ``PROMETHEUS_MULTIPROC_DIR`` set (``hookline api --processes N`` sets one),
prometheus-client's multiprocess mode keeps the values in files there and every scrape of
any of those processes reads the sum of all of them (`registry`).
"""

from __future__ import annotations

import logging
import os

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import choose_encoder, start_http_server
from prometheus_client.multiprocess import MultiProcessCollector

from hookline.core.retry import status_family
from hookline.infra.config import split_address

log = logging.getLogger("hookline.metrics")

# prometheus-client's own switch, read when it is imported: serve.py sets it before any import
# (`metrics_dir`).
MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"

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
    # Several API processes: the latest count any of them made (each counts the one store).
    multiprocess_mode="mostrecent",
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


def multiprocess() -> bool:
    return bool(os.environ.get(MULTIPROC_DIR))


def registry() -> CollectorRegistry:
    """What a scrape of this process serves: its default registry or, in multiprocess mode,
    the values every process wrote to the directory, summed (counters, histograms) or the
    latest (`hookline_open_events`). A fresh registry reads the files anew at each collect."""
    if not multiprocess():
        return REGISTRY
    collected = CollectorRegistry()
    MultiProcessCollector(collected)
    return collected


def exposition(accept: str) -> tuple[bytes, str]:
    """The body and content type for a scrape: OpenMetrics when ``accept`` asks for it."""
    encoder, content_type = choose_encoder(accept)
    return encoder(registry()), content_type


class MetricsServerError(RuntimeError):
    """The metrics port could not be bound: one line naming the address and why."""


class MetricsServer:
    """``http://host:port/metrics`` (any path, in fact) on a daemon thread, prometheus-client's
    own server, for a process with no HTTP server of its own (`hookline worker`)."""

    def __init__(self, address: str) -> None:
        host, port = split_address(address)
        try:
            self._server, self._thread = start_http_server(port, host, registry=registry())
        except OSError as exc:
            raise MetricsServerError(f"cannot serve metrics on {address}: {exc}") from None
        self.host, self.port = host, self._server.server_port
        log.info("hookline metrics on %s", self.url)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
