"""The management API: create_app() and its lifespan (store, Temporal client, limits)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from temporalio.client import Client

from hookline.api import console, errors
from hookline.api.auth import RateLimiter
from hookline.api.limits import BodySizeLimit
from hookline.api.routes import codec, deliveries, event_types, events, health, webhooks
from hookline.api.routes import metrics as metrics_routes
from hookline.core.admin import ensure_bootstrap
from hookline.core.catalog import Catalog
from hookline.core.config import Settings, get_settings
from hookline.core.db import create_engine, session_maker
from hookline.core.quiet_gc import QuietCollector
from hookline.core.tracing import instrument_app, setup_tracing, shutdown_tracing

DESCRIPTION = """
hookline delivers your platform's events to your customers' webhooks: signed, retried with
status-aware policies, recorded attempt by attempt for 7 days, and redeliverable.

Every endpoint needs `Authorization: Bearer <token>`. Errors always look like
`{"error": {"code": "...", "message": "...", "details": ...}}`.
"""


def create_app(settings: Settings | None = None, *, temporal: Client | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from hookline.worker import (
            EmbeddedWorker,
            connect,
            shared_deps,
            start_expiry_sweep,
            stop_expiry_sweep,
            tune_gc,
        )

        # First: the Temporal client below takes its tracing interceptor from it.
        tracer_provider = setup_tracing("hookline-api")
        engine = create_engine(settings.resolved_database_url)
        app.state.engine = engine
        app.state.sessions = session_maker(engine)
        # One HTTP pool and one secret box for the API's sends (/test) and its worker.
        collector = QuietCollector()  # the process's GC policy, with tune_gc below
        app.state.deps = shared_deps(settings, engine, collector)
        # Lazy: the API starts (and answers 503) while Temporal is still coming up.
        app.state.temporal = temporal or await connect(settings, lazy=True)
        if settings.bootstrap_token:
            async with app.state.sessions.begin() as session:
                await ensure_bootstrap(session, settings.bootstrap_token)
        tune_gc()
        collecting = asyncio.create_task(collector.run(), name="hookline-quiet-gc")
        embedded = sweeping = None
        if settings.embedded_worker:
            sweeping = start_expiry_sweep(app.state.deps)  # as every worker process does
            embedded = EmbeddedWorker(
                app.state.deps,
                on_client=lambda client: setattr(app.state, "temporal", client),
                client=temporal,
            )
            embedded.start()
        try:
            yield
        finally:
            if embedded is not None:
                await embedded.stop()
            if sweeping is not None:
                await stop_expiry_sweep(sweeping)
            collecting.cancel()
            await app.state.deps.http.aclose()
            app.state.deps.store.close()
            await engine.dispose()
            await shutdown_tracing(tracer_provider)

    app = FastAPI(
        title="hookline",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        openapi_tags=[
            {"name": "webhooks", "description": "Subscriptions: url, secret, types, filter."},
            {"name": "events", "description": "Publish, inspect and redeliver events."},
            {"name": "event-types", "description": "The catalog of event types."},
            {"name": "health", "description": "Liveness and readiness."},
        ],
    )
    app.state.settings = settings
    app.state.catalog = Catalog(settings.event_types)
    app.state.rate_limiter = RateLimiter(settings.rate_limit)
    errors.install(app)
    instrument_app(app)  # when OTEL_* turns tracing on (core/tracing.py)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_request_bytes)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origin_list,
        allow_methods=["*"],
        allow_headers=["*"],
    )
    app.include_router(health.router)
    app.include_router(webhooks.router, prefix="/api/v1")
    app.include_router(events.router, prefix="/api/v1")
    app.include_router(deliveries.router, prefix="/api/v1")
    app.include_router(event_types.router, prefix="/api/v1")
    app.include_router(codec.router)
    app.include_router(metrics_routes.router)
    console.install(app)
    return app


def app_from_env() -> FastAPI:
    """The app factory for `hookline api --processes N` (uvicorn imports it in each process)."""
    from hookline.core.logs import configure as configure_logs

    settings = get_settings()
    configure_logs(settings.log_level)
    return create_app(settings)
