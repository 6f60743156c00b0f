"""Who is looking at the console: the session cookie's tenant, and the form (CSRF) check."""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Form, Request
from starlette.responses import Response

from hookline.api.deps import SessionDep, webhook_of
from hookline.store.console_sessions import csrf_token, find_session
from hookline.store.tables import Webhook

COOKIE = "hookline_console"
COOKIE_PATH = "/console"


_SAFE_VALUE = re.compile(r"[A-Za-z0-9_-]*")  # what secrets.token_urlsafe makes, or ""


def set_cookie(
    request: Request, response: Response, name: str, value: str, *, path: str, max_age: int
) -> None:
    """Sets (or, with max_age 0 and no value, deletes) one of the console's cookies: the
    session's or the sign-in form's, HttpOnly, for `path` only.

    By default `SameSite=Strict`: never sent from another site's page, so never inside a
    cross-site iframe. With HOOKLINE_CONSOLE_EMBED_ORIGINS set, `SameSite=None; Secure;
    Partitioned` (CHIPS): sent inside the platform's iframe, kept apart per top-level site
    (the cookie set in the platform's dashboard is not the one of a console opened on its
    own), and then the CSRF token of every form is what refuses a cross-site POST. `Secure`
    needs HTTPS, except on http://localhost and 127.0.0.1, which browsers treat as secure.

    Written here, not by Starlette's set_cookie: its `partitioned` needs Python 3.14's
    http.cookies."""
    if not _SAFE_VALUE.fullmatch(value):
        raise ValueError("a console cookie's value is URL-safe base64")
    parts = [f"{name}={value}", f"Max-Age={max_age}", f"Path={path}", "HttpOnly"]
    if max_age <= 0:
        parts.append("Expires=Thu, 01 Jan 1970 00:00:00 GMT")
    if request.app.state.settings.console_embed_origin_list:
        parts += ["Secure", "SameSite=none", "Partitioned"]
    else:
        parts += ["Secure"] if request.url.scheme == "https" else []
        parts.append("SameSite=strict")
    response.headers.append("set-cookie", "; ".join(parts))


def delete_cookie(request: Request, response: Response, name: str, *, path: str) -> None:
    """Deletes a console cookie (with the attributes it was set with: a partitioned cookie is
    deleted only by a partitioned Set-Cookie)."""
    set_cookie(request, response, name, "", path=path, max_age=0)


class ConsoleError(Exception):
    """An HTML error page (api/console/errors.py renders it)."""

    def __init__(self, status: int, title: str, message: str = "") -> None:
        super().__init__(message or title)
        self.status = status
        self.title = title
        self.message = message


@dataclass(frozen=True)
class ConsoleUser:
    session_id: str
    tenant_id: str
    tenant_name: str
    scopes: frozenset[str]
    csrf: str

    def can(self, scope: str) -> bool:
        return scope in self.scopes

    def require(self, scope: str) -> None:
        if scope not in self.scopes:
            raise ConsoleError(
                403,
                "Not allowed",
                f"This console session cannot do that: the token that opened it lacks {scope}.",
            )


async def console_user(request: Request, session: SessionDep) -> ConsoleUser:
    token = request.cookies.get(COOKIE)
    if not token:
        raise ConsoleError(
            401,
            "Not signed in",
            "Open a console sign-in link: your platform makes one with "
            "POST /api/v1/console/sessions.",
        )
    found = await find_session(session, token, datetime.now(UTC))
    if found is None:
        raise ConsoleError(
            401,
            "Session ended",
            "This console session has expired or was signed out. Open a new sign-in link.",
        )
    user = ConsoleUser(
        session_id=found.session_id,
        tenant_id=found.tenant_id,
        tenant_name=found.tenant_name,
        scopes=found.scopes,
        csrf=csrf_token(token),
    )
    request.state.console_user = user  # for the error pages' navigation
    return user


async def form_user(
    user: Annotated[ConsoleUser, Depends(console_user)],
    csrf: Annotated[str, Form(max_length=200)] = "",
) -> ConsoleUser:
    """Every POST form carries the session's CSRF token in a hidden field."""
    if not hmac.compare_digest(csrf.encode(), user.csrf.encode()):
        raise ConsoleError(
            403,
            "Form expired",
            "The form's security token did not match this session. Reload the page and try again.",
        )
    return user


UserDep = Annotated[ConsoleUser, Depends(console_user)]
FormUserDep = Annotated[ConsoleUser, Depends(form_user)]
# The path's webhook of the session's tenant, or the 404 page: the API's OwnedWebhook, by user.
UserWebhook = Annotated[Webhook, Depends(webhook_of(console_user))]
