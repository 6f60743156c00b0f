"""Signing in and out: the API hands out single-use links, the link sets the session cookie."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Body, Request
from fastapi.responses import RedirectResponse, Response

from hookline.api.console.auth import COOKIE, COOKIE_PATH, ConsoleError, FormUserDep
from hookline.api.console.render import SECURITY_HEADERS, page
from hookline.api.deps import SessionDep, SettingsDep, WebhooksWrite
from hookline.api.schemas.common import ERRORS, Data
from hookline.api.schemas.console import ConsoleSessionLink, ConsoleSessionRequest
from hookline.infra.config import Settings
from hookline.store.admin import SCOPES, ensure_bootstrap
from hookline.store.console_sessions import (
    MAX_LOGIN_LIFETIME,
    consume_login,
    end_session,
    issue_login,
)
from hookline.store.engine import create_engine, session_maker

api_router = APIRouter(prefix="/console", tags=["console"])
router = APIRouter(prefix="/console", include_in_schema=False)


@api_router.post(
    "/sessions",
    status_code=201,
    response_model=Data[ConsoleSessionLink],
    responses=ERRORS,
    summary="A sign-in link to the console for this token's tenant",
    description="Single use, valid `expires_in` seconds (default 15 minutes). Opening it sets "
    "an HttpOnly, SameSite=Strict session cookie and redirects to `/console`, so no secret "
    "stays in the address bar. The session can do what the token can, of `webhooks:read`, "
    "`webhooks:write`, `events:read` and `events:redeliver`.",
)
async def create_console_session(
    request: Request,
    principal: WebhooksWrite,
    session: SessionDep,
    body: Annotated[ConsoleSessionRequest | None, Body()] = None,
) -> Data[ConsoleSessionLink]:
    body = body or ConsoleSessionRequest()
    issued = await issue_login(
        session,
        principal.tenant_id,
        principal.scopes,
        timedelta(seconds=body.expires_in),
        datetime.now(UTC),
    )
    await session.commit()
    url = str(request.url_for("console_login", token=issued.token))
    return Data(data=ConsoleSessionLink(url=url, expires_at=issued.expires_at))


@router.get("/login/{token}", name="console_login")
async def login(token: str, request: Request, session: SessionDep, settings: SettingsDep):
    lifetime = settings.console_session_lifetime
    signed_in = (
        await consume_login(session, token, lifetime, datetime.now(UTC))
        if len(token) <= 100
        else None
    )
    if signed_in is None:
        raise ConsoleError(
            401,
            "This sign-in link cannot be used",
            "It has expired or was already used: each link signs in once. Ask for a new one.",
        )
    await session.commit()
    response = RedirectResponse("/console", status_code=303)
    response.headers.update(SECURITY_HEADERS)
    response.set_cookie(
        COOKIE,
        signed_in.token,
        max_age=int(lifetime.total_seconds()),
        path=COOKIE_PATH,
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
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
    response.delete_cookie(COOKIE, path=COOKIE_PATH, httponly=True, samesite="strict")
    return response


def dev_login_url(settings: Settings, token: str, api_url: str) -> str:
    """A sign-in link (24 h) for the tenant of the bootstrap token, minted in the store:
    `hookline dev` prints it, and mints it before it starts the API, so nothing waits on it."""

    async def mint() -> str:
        engine = create_engine(settings.resolved_database_url)
        try:
            async with session_maker(engine).begin() as session:
                tenant = await ensure_bootstrap(session, token)
                issued = await issue_login(
                    session, tenant.id, SCOPES, MAX_LOGIN_LIFETIME, datetime.now(UTC)
                )
        finally:
            await engine.dispose()
        return f"{api_url}/console/login/{issued.token}"

    try:
        return asyncio.run(mint())
    except ValueError as exc:  # a revoked or foreign HOOKLINE_BOOTSTRAP_TOKEN
        return f"(no sign-in link: {exc})"
