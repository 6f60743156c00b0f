"""GET /metrics: Prometheus exposition, unauthenticated (scrapers carry no token).

Content negotiation as prometheus_client does it: the classic text format (version 0.0.4)
by default, OpenMetrics when the scraper asks for it in ``Accept``.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import REGISTRY
from prometheus_client.exposition import choose_encoder

import hookline.core.metrics  # noqa: F401  (registers the collectors)

router = APIRouter(include_in_schema=False)


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    encoder, content_type = choose_encoder(request.headers.get("accept", ""))
    return Response(encoder(REGISTRY), headers={"Content-Type": content_type})
