"""After an F scenario's first arrivals: its failing share (bench/seed.py `share`) to the end.
The flaky webhooks' retries arrive, the dead ones are recorded failed for good, the event is
settled; then one redelivery of the event (its failed deliveries: the dead share) is asked
through the API and timed to its last arrival. Counts come from the receiver and from the
store (deliveries by status, attempts), read directly from the bench's SQLite file."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path
from typing import Any

import httpx

from bench.config import HOST
from bench.seed import FanoutTenant, share


def failing_counts(webhooks: int) -> tuple[int, int]:
    """(flaky, dead) webhooks of an F tenant of that size."""
    kinds = [share(i) for i in range(webhooks)]
    return kinds.count("flaky/"), kinds.count("dead/")


def store_counts(db: Path, event_id: str) -> dict[str, Any]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as connection:
        status = connection.execute(
            "SELECT status FROM events WHERE id = ?", (event_id,)
        ).fetchone()
        by_status = dict(
            connection.execute(
                "SELECT status, COUNT(*) FROM deliveries WHERE event_id = ? GROUP BY status",
                (event_id,),
            ).fetchall()
        )
        attempts = connection.execute(
            "SELECT COUNT(*) FROM attempts WHERE event_id = ?", (event_id,)
        ).fetchone()[0]
    return {
        "event_status": status[0] if status else None,
        "deliveries": by_status,
        "attempts": attempts,
    }


async def _records(bench, base: int) -> list[list]:
    return (await bench.rx.get("/records", params={"after": base})).json()


async def _until(bench, base: int, event_id: str, kind: str, target: int, timeout: float):
    """Polls the receiver until `target` POSTs of the event reached `kind` paths; the records
    and the time of the last of them (None if not reached within `timeout`)."""
    deadline = time.monotonic() + timeout
    while True:
        records = await _records(bench, base)
        mine = [r for r in records if r[1] == event_id and f"/{kind}" in r[3]]
        if len(mine) >= target:
            return max(r[0] for r in mine), records
        if time.monotonic() > deadline:
            return None, records
        await asyncio.sleep(0.5)


async def settle(bench, tenant: FanoutTenant, event_id: str, base: int, at: float) -> dict:
    flaky, dead = failing_counts(tenant.webhooks)
    timeout = 120 + tenant.webhooks / 50
    retried_at, _ = await _until(bench, base, event_id, "flaky/", 2 * flaky, timeout)
    db = bench.stack.tmp / "hookline.db"
    settled = None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:  # the event's status is written when all are final
        counts = await asyncio.to_thread(store_counts, db, event_id)
        if counts["event_status"] in ("succeeded", "failed"):
            settled = time.time()
            break
        await asyncio.sleep(0.5)
    after_first = await asyncio.to_thread(store_counts, db, event_id)
    async with httpx.AsyncClient(
        base_url=f"http://{HOST}:{bench.stack.api_port}",
        headers={"Authorization": f"Bearer {tenant.token}"},
        timeout=60,
    ) as api:
        asked = time.time()
        answer = await api.post(f"/api/v1/events/{event_id}/redeliver")
    data = answer.json().get("data") or {}
    reply = {
        "status": answer.status_code,
        "scheduled": data.get("scheduled"),
        "not_scheduled": len(data.get("not_scheduled") or {}),
    }
    redelivered_at, _ = await _until(bench, base, event_id, "dead/", 2 * dead, timeout)
    return {
        "flaky": flaky,
        "dead": dead,
        "retries_done_s": retried_at - at if retried_at else None,
        "settled_s": settled - at if settled else None,
        "store": after_first,
        "redeliver_answer": reply,
        "redelivered_s": redelivered_at - asked if redelivered_at else None,
        "complete": bool(retried_at and settled and redelivered_at),
    }
