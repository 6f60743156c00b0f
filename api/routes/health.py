"""Liveness: /healthz answers 200 only once the store and Temporal both answer."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from hookline.store.engine import check

router = APIRouter(tags=["health"])


async def _probe(coro) -> str:
    try:
        async with asyncio.timeout(3):
            await coro
        return "ok"
    except Exception as exc:  # a health probe reports any failure, it never raises
        return f"unavailable: {type(exc).__name__}"


@router.get("/healthz", summary="Readiness of the store and Temporal")
async def healthz(request: Request) -> JSONResponse:
    store = await _probe(check(request.app.state.engine))
    temporal = await _probe(request.app.state.temporal.service_client.check_health())
    ok = store == "ok" and temporal == "ok"
    body = {"status": "ok" if ok else "unavailable", "store": store, "temporal": temporal}
    return JSONResponse(body, status_code=200 if ok else 503)
