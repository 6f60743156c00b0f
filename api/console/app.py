"""Mounts the console on the app: its routers, its static files, its error pages."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from hookline.api.console import errors, events, jobs, sessions, webhooks
from hookline.api.console.render import STATIC


def install(app: FastAPI) -> None:
    app.include_router(sessions.api_router, prefix="/api/v1")
    app.include_router(sessions.router)
    app.include_router(webhooks.router)
    app.include_router(events.router)
    app.include_router(jobs.router)
    app.mount("/console/static", StaticFiles(directory=STATIC), name="console-static")
    errors.install(app)
