"""Signing in and out: the API hands out single-use links; opening one asks the person to
confirm (a form), and the confirmed form sets the session cookie.

Why always ask: the session cookie is SameSite=Strict, so a link followed from another site
(a mail, a chat) arrives without it, and the server cannot tell whether this browser is
signed in to another tenant. Signing in on a plain GET would let any page replace a session
with one of its author's tenant; the confirmation is a POST protected by a token bound to a
cookie this page set (a cross-site POST carries no Strict cookie).

Embedded (HOOKLINE_CONSOLE_EMBED_ORIGINS): both cookies are SameSite=None; Secure; Partitioned
(auth.set_cookie), so they work in the platform's iframe; a cross-site POST then carries them,
and the form's token, which only a page of ours shows, is what refuses it.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
import secrets
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Body, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from hookline.api.console.auth import (
    COOKIE,
    COOKIE_PATH,
    ConsoleError,
    FormUserDep,
    delete_cookie,
    set_cookie,
)
from hookline.api.console.render import page, security_headers
from hookline.api.deps import SessionDep, SettingsDep, WebhooksWrite
from hookline.api.json_body import LimitedJsonRoute
from hookline.api.schemas.common import ERRORS, Data
from hookline.api.schemas.console import ConsoleSessionLink, ConsoleSessionRequest
from hookline.infra.config import Settings
from hookline.store.admin import SCOPES, ensure_bootstrap, hash_token
from hookline.store.console_sessions import (
    MAX_LOGIN_LIFETIME,
    consume_login,
    end_session,
    find_session,
    issue_login,
    peek_login,
)
from hookline.store.engine import create_engine, session_maker
from hookline.store.tables import Token

# The sign-in form's own cookie (before any session): its HMAC is the form's token.
LOGIN_COOKIE = "hookline_sign_in"
LOGIN_PATH = "/console/login"
MAX_LINK_TOKEN = 100
_FORM_COOKIE = re.compile(r"[A-Za-z0-9_-]{20,100}")


def login_url(settings: Settings, token: str) -> str:
    """A sign-in link on the configured public address (`HOOKLINE_PUBLIC_URL`), never on
    the request's Host header, which any client sets."""
    return f"{settings.public_url.rstrip('/')}{LOGIN_PATH}/{token}"


def _sign_in_csrf(cookie: str) -> str:
    return hmac.new(cookie.encode(), b"hookline console sign-in", hashlib.sha256).hexdigest()


def _unusable() -> ConsoleError:
    return ConsoleError(
        401,
        "This sign-in link cannot be used",
        "It has expired, was already used, or its token was revoked: each link signs in "
        "once. Ask for a new one.",
    )


api_router = APIRouter(prefix="/console", tags=["console"], route_class=LimitedJsonRoute)
router = APIRouter(prefix="/console", include_in_schema=False)


@api_router.post(
    "/sessions",
    status_code=201,
    response_model=Data[ConsoleSessionLink],
    responses=ERRORS,
    summary="A sign-in link to the console for this token's tenant",
    description="Single use, valid `expires_in` seconds (default 15 minutes). Opening it sets "
    "an HttpOnly, SameSite=Strict session cookie (SameSite=None; Secure; Partitioned when "
    "HOOKLINE_CONSOLE_EMBED_ORIGINS lets other sites embed the console) and redirects to "
    "`/console`, so no secret "
    "stays in the address bar. The session can do what the token can, of `webhooks:read`, "
    "`webhooks:write`, `events:read` and `events:redeliver`.",
)
async def create_console_session(
    principal: WebhooksWrite,
    session: SessionDep,
    settings: SettingsDep,
    body: Annotated[ConsoleSessionRequest | None, Body()] = None,
) -> Data[ConsoleSessionLink]:
    body = body or ConsoleSessionRequest()
    issued = await issue_login(
        session,
        principal.tenant_id,
        principal.scopes,
        timedelta(seconds=body.expires_in),
        datetime.now(UTC),
        token_id=principal.token_id,
    )
    await session.commit()
    url = login_url(settings, issued.token)
    return Data(data=ConsoleSessionLink(url=url, expires_at=issued.expires_at))


@router.get("/login/{token}", name="console_login")
async def login(token: str, request: Request, session: SessionDep) -> Response:
    """Names the tenant the link signs in to (and the one this browser is signed in to, when
    its cookie came along) and asks to confirm; uses nothing up."""
    now = datetime.now(UTC)
    offer = await peek_login(session, token, now) if len(token) <= MAX_LINK_TOKEN else None
    if offer is None:
        raise _unusable()
    current = None
    if request.cookies.get(COOKIE):
        current = await find_session(session, request.cookies[COOKIE], now)
    form_cookie = request.cookies.get(LOGIN_COOKIE, "")
    if not _FORM_COOKIE.fullmatch(form_cookie):  # ours are 43 URL-safe characters
        form_cookie = secrets.token_urlsafe(32)
    response = page(
        request,
        "sign_in.html",
        {
            "title": "Sign in to the console",
            "tenant_name": offer.tenant_name,
            "current": current,
            "switching": current is not None and current.tenant_id != offer.tenant_id,
            "action": f"{LOGIN_PATH}/{token}",
            "sign_in_csrf": _sign_in_csrf(form_cookie),
        },
    )
    set_cookie(
        request,
        response,
        LOGIN_COOKIE,
        form_cookie,
        max_age=int(MAX_LOGIN_LIFETIME.total_seconds()),
        path=LOGIN_PATH,
    )
    return response


@router.post("/login/{token}")
async def confirm_login(
    token: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    csrf: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """The confirmed sign-in: the form's token must match this browser's sign-in cookie."""
    form_cookie = request.cookies.get(LOGIN_COOKIE, "")
    if not form_cookie or not hmac.compare_digest(
        csrf.encode(), _sign_in_csrf(form_cookie).encode()
    ):
        raise ConsoleError(
            403,
            "Form expired",
            "The sign-in form's security token did not match. Open the sign-in link again.",
        )
    lifetime = settings.console_session_lifetime
    now = datetime.now(UTC)
    signed_in = (
        await consume_login(session, token, lifetime, now) if len(token) <= MAX_LINK_TOKEN else None
    )
    if signed_in is None:
        raise _unusable()
    previous = request.cookies.get(COOKIE)
    if previous:  # the session it replaces ends here, not only in this browser
        replaced = await find_session(session, previous, now)
        if replaced is not None:
            await end_session(session, replaced.session_id, now)
    await session.commit()
    response = RedirectResponse("/console", status_code=303)
    delete_cookie(request, response, LOGIN_COOKIE, path=LOGIN_PATH)
    response.headers.update(security_headers(request))
    set_cookie(
        request,
        response,
        COOKIE,
        signed_in.token,
        max_age=int(lifetime.total_seconds()),
        path=COOKIE_PATH,
    )
    return response


@router.post("/logout")
async def logout(request: Request, user: FormUserDep, session: SessionDep) -> Response:
    await end_session(session, user.session_id, datetime.now(UTC))
    await session.commit()
    request.state.console_user = None
    response = page(
        request,
        "error.html",
        {
            "status_code": None,
            "title": "You are signed out",
            "message": "Open a new sign-in link to come back.",
        },
    )
    delete_cookie(request, response, COOKIE, path=COOKIE_PATH)
    return response


def dev_login_url(settings: Settings, token: str) -> str:
    """A sign-in link (24 h) for the tenant of the bootstrap token, minted in the store:
    `hookline dev` prints it, and mints it before it starts the API, so nothing waits on it."""

    async def mint() -> str:
        engine = create_engine(settings.resolved_database_url)
        try:
            async with session_maker(engine).begin() as session:
                tenant = await ensure_bootstrap(session, token)
                token_id = await session.scalar(
                    select(Token.id).where(Token.token_hash == hash_token(token))
                )
                issued = await issue_login(
                    session,
                    tenant.id,
                    SCOPES,
                    MAX_LOGIN_LIFETIME,
                    datetime.now(UTC),
                    token_id=token_id,
                )
        finally:
            await engine.dispose()
        return login_url(settings, issued.token)

    try:
        return asyncio.run(mint())
    except ValueError as exc:  # a revoked or foreign HOOKLINE_BOOTSTRAP_TOKEN
        return f"(no sign-in link: {exc})"
