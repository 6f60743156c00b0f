"""Console pages of webhooks: the list with their last 24 hours, one webhook, and its forms.
Every read and change goes through the API's own route functions (api/routes/)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from hookline.api.console import queries, sparkline
from hookline.api.console.auth import ConsoleUser, FormUserDep, UserDep
from hookline.api.console.render import SECURITY_HEADERS, page
from hookline.api.deps import CatalogDep, SessionDep, SettingsDep
from hookline.api.errors import ApiError
from hookline.api.routes import deliveries as deliveries_api
from hookline.api.routes import webhooks as webhooks_api
from hookline.api.schemas.common import Pagination
from hookline.api.schemas.webhooks import (
    FilterTestRequest,
    SampleEvent,
    WebhookCreate,
    WebhookOut,
    WebhookTestRequest,
    WebhookUpdate,
)

router = APIRouter(prefix="/console", include_in_schema=False)

MAX_LISTED = 100
NOTICES = {
    "updated": "Changes saved.",
    "enabled": "Webhook enabled: it receives events again.",
    "disabled": "Webhook disabled: new events skip it until it is enabled.",
}
Text = Annotated[str, Form(max_length=20_000)]


class FormError(ValueError):
    pass


def _events(text: str) -> list[str]:
    return [part for part in re.split(r"[\s,]+", text.strip()) if part]


def _json_object(text: str, field: str) -> dict[str, Any] | None:
    if not text.strip():
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FormError(f"{field} is not valid JSON: {exc.msg} (line {exc.lineno})") from exc
    if not isinstance(value, dict):
        raise FormError(f"{field} must be a JSON object")
    return value


def _message(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'form'}: {err['msg']}"
            for err in exc.errors()
        )
    if isinstance(exc, ApiError):
        return exc.message
    return str(exc)


def _form_of(webhook: Any) -> dict[str, str]:
    return {
        "url": webhook.url,
        "events": ", ".join(webhook.events),
        "description": webhook.description or "",
        "filter": json.dumps(webhook.filter, indent=2) if webhook.filter else "",
    }


def _redirect(url: str) -> Response:
    response = RedirectResponse(url, status_code=303)
    response.headers.update(SECURITY_HEADERS)
    return response


# --------------------------------------------------------------------------- pages


async def _list_page(
    request: Request,
    user: ConsoleUser,
    session: SessionDep,
    catalog: CatalogDep,
    *,
    status_code: int = 200,
    **context: Any,
) -> Response:
    user.require("webhooks:read")
    listed = await webhooks_api.list_webhooks(
        user.principal, session, catalog, Pagination(page=1, limit=MAX_LISTED)
    )
    # The API's list answers dicts (validated into WebhookOut only when it is serialised).
    listed_webhooks = [WebhookOut.model_validate(w) for w in listed.data]
    rows = [{"webhook": w, "stats": None, "spark": None} for w in listed_webhooks]
    if user.can("events:read") and rows:
        hourly = await queries.attempts_per_hour(
            session, [w.id for w in listed_webhooks], datetime.now(UTC)
        )
        for row in rows:
            webhook_id = row["webhook"].id
            stats = await deliveries_api.webhook_stats(webhook_id, user.principal, session, "24h")
            row["stats"] = stats.data
            row["spark"] = sparkline.build(hourly[webhook_id])
    context.setdefault("form", {"events": "user.*"})
    return page(request, "webhooks.html", {"nav": "webhooks", "rows": rows, **context}, status_code)


async def _detail_page(
    request: Request,
    user: ConsoleUser,
    session: SessionDep,
    catalog: CatalogDep,
    webhook_id: str,
    *,
    status_code: int = 200,
    **context: Any,
) -> Response:
    user.require("webhooks:read")
    webhook = (await webhooks_api.get_webhook(webhook_id, user.principal, session)).data
    stats = spark = deliveries = None
    if user.can("events:read"):
        stats = (
            await deliveries_api.webhook_stats(webhook_id, user.principal, session, "24h")
        ).data
        hourly = await queries.attempts_per_hour(session, [webhook_id], datetime.now(UTC))
        spark = sparkline.build(hourly[webhook_id])
        recent = await deliveries_api.list_deliveries(
            webhook_id, user.principal, session, Pagination(page=1, limit=20)
        )
        deliveries = recent.data
    context.setdefault("form", _form_of(webhook))
    context.setdefault("trial", {})
    notice = NOTICES.get(request.query_params.get("notice", ""))
    first = next((t for t in webhook.events if t in catalog), "user.created")
    return page(
        request,
        "webhook.html",
        {
            "nav": "webhooks",
            "webhook": webhook,
            "stats": stats,
            "spark": spark,
            "deliveries": deliveries,
            "event_types": catalog.names(),
            "webhook_first_type": first,
            "notice": notice,
            **context,
        },
        status_code,
    )


@router.get("")
async def webhooks_page(
    request: Request, user: UserDep, session: SessionDep, catalog: CatalogDep
) -> Response:
    return await _list_page(request, user, session, catalog)


@router.get("/webhooks/{webhook_id}")
async def webhook_page(
    webhook_id: str, request: Request, user: UserDep, session: SessionDep, catalog: CatalogDep
) -> Response:
    return await _detail_page(request, user, session, catalog, webhook_id)


# --------------------------------------------------------------------------- forms


@router.post("/webhooks")
async def create_webhook(
    request: Request,
    user: FormUserDep,
    session: SessionDep,
    settings: SettingsDep,
    catalog: CatalogDep,
    url: Text = "",
    events: Text = "",
    description: Text = "",
    filter: Text = "",
) -> Response:
    user.require("webhooks:write")
    form = {"url": url, "events": events, "description": description, "filter": filter}
    try:
        body = WebhookCreate(
            url=url.strip(),
            events=_events(events),
            description=description.strip() or None,
            filter=_json_object(filter, "filter"),
        )
        created = await webhooks_api.create_webhook(
            body, request, user.principal, session, settings, catalog
        )
    except (ValidationError, ApiError, FormError) as exc:
        await session.rollback()
        return await _list_page(
            request,
            user,
            session,
            catalog,
            status_code=422,
            form=form,
            form_error_message=_message(exc),
        )
    return await _detail_page(
        request,
        user,
        session,
        catalog,
        created.data.id,
        status_code=201,
        secret=created.data.secret,
        notice="Webhook created.",
    )


@router.post("/webhooks/{webhook_id}/edit")
async def edit_webhook(
    webhook_id: str,
    request: Request,
    user: FormUserDep,
    session: SessionDep,
    settings: SettingsDep,
    catalog: CatalogDep,
    url: Text = "",
    events: Text = "",
    description: Text = "",
    filter: Text = "",
) -> Response:
    user.require("webhooks:write")
    form = {"url": url, "events": events, "description": description, "filter": filter}
    try:
        body = WebhookUpdate(
            url=url.strip(),
            events=_events(events),
            description=description.strip() or None,
            filter=_json_object(filter, "filter"),
        )
        await webhooks_api.update_webhook(
            webhook_id, body, user.principal, session, settings, catalog
        )
    except (ValidationError, FormError) as exc:
        return await _detail_page(
            request,
            user,
            session,
            catalog,
            webhook_id,
            status_code=422,
            form=form,
            edit_error=_message(exc),
        )
    except ApiError as exc:
        if exc.status == 404:
            raise
        await session.rollback()
        return await _detail_page(
            request,
            user,
            session,
            catalog,
            webhook_id,
            status_code=422,
            form=form,
            edit_error=_message(exc),
        )
    return _redirect(f"/console/webhooks/{webhook_id}?notice=updated")


@router.post("/webhooks/{webhook_id}/status")
async def set_status(
    webhook_id: str,
    user: FormUserDep,
    session: SessionDep,
    settings: SettingsDep,
    catalog: CatalogDep,
    status: Annotated[str, Form()] = "",
) -> Response:
    user.require("webhooks:write")
    if status not in ("active", "inactive"):
        raise ApiError(400, "status must be active or inactive")
    body = WebhookUpdate(status=status)
    await webhooks_api.update_webhook(webhook_id, body, user.principal, session, settings, catalog)
    notice = "enabled" if status == "active" else "disabled"
    return _redirect(f"/console/webhooks/{webhook_id}?notice={notice}")


@router.post("/webhooks/{webhook_id}/rotate-secret")
async def rotate_secret(
    webhook_id: str,
    request: Request,
    user: FormUserDep,
    session: SessionDep,
    settings: SettingsDep,
    catalog: CatalogDep,
) -> Response:
    user.require("webhooks:write")
    rotated = await webhooks_api.rotate_secret(
        webhook_id, request, user.principal, session, settings
    )
    return await _detail_page(
        request,
        user,
        session,
        catalog,
        webhook_id,
        secret=rotated.data.secret,
        previous_until=rotated.data.previous_secret_expires_at,
        notice="Secret rotated.",
    )


@router.post("/webhooks/{webhook_id}/test")
async def send_test(
    webhook_id: str,
    request: Request,
    user: FormUserDep,
    session: SessionDep,
    settings: SettingsDep,
    catalog: CatalogDep,
    event: Annotated[str, Form(max_length=200)] = "webhook.test",
) -> Response:
    user.require("webhooks:write")
    result = await webhooks_api.test_webhook(
        webhook_id,
        request,
        user.principal,
        session,
        settings,
        catalog,
        WebhookTestRequest(event=event or "webhook.test"),
    )
    return await _detail_page(
        request, user, session, catalog, webhook_id, test=result, test_event=event
    )


@router.post("/webhooks/{webhook_id}/filter-test")
async def filter_test(
    webhook_id: str,
    request: Request,
    user: FormUserDep,
    session: SessionDep,
    settings: SettingsDep,
    catalog: CatalogDep,
    type: Annotated[str, Form(max_length=200)] = "",
    data: Text = "",
    filter: Text = "",
) -> Response:
    user.require("webhooks:read")
    trial = {"type": type, "data": data, "filter": filter}
    try:
        sample = SampleEvent(type=type, data=_json_object(data, "event data") or {})
        candidate = _json_object(filter, "filter")
        body = (
            FilterTestRequest(event=sample, filter=candidate)
            if candidate is not None
            else FilterTestRequest(event=sample)
        )
        verdict = await webhooks_api.filter_test(
            webhook_id, body, user.principal, session, settings, catalog
        )
    except (ValidationError, FormError) as exc:
        return await _detail_page(
            request,
            user,
            session,
            catalog,
            webhook_id,
            status_code=422,
            trial=trial,
            trial_error=_message(exc),
        )
    except ApiError as exc:
        if exc.status == 404:
            raise
        return await _detail_page(
            request,
            user,
            session,
            catalog,
            webhook_id,
            status_code=422,
            trial=trial,
            trial_error=_message(exc),
        )
    return await _detail_page(
        request, user, session, catalog, webhook_id, trial=trial, verdict=verdict.data
    )
