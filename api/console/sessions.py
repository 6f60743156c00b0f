"""Signing in and out: the API hands out single-use links, the link sets the session cookie."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

import httpx
from fastapi import APIRouter, Body, Request
from fastapi.responses import RedirectResponse, Response

from hookline.api.console.auth import COOKIE, COOKIE_PATH, ConsoleError, FormUserDep
from hookline.api.console.render import SECURITY_HEADERS, page
from hookline.api.deps import SessionDep, SettingsDep, WebhooksWrite
from hookline.api.schemas.common import ERRORS, Data
from hookline.api.schemas.console import ConsoleSessionLink, ConsoleSessionRequest
from hookline.core.console import consume_login, end_session, issue_login

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


def request_login_url(api_url: str, token: str, expires_in: int = 24 * 3600) -> str:
    """A sign-in link from a running API (`hookline dev` prints one for the dev tenant)."""
    try:
        answer = httpx.post(
            f"{api_url}/api/v1/console/sessions",
            headers={"Authorization": f"Bearer {token}"},
            json={"expires_in": expires_in},
            timeout=10,
        )
        answer.raise_for_status()
    except httpx.HTTPError as exc:
        return f"(no sign-in link: {exc})"
    return answer.json()["data"]["url"]
