"""Schemas of the console's sign-in links (POST /api/v1/console/sessions)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from hookline.store.console_sessions import LOGIN_LIFETIME, MAX_LOGIN_LIFETIME, MIN_LOGIN_LIFETIME


class ConsoleSessionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"expires_in": 900}]})

    expires_in: int = Field(
        default=int(LOGIN_LIFETIME.total_seconds()),
        ge=int(MIN_LOGIN_LIFETIME.total_seconds()),
        le=int(MAX_LOGIN_LIFETIME.total_seconds()),
        description="Seconds the sign-in link stays usable (default 15 minutes, at most 24 h).",
    )


class ConsoleSessionLink(BaseModel):
    url: str = Field(
        description="Open it in a browser, once: it signs the tenant into the console.",
        examples=["http://127.0.0.1:8000/console/login/6bX0…"],
    )
    expires_at: datetime = Field(description="After this the link no longer signs in.")
