"""GET /metrics: Prometheus exposition of the counters in hookline.infra.metrics."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from hookline.infra import metrics


@pytest.fixture
def store_kind() -> str:
    return "sqlite"


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def scraped(text: str) -> dict[tuple[str, tuple], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_metrics_are_prometheus_text_without_auth(client):
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    families = {f.name: f.type for f in text_string_to_metric_families(response.text)}
    assert families["hookline_events_published"] == "counter"
    assert families["hookline_deliveries"] == "counter"
    assert families["hookline_attempt_duration_seconds"] == "histogram"
    assert families["hookline_retries"] == "counter"
    assert families["hookline_redeliveries"] == "counter"


async def test_openmetrics_when_asked_for(client):
    response = await client.get(
        "/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"}
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    assert response.text.endswith("# EOF\n")


async def test_metrics_are_not_in_the_openapi_schema(client):
    schema = (await client.get("/openapi.json")).json()
    assert "/metrics" not in schema["paths"]


async def test_helpers_change_the_exposed_values(client):
    before = scraped((await client.get("/metrics")).text)

    metrics.event_published("metrics.test")
    metrics.event_published("metrics.test")
    metrics.record_attempt("success", 204, 0.03)
    metrics.record_attempt("retry", 503, 0.2)
    metrics.record_attempt("fail", None, 10.0)
    metrics.redelivery_requested(3)
    metrics.redelivery_requested(0)

    after = scraped((await client.get("/metrics")).text)

    def delta(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert delta("hookline_events_published_total", type="metrics.test") == 2
    assert delta("hookline_deliveries_total", outcome="success", status_class="2xx") == 1
    assert delta("hookline_deliveries_total", outcome="retry", status_class="5xx") == 1
    assert delta("hookline_deliveries_total", outcome="fail", status_class="network") == 1
    assert delta("hookline_retries_total") == 1
    assert delta("hookline_redeliveries_total") == 3
    assert delta("hookline_attempt_duration_seconds_count") == 3
    assert delta("hookline_attempt_duration_seconds_sum") == pytest.approx(10.23)
    assert delta("hookline_attempt_duration_seconds_bucket", le="0.05") == 1
    assert delta("hookline_attempt_duration_seconds_bucket", le="+Inf") == 3


def test_outcome_enums_are_labelled_by_value():
    from hookline.core.retry import Outcome

    before = value("hookline_deliveries_total", outcome="retry", status_class="4xx")
    metrics.record_attempt(Outcome.RETRY, 429, 0.01)
    assert value("hookline_deliveries_total", outcome="retry", status_class="4xx") == before + 1


async def test_open_events_are_counted_from_the_store_by_status(client, sessions, tenant):
    from datetime import UTC, datetime, timedelta

    from hookline.api.routes import metrics as metrics_route
    from hookline.store.tables import Event

    now = datetime.now(UTC)
    statuses = ["succeeded"] * 3 + ["failed"] * 2 + ["executing"]
    async with sessions.begin() as session:
        for i, status in enumerate(statuses):
            session.add(
                Event(
                    id=f"evt_open_{i}",
                    tenant_id=tenant.tenant_id,
                    type="user.created",
                    data={"n": i},
                    created=now,
                    expires_at=now + timedelta(days=7),
                    status=status,
                    stages=[],
                )
            )
    client.app.state.open_events_counted_at = -1e9  # this app's first scrape counts anew
    first = scraped((await client.get("/metrics")).text)
    assert first[("hookline_open_events", (("status", "succeeded"),))] == 3
    assert first[("hookline_open_events", (("status", "failed"),))] == 2
    assert first[("hookline_open_events", (("status", "executing"),))] == 1
    assert first[("hookline_open_events", (("status", "awaiting-executing"),))] == 0

    # Expiry deletes events; the next count (after the cache's age) drops them.
    async with sessions.begin() as session:
        await session.delete(await session.get(Event, "evt_open_0"))
    cached = scraped((await client.get("/metrics")).text)
    assert cached[("hookline_open_events", (("status", "succeeded"),))] == 3  # within max age
    client.app.state.open_events_counted_at -= metrics_route.OPEN_EVENTS_MAX_AGE
    fresh = scraped((await client.get("/metrics")).text)
    assert fresh[("hookline_open_events", (("status", "succeeded"),))] == 2


async def test_expired_events_are_not_counted_open(client, sessions, tenant):
    """An event past its `expires_at` answers 404 whether or not the sweep has deleted its
    row yet: the gauge counts only live events, as every read of events does."""
    from datetime import UTC, datetime, timedelta

    from hookline.store.tables import Event

    now = datetime.now(UTC)
    ends = {"evt_live": now + timedelta(days=7), "evt_gone": now - timedelta(seconds=1)}
    async with sessions.begin() as session:
        for event_id, expires_at in ends.items():
            session.add(
                Event(
                    id=event_id,
                    tenant_id=tenant.tenant_id,
                    type="user.created",
                    data={},
                    created=expires_at - timedelta(days=7),
                    expires_at=expires_at,
                    status="failed",
                    stages=[],
                )
            )
    assert (await client.get("/api/v1/events/evt_gone", headers=tenant.headers)).status_code == 404
    client.app.state.open_events_counted_at = -1e9  # this app's first scrape counts anew
    counted = scraped((await client.get("/metrics")).text)
    assert counted[("hookline_open_events", (("status", "failed"),))] == 1
