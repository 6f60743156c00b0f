"""Templates (Jinja2, autoescaped), the console's response headers, display helpers."""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import RedirectResponse
from fastapi.templating import Jinja2Templates
from starlette.responses import HTMLResponse

from hookline.core.models import utc_text

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
templates = Jinja2Templates(directory=HERE / "templates")  # autoescape is on by default

# Styles only from our own static files; forms post only to us; one script, console.js, only
# on pages (its tag carries the response's nonce: no inline script, no other file runs); framed
# only by the console itself and the origins of HOOKLINE_CONSOLE_EMBED_ORIGINS.
_OTHER_HEADERS = {
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


def content_security_policy(embed_origins: list[str], nonce: str | None = None) -> str:
    ancestors = " ".join(["'self'", *embed_origins])
    script = f"script-src 'nonce-{nonce}'; " if nonce else ""
    return (
        f"default-src 'none'; {script}style-src 'self'; img-src 'self'; form-action 'self'; "
        f"frame-ancestors {ancestors}; base-uri 'none'"
    )


def security_headers(request: Request, nonce: str | None = None) -> dict[str, str]:
    """The console's response headers (a page's, with the nonce of its one script tag)."""
    origins = request.app.state.settings.console_embed_origin_list
    return {"Content-Security-Policy": content_security_policy(origins, nonce), **_OTHER_HEADERS}


def redirect(request: Request, url: str) -> RedirectResponse:
    """A form's answer: 303 to `url`, with the console's headers."""
    response = RedirectResponse(url, status_code=303)
    response.headers.update(security_headers(request))
    return response


def when(value: datetime | None) -> str:
    if value is None:
        return "—"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def clock(value: datetime | None) -> str:
    """The time of day (UTC) to the millisecond: attempts of one event are close together."""
    if value is None:
        return "—"
    return value.astimezone(UTC).strftime("%H:%M:%S.%f")[:-3]


def ago(value: datetime | None, now: datetime | None = None) -> str:
    """ "3 min ago", "2 h ago", "5 d ago" (or "in 4 min" for the future)."""
    if value is None:
        return "—"
    seconds = ((now or datetime.now(UTC)) - value).total_seconds()
    future, seconds = seconds < 0, abs(seconds)
    if seconds < 60:
        text = f"{int(seconds)} s"
    elif seconds < 3600:
        text = f"{int(seconds // 60)} min"
    elif seconds < 86400:
        text = f"{int(seconds // 3600)} h"
    else:
        text = f"{int(seconds // 86400)} d"
    return f"in {text}" if future else f"{text} ago"


def due(value: datetime | None, now: datetime | None = None) -> str:
    """When a retry is due: "in 4 min", or "now" once its time has come (the workflow's timer
    fires and the attempt starts a moment later)."""
    if value is None:
        return "—"
    if value <= (now or datetime.now(UTC)):
        return "now"
    return ago(value, now)


def percent(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value * 100:.1f} %" if value < 1 else "100 %"


def pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)


def iso(value: datetime) -> str:
    """The `datetime` attribute of a <time>: UTC, ISO 8601 (console.js shows it local)."""
    return utc_text(value)


def header_lines(headers: dict[str, str] | None) -> str:
    """Headers as an HTTP message writes them, one `Name: value` a line."""
    return "\n".join(f"{name}: {value}" for name, value in (headers or {}).items())


templates.env.filters.update(
    when=when,
    clock=clock,
    ago=ago,
    due=due,
    percent=percent,
    pretty_json=pretty_json,
    iso=iso,
    header_lines=header_lines,
)


def page(
    request: Request, name: str, context: dict[str, Any], status_code: int = 200
) -> HTMLResponse:
    nonce = secrets.token_urlsafe(18)
    response = templates.TemplateResponse(
        request,
        name,
        {"user": getattr(request.state, "console_user", None), "nonce": nonce, **context},
        status_code,
    )
    response.headers.update(security_headers(request, nonce))
    return response
