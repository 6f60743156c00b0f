"""The management API: create_app() and its lifespan (store, Temporal client, limits)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from temporalio.client import Client

from hookline.api import errors
from hookline.api.auth import RateLimiter
from hookline.api.console.app import install as install_console
from hookline.api.deps import only_known_query_params
from hookline.api.limits import BodyReadTimeout, BodySizeLimit, no_nul_in_address
from hookline.api.routes import codec, deliveries, event_types, events, health, jobs, webhooks
from hookline.api.routes import metrics as metrics_routes
from hookline.core.catalog import Catalog
from hookline.infra.config import Settings, get_settings
from hookline.infra.quiet_gc import tune_gc
from hookline.infra.temporal import connect
from hookline.infra.tracing import instrument_app, setup_tracing, shutdown_tracing
from hookline.store.admin import ensure_bootstrap
from hookline.store.engine import session_maker

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
        from hookline.process import process_resources
        from hookline.worker import EmbeddedWorker

        # First: the Temporal client below takes its tracing interceptor from it.
        tracer_provider = setup_tracing("hookline-api")
        try:
            # One HTTP pool and one secret box for the API's sends (/test) and its worker; the
            # sweeps where the embedded worker runs, as in every worker process.
            async with process_resources(
                settings,
                runs_workflows=settings.embedded_worker,
                # The reconciler's client: the one publishing (set below, replaced by the
                # embedded worker's once connected).
                temporal=lambda: getattr(app.state, "temporal", None),
            ) as process:
                app.state.engine = process.engine
                app.state.sessions = session_maker(process.engine)
                app.state.deps = process.deps
                # Lazy: the API starts (and answers 503) while Temporal is still coming up.
                app.state.temporal = temporal or await connect(settings, lazy=True)
                if settings.bootstrap_token:
                    async with app.state.sessions.begin() as session:
                        await ensure_bootstrap(session, settings.bootstrap_token)
                tune_gc()
                embedded = None
                if settings.embedded_worker:
                    embedded = EmbeddedWorker(
                        process.deps,
                        on_client=lambda client: setattr(app.state, "temporal", client),
                        client=temporal,
                    )
                    embedded.start()
                try:
                    yield
                finally:
                    if embedded is not None:
                        await embedded.stop()
        finally:
            await shutdown_tracing(tracer_provider)

    app = FastAPI(
        title="hookline",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        dependencies=[Depends(no_nul_in_address), Depends(only_known_query_params)],
        # No redirect to the path without its trailing slash: Starlette builds its Location
        # from the request's Host header. A 404 names that path instead (api/errors.py).
        redirect_slashes=False,
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
    instrument_app(app)  # when OTEL_* turns tracing on (infra/tracing.py)
    app.add_middleware(
        BodySizeLimit,
        max_bytes=settings.max_request_bytes,
        max_head_bytes=settings.max_header_bytes,
    )
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origin_list,
        allow_methods=["*"],
        allow_headers=["*"],
    )
    # Outermost: its 408 replaces whatever the app answered to a body cut off by the timeout.
    app.add_middleware(BodyReadTimeout, timeout=settings.request_body_timeout.total_seconds())
    app.include_router(health.router)
    app.include_router(webhooks.router, prefix="/api/v1")
    app.include_router(events.router, prefix="/api/v1")
    app.include_router(deliveries.router, prefix="/api/v1")
    app.include_router(event_types.router, prefix="/api/v1")
    app.include_router(jobs.router, prefix="/api/v1")
    app.include_router(codec.router)
    app.include_router(codec.ui_router)
    app.include_router(metrics_routes.router)
    install_console(app)
    return app


def app_from_env() -> FastAPI:
    """The app factory for `hookline api --processes N` (uvicorn imports it in each process)."""
    from hookline.infra.logs import configure as configure_logs

    settings = get_settings()
    configure_logs(settings.log_level)
    return create_app(settings)
