"""GET /metrics: Prometheus exposition, unauthenticated (scrapers carry no token).

Content negotiation as prometheus_client does it: the classic text format (version 0.0.4)
by default, OpenMetrics when the scraper asks for it in ``Accept``. Under
``hookline api --processes N`` every process answers with the sum of all of them
(multiprocess mode, infra/metrics.py).
"""

from __future__ import annotations

import time

from fastapi import APIRouter, Request, Response
from sqlalchemy import func, select

from hookline.infra import metrics as collectors
from hookline.store.retention import is_live
from hookline.store.tables import Event

router = APIRouter(include_in_schema=False)


OPEN_EVENTS_MAX_AGE = 10.0  # seconds: scrapers every few seconds do not each scan the index


async def count_open_events(request: Request) -> None:
    """Live events by status, across tenants: a GROUP BY over the events whose `expires_at`
    is still ahead (`is_live`, as every read of events: an expired event the sweep has not
    deleted yet is not counted). Skipped, not fatal, if the store is down: the scrape still
    serves the process's counters."""
    state = request.app.state
    now = time.monotonic()
    if now - getattr(state, "open_events_counted_at", -OPEN_EVENTS_MAX_AGE) < OPEN_EVENTS_MAX_AGE:
        return
    try:
        async with state.sessions() as session:
            rows = await session.execute(
                select(Event.status, func.count()).where(is_live()).group_by(Event.status)
            )
            collectors.set_open_events({status: n for status, n in rows})
        state.open_events_counted_at = now
    except Exception:
        return


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    await count_open_events(request)
    body, content_type = collectors.exposition(request.headers.get("accept", ""))
    return Response(body, headers={"Content-Type": content_type})
