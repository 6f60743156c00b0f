"""A webhook's stats at a busy webhook's size: counted in the store, percentiles over the
latest answered attempts, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import insert

from hookline.api.services.deliveries import LATENCY_SAMPLE
from hookline.core import ids
from hookline.store.tables import Attempt
from tests.api.test_console import add_event


async def test_stats_of_a_busy_webhook_count_every_attempt_and_bound_the_latency_rows(
    client, tenant, create_webhook, sessions
) -> None:
    webhook = await create_webhook()
    event_id = await add_event(sessions, tenant.tenant_id, webhook["id"])
    delivery_id = ids.delivery_id(event_id, webhook["id"])
    now = datetime.now(UTC)
    answered_old = 2_000  # slow, and older than the latest LATENCY_SAMPLE answered attempts
    rows = []

    def attempt(i: int, at: datetime, code: int | None, ms: int) -> dict:
        return {
            "id": f"att_{i:08d}",
            "tenant_id": tenant.tenant_id,
            "delivery_id": delivery_id,
            "event_id": event_id,
            "webhook_id": webhook["id"],
            "number": 1,
            "series": i,
            "trigger": "manual",
            "url": webhook["url"],
            "status_code": code,
            "outcome": "success" if code == 200 else "fail",
            "duration_ms": ms,
            "started_at": at,
        }

    start = now - timedelta(hours=20)
    for i in range(answered_old):
        rows.append(attempt(i, start + timedelta(milliseconds=i), 200, 5_000))
    later = start + timedelta(hours=1)
    for i in range(LATENCY_SAMPLE):  # the latest answered: 10 ms, a few at 503 and 90 ms
        code, ms = (503, 90) if i % 100 == 0 else (200, 10)
        rows.append(attempt(answered_old + i, later + timedelta(milliseconds=i), code, ms))
    for i in range(7):  # no answer: counted, never in the percentiles
        at = later + timedelta(seconds=30 + i)
        rows.append(attempt(answered_old + LATENCY_SAMPLE + i, at, None, 15_000))
    rows.append(attempt(99_999_999, now - timedelta(days=2), 200, 1))  # outside the window
    async with sessions.begin() as session:
        await session.execute(insert(Attempt), rows)

    answer = await client.get(
        f"/api/v1/webhooks/{webhook['id']}/stats?window=24h", headers=tenant.headers
    )
    assert answer.status_code == 200, answer.text
    stats = answer.json()["data"]
    assert stats["attempts"] == answered_old + LATENCY_SAMPLE + 7
    assert stats["attempts_by_class"] == {
        "2xx": answered_old + LATENCY_SAMPLE - LATENCY_SAMPLE // 100,
        "5xx": LATENCY_SAMPLE // 100,
        "network": 7,
    }
    assert stats["latency_attempts"] == LATENCY_SAMPLE
    assert (stats["latency_ms_p50"], stats["latency_ms_p95"]) == (10.0, 10.0)
