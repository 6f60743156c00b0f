"""Console pages of webhooks: the list with their last 24 hours, one webhook, and its forms.
Every read and change goes through the services the API's routes call (api/services/)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from pydantic import ValidationError

from hookline.api.console import forms, queries, sparkline
from hookline.api.console.auth import ConsoleUser, FormUserDep, UserDep, UserWebhook
from hookline.api.console.render import page, redirect
from hookline.api.deps import CatalogDep, HttpDep, SecretsDep, SessionDep, SettingsDep
from hookline.api.errors import ApiError
from hookline.api.schemas.common import Pagination
from hookline.api.schemas.trials import FilterTestRequest, SampleEvent, WebhookTestRequest
from hookline.api.schemas.webhooks import WebhookCreate, WebhookUpdate
from hookline.api.services import deliveries, event_type_checks, trials, webhooks
from hookline.core.filters import type_matches
from hookline.core.models import DeliveryStatus

router = APIRouter(prefix="/console", include_in_schema=False)

MAX_LISTED = 100
STATS_WINDOW = timedelta(hours=24)
NOTICES = {
    "updated": "Changes saved.",
    "enabled": "Webhook enabled: it receives events again.",
    "disabled": "Webhook disabled: new events skip it until it is enabled.",
}
# A field's limit is the API model's: over it, the form comes back with the input and a message.
Text = Annotated[str, Form()]


# --------------------------------------------------------------------------- pages


@dataclass(frozen=True)
class Health:
    """A webhook's last 24 hours on the list, counted as the API's stats count them."""

    succeeded: int
    failed: int
    failing_since: datetime | None

    @property
    def success_rate(self) -> float | None:
        finished = self.succeeded + self.failed
        return self.succeeded / finished if finished else None


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
    listed = list((await queries.webhook_names(session, user.tenant_id)).values())[:MAX_LISTED]
    rows = [{"webhook": w, "stats": None, "spark": None} for w in listed]
    if user.can("events:read") and rows:
        now = datetime.now(UTC)
        ids = [w.id for w in listed]
        hourly = await queries.attempts_per_hour(session, ids, now)
        counts = await queries.delivery_counts(session, ids, now - STATS_WINDOW)
        for row, webhook in zip(rows, listed, strict=True):
            tally = counts[webhook.id]
            row["stats"] = Health(
                succeeded=tally.get(DeliveryStatus.SUCCEEDED, 0),
                failed=tally.get(DeliveryStatus.FAILED, 0),
                failing_since=webhook.failing_since,
            )
            row["spark"] = sparkline.build(hourly[webhook.id])
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
    # Read again: no SQL when the session has the row, a SELECT when a rollback expired it or
    # the test send's closed session let it go.
    row = await webhooks.owned(session, user.tenant_id, webhook_id)
    webhook = webhooks.detail(row)
    stats = spark = recent = None
    if user.can("events:read"):
        stats = await deliveries.webhook_stats(session, row, STATS_WINDOW)
        hourly = await queries.attempts_per_hour(session, [webhook_id], datetime.now(UTC))
        spark = sparkline.build(hourly[webhook_id])
        recent = (await deliveries.list_deliveries(session, row, Pagination(page=1, limit=20))).data
    context.setdefault("form", forms.form_of(webhook))
    context.setdefault("trial", {})
    notice = NOTICES.get(request.query_params.get("notice", ""))
    # The tenant's own types too: they may be all this webhook can receive.
    names = [
        *catalog.names(),
        *sorted(await event_type_checks.tenant_names(session, user.tenant_id)),
    ]
    first = next((n for n in names if type_matches(webhook.events, n)), "user.created")
    return page(
        request,
        "webhook.html",
        {
            "nav": "webhooks",
            "webhook": webhook,
            "stats": stats,
            "spark": spark,
            "deliveries": recent,
            "event_types": names,
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
    request: Request, user: UserDep, webhook: UserWebhook, session: SessionDep, catalog: CatalogDep
) -> Response:
    return await _detail_page(request, user, session, catalog, webhook.id)


# --------------------------------------------------------------------------- forms


def _webhook_fields(url: str, events: str, description: str, filter: str) -> dict[str, Any]:
    """The create and edit forms' fields as the API's schemas take them (or FormError)."""
    return {
        "url": url.strip(),
        "events": forms.event_list(events),
        "description": description.strip() or None,
        "filter": forms.json_object(filter, "filter"),
    }


@router.post("/webhooks")
async def create_webhook(
    request: Request,
    user: FormUserDep,
    session: SessionDep,
    secrets: SecretsDep,
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
        body = WebhookCreate(**_webhook_fields(url, events, description, filter))
        created = await webhooks.create_webhook(
            session, secrets, settings, catalog, user.tenant_id, body
        )
    except (ValidationError, ApiError, forms.FormError) as exc:
        await session.rollback()
        return await _list_page(
            request,
            user,
            session,
            catalog,
            status_code=422,
            form=form,
            form_error_message=forms.message(exc),
        )
    return await _detail_page(
        request,
        user,
        session,
        catalog,
        created.id,
        status_code=201,
        secret=created.secret,
        notice="Webhook created.",
    )


@router.post("/webhooks/{webhook_id}/edit")
async def edit_webhook(
    request: Request,
    user: FormUserDep,
    webhook: UserWebhook,
    session: SessionDep,
    settings: SettingsDep,
    catalog: CatalogDep,
    url: Text = "",
    events: Text = "",
    description: Text = "",
    filter: Text = "",
) -> Response:
    user.require("webhooks:write")
    webhook_id = webhook.id  # the rollback below expires the row
    form = {"url": url, "events": events, "description": description, "filter": filter}
    try:
        body = WebhookUpdate(**_webhook_fields(url, events, description, filter))
        await webhooks.update_webhook(session, settings, catalog, webhook, body)
    except (ValidationError, ApiError, forms.FormError) as exc:
        await session.rollback()
        return await _detail_page(
            request,
            user,
            session,
            catalog,
            webhook_id,
            status_code=422,
            form=form,
            edit_error=forms.message(exc),
        )
    return redirect(request, f"/console/webhooks/{webhook_id}?notice=updated")


@router.post("/webhooks/{webhook_id}/status")
async def set_status(
    request: Request,
    user: FormUserDep,
    webhook: UserWebhook,
    session: SessionDep,
    settings: SettingsDep,
    catalog: CatalogDep,
    status: Annotated[str, Form()] = "",
) -> Response:
    user.require("webhooks:write")
    if status not in ("active", "inactive"):
        raise ApiError(400, "status must be active or inactive")
    body = WebhookUpdate(status=status)
    await webhooks.update_webhook(session, settings, catalog, webhook, body)
    notice = "enabled" if status == "active" else "disabled"
    return redirect(request, f"/console/webhooks/{webhook.id}?notice={notice}")


@router.post("/webhooks/{webhook_id}/rotate-secret")
async def rotate_secret(
    request: Request,
    user: FormUserDep,
    webhook: UserWebhook,
    session: SessionDep,
    secrets: SecretsDep,
    settings: SettingsDep,
    catalog: CatalogDep,
) -> Response:
    user.require("webhooks:write")
    rotated = await webhooks.rotate_secret(session, secrets, settings, webhook)
    return await _detail_page(
        request,
        user,
        session,
        catalog,
        webhook.id,
        secret=rotated.secret,
        previous_until=rotated.previous_secret_expires_at,
        notice="Secret rotated.",
    )


@router.post("/webhooks/{webhook_id}/test")
async def send_test(
    request: Request,
    user: FormUserDep,
    webhook: UserWebhook,
    session: SessionDep,
    http: HttpDep,
    secrets: SecretsDep,
    settings: SettingsDep,
    catalog: CatalogDep,
    event: Annotated[str, Form(max_length=200)] = "webhook.test",
) -> Response:
    user.require("webhooks:write")
    body = WebhookTestRequest(event=event or "webhook.test")
    result = await trials.send_test(session, http, secrets, settings, catalog, webhook, body)
    return await _detail_page(
        request, user, session, catalog, webhook.id, test=result, test_event=event
    )


@router.post("/webhooks/{webhook_id}/filter-test")
async def filter_test(
    request: Request,
    user: FormUserDep,
    webhook: UserWebhook,
    session: SessionDep,
    settings: SettingsDep,
    catalog: CatalogDep,
    type: Text = "",
    data: Text = "",
    filter: Text = "",
) -> Response:
    user.require("webhooks:read")
    trial = {"type": type, "data": data, "filter": filter}
    try:
        sample = SampleEvent(type=type, data=forms.json_object(data, "event data") or {})
        candidate = forms.json_object(filter, "filter")
        body = (
            FilterTestRequest(event=sample, filter=candidate)
            if candidate is not None
            else FilterTestRequest(event=sample)
        )
        verdict = await trials.filter_test(session, settings, catalog, webhook, body)
    except (ValidationError, ApiError, forms.FormError) as exc:
        return await _detail_page(
            request,
            user,
            session,
            catalog,
            webhook.id,
            status_code=422,
            trial=trial,
            trial_error=forms.message(exc),
        )
    return await _detail_page(
        request, user, session, catalog, webhook.id, trial=trial, verdict=verdict
    )
