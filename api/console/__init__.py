"""The hookline console: server-rendered pages (Jinja2) for one tenant at a time, signed in
through single-use links from POST /api/v1/console/sessions. No script, no build step."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from hookline.api.console import errors, events, sessions, webhooks
from hookline.api.console.render import STATIC


def install(app: FastAPI) -> None:
    app.include_router(sessions.api_router, prefix="/api/v1")
    app.include_router(sessions.router)
    app.include_router(webhooks.router)
    app.include_router(events.router)
    app.mount("/console/static", StaticFiles(directory=STATIC), name="console-static")
    errors.install(app)
