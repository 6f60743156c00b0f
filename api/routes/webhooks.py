"""Webhooks: the seed's CRUD and test, plus secret rotation and filter testing."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query, Request
from sqlalchemy import func, select

from hookline.api.deps import CatalogDep, SessionDep, SettingsDep, WebhooksRead, WebhooksWrite
from hookline.api.errors import ApiError, not_found
from hookline.api.json_body import LimitedJsonRoute
from hookline.api.publish import check_event
from hookline.api.schemas.common import ERRORS, Data, Page, PaginationDep, Success
from hookline.api.schemas.webhooks import (
    FilterTestRequest,
    FilterTestResult,
    RotatedSecret,
    RotateRequest,
    WebhookCreate,
    WebhookCreated,
    WebhookDetail,
    WebhookOut,
    WebhookTestDetails,
    WebhookTestRequest,
    WebhookTestResult,
    WebhookUpdate,
    sample_data,
)
from hookline.core import filters, ids, signing, urls
from hookline.core.catalog import Catalog
from hookline.delivery.resolver import check_resolved_host
from hookline.delivery.send import event_body, send, webhook_secrets
from hookline.delivery.transport import DeliveryTransport
from hookline.infra.config import Settings
from hookline.infra.crypto import SecretBox
from hookline.store.tables import Webhook

router = APIRouter(prefix="/webhooks", tags=["webhooks"], route_class=LimitedJsonRoute)

NEWEST_FIRST = (Webhook.created_at.desc(), Webhook.id.desc())


# --------------------------------------------------------------------------- helpers


def _box(request: Request) -> SecretBox:
    return request.app.state.deps.secrets


def _http(request: Request) -> DeliveryTransport:
    """The app's shared client (closed by the app on shutdown)."""
    return request.app.state.deps.http


async def owned_webhook(session: SessionDep, tenant_id: str, webhook_id: str) -> Webhook:
    """The tenant's webhook, or 404 whether it is missing or someone else's."""
    webhook = await session.get(Webhook, webhook_id)
    if webhook is None or webhook.tenant_id != tenant_id:
        raise not_found("webhook", webhook_id)
    return webhook


def _check_events(catalog: Catalog, patterns: list[str]) -> None:
    unknown = catalog.unknown(patterns)
    if unknown:
        raise ApiError(
            400,
            f"unknown event type(s): {', '.join(unknown)}",
            details={"unknown": unknown, "allowed": catalog.names()},
            code="unknown_event_type",
        )


async def _check_url(url: str, settings: Settings) -> str:
    """The URL rules of a delivery, DNS included: a name that resolves to a forbidden
    address (or does not resolve) is refused now, not at its first delivery. With private
    URLs allowed (local development) the address rules are lifted, so is the lookup."""
    allow_private = settings.allow_private_urls
    try:
        urls.validate_webhook_url(url, allow_private=allow_private)
        if not allow_private:
            await check_resolved_host(url, allow_private=False)
        return url
    except urls.UrlError as exc:
        raise ApiError(
            422,
            f"invalid webhook URL: {exc}",
            details={"field": "url", "reason": str(exc)},
            code="invalid_url",
        ) from exc


def _check_filter(spec: dict[str, Any] | None) -> dict[str, Any] | None:
    if not spec:
        return None
    try:
        filters.validate_filter(spec)
    except filters.FilterError as exc:
        raise ApiError(
            422,
            f"invalid filter: {exc}",
            details={"field": "filter", "path": exc.path, "reason": exc.message},
            code="invalid_filter",
        ) from exc
    return spec


def _out(webhook: Webhook) -> dict[str, Any]:
    return {name: getattr(webhook, name) for name in WebhookOut.model_fields}


# --------------------------------------------------------------------------- CRUD


@router.get("", response_model=Page[WebhookOut], responses=ERRORS, summary="Get all webhooks")
async def list_webhooks(
    principal: WebhooksRead,
    session: SessionDep,
    catalog: CatalogDep,
    pagination: PaginationDep,
    status: Annotated[
        Literal["active", "inactive"] | None, Query(description="Filter by webhook status")
    ] = None,
    event: Annotated[
        str | None,
        Query(min_length=1, max_length=200, description="Webhooks receiving this event type"),
    ] = None,
) -> Page[WebhookOut]:
    where = [Webhook.tenant_id == principal.tenant_id]
    if status is not None:
        where.append(Webhook.status == status)
    if event is None:
        total = await session.scalar(select(func.count()).select_from(Webhook).where(*where))
        rows = await session.scalars(
            select(Webhook)
            .where(*where)
            .order_by(*NEWEST_FIRST)
            .offset(pagination.offset)
            .limit(pagination.limit)
        )
        return Page(data=[_out(w) for w in rows], meta=pagination.meta(total or 0))
    _check_events(catalog, [event])
    # Subscriptions are JSON lists with wildcards: match them here, over ids and patterns only.
    candidates = await session.execute(
        select(Webhook.id, Webhook.events).where(*where).order_by(*NEWEST_FIRST)
    )
    matching = [wid for wid, patterns in candidates if filters.type_matches(patterns, event)]
    page_ids = matching[pagination.offset : pagination.offset + pagination.limit]
    rows = await session.scalars(
        select(Webhook).where(Webhook.id.in_(page_ids)).order_by(*NEWEST_FIRST)
    )
    return Page(data=[_out(w) for w in rows], meta=pagination.meta(len(matching)))


@router.get(
    "/{webhook_id}",
    response_model=Data[WebhookDetail],
    responses=ERRORS,
    summary="Get webhook by ID",
)
async def get_webhook(
    webhook_id: str, principal: WebhooksRead, session: SessionDep
) -> Data[WebhookDetail]:
    webhook = await owned_webhook(session, principal.tenant_id, webhook_id)
    return Data(data=WebhookDetail(**_out(webhook)))


@router.post(
    "",
    status_code=201,
    response_model=Data[WebhookCreated],
    responses=ERRORS,
    summary="Create webhook",
    description="Returns the signing secret in full, this once.",
)
async def create_webhook(
    body: WebhookCreate,
    request: Request,
    principal: WebhooksWrite,
    session: SessionDep,
    settings: SettingsDep,
    catalog: CatalogDep,
) -> Data[WebhookCreated]:
    _check_events(catalog, body.events)
    url = await _check_url(body.url, settings)
    spec = _check_filter(body.filter)
    secret = signing.new_secret()
    now = datetime.now(UTC)
    webhook = Webhook(
        id=ids.webhook_id(),
        tenant_id=principal.tenant_id,
        url=url,
        events=body.events,
        description=body.description,
        filter=spec,
        retry_policy=body.retry_policy.stored() if body.retry_policy else None,
        status="active",
        secret=_box(request).seal(secret),
        created_at=now,
        updated_at=now,
    )
    session.add(webhook)
    await session.commit()
    return Data(data=WebhookCreated(**_out(webhook), secret=secret))


@router.put(
    "/{webhook_id}",
    response_model=Data[WebhookOut],
    responses=ERRORS,
    summary="Update webhook",
    description="Only the fields given change. `null` clears description, filter, retry_policy. "
    "Setting `status` back to `active` clears `status_reason`.",
)
async def update_webhook(
    webhook_id: str,
    body: WebhookUpdate,
    principal: WebhooksWrite,
    session: SessionDep,
    settings: SettingsDep,
    catalog: CatalogDep,
) -> Data[WebhookOut]:
    webhook = await owned_webhook(session, principal.tenant_id, webhook_id)
    given = body.model_fields_set
    # Validate everything before changing anything.
    if body.events is not None:
        _check_events(catalog, body.events)
    url = await _check_url(body.url, settings) if body.url is not None else None
    spec = _check_filter(body.filter)
    if url is not None:
        webhook.url = url
    if body.events is not None:
        webhook.events = body.events
    if "description" in given:
        webhook.description = body.description
    if "filter" in given:
        webhook.filter = spec
    if "retry_policy" in given:
        webhook.retry_policy = body.retry_policy.stored() if body.retry_policy else None
    if body.status is not None and body.status != webhook.status:
        webhook.status = body.status
        if body.status == "active":
            webhook.status_reason = None
            webhook.failing_since = None
        else:
            webhook.status_reason = "deactivated through the API"
    webhook.updated_at = datetime.now(UTC)
    await session.commit()
    return Data(data=WebhookOut(**_out(webhook)))


@router.delete(
    "/{webhook_id}",
    response_model=Success,
    responses=ERRORS,
    summary="Delete webhook",
    description="Its deliveries keep their history until their events expire.",
)
async def delete_webhook(webhook_id: str, principal: WebhooksWrite, session: SessionDep) -> Success:
    webhook = await owned_webhook(session, principal.tenant_id, webhook_id)
    await session.delete(webhook)
    await session.commit()
    return Success(success=True, message="Webhook deleted successfully")


# --------------------------------------------------------------------------- test


def _test_message(status_code: int | None, error: str | None) -> tuple[bool, str]:
    if status_code is not None and 200 <= status_code < 300:
        return True, "Test event sent successfully"
    if status_code is not None:
        return False, f"Test event sent, but the endpoint answered {status_code}"
    return False, f"Test event could not be delivered: {error}"


@router.post(
    "/{webhook_id}/test",
    response_model=WebhookTestResult,
    responses=ERRORS,
    summary="Test webhook",
    description="Signs and sends a sample event right away (inactive webhooks too) and reports "
    "the answer. A failed delivery is reported with `success: false`, never as an error.",
)
async def test_webhook(
    webhook_id: str,
    request: Request,
    principal: WebhooksWrite,
    session: SessionDep,
    settings: SettingsDep,
    catalog: CatalogDep,
    body: Annotated[WebhookTestRequest | None, Body()] = None,
) -> WebhookTestResult:
    body = body or WebhookTestRequest()
    webhook = await owned_webhook(session, principal.tenant_id, webhook_id)
    now = datetime.now(UTC)
    data = body.data if body.data is not None else sample_data(body.event, now)
    check_event(catalog, settings, body.event, data)
    secrets = webhook_secrets(webhook, _box(request), now)
    await session.close()  # no connection held while waiting for the receiver
    event_id = ids.event_id()
    result = await send(
        _http(request),
        webhook.url,
        event_body(event_id, body.event, now, data, principal.tenant_id),
        secrets=secrets,
        event_id=event_id,
        event_type=body.event,
        delivery_id=ids.delivery_id(event_id, webhook.id),
        attempt=1,
        timeout=settings.delivery_timeout.total_seconds(),
    )
    success, message = _test_message(result.status_code, result.error)
    return WebhookTestResult(
        success=success,
        message=message,
        details=WebhookTestDetails(
            status_code=result.status_code,
            response_time=result.duration_ms,
            timestamp=result.started_at,
            event_id=event_id,
            event_type=body.event,
            error=result.error,
            response_body=result.body,
        ),
    )


# --------------------------------------------------------------------------- secret, filter


@router.post(
    "/{webhook_id}/rotate-secret",
    response_model=Data[RotatedSecret],
    responses=ERRORS,
    summary="Rotate the signing secret",
    description="Returns the new secret in full, this once. The old one keeps signing "
    "(alongside) for `grace_period` seconds, default the server's setting (24 h).",
)
async def rotate_secret(
    webhook_id: str,
    request: Request,
    principal: WebhooksWrite,
    session: SessionDep,
    settings: SettingsDep,
    body: Annotated[RotateRequest | None, Body()] = None,
) -> Data[RotatedSecret]:
    webhook = await owned_webhook(session, principal.tenant_id, webhook_id)
    grace = (
        timedelta(seconds=body.grace_period)
        if body is not None and body.grace_period is not None
        else settings.secret_rotation_grace
    )
    now = datetime.now(UTC)
    secret = signing.new_secret()
    if grace > timedelta(0):
        webhook.previous_secret = webhook.secret
        webhook.previous_secret_expires_at = now + grace
    else:
        webhook.previous_secret = webhook.previous_secret_expires_at = None
    webhook.secret = _box(request).seal(secret)
    webhook.updated_at = now
    await session.commit()
    return Data(
        data=RotatedSecret(
            id=webhook.id,
            secret=secret,
            previous_secret_expires_at=webhook.previous_secret_expires_at,
        )
    )


@router.post(
    "/{webhook_id}/filter-test",
    response_model=Data[FilterTestResult],
    responses=ERRORS,
    summary="Would this webhook receive an event?",
    description="Checks a sample event against the webhook's event types and filter (or a "
    "candidate `filter` given in the body) and says why.",
)
async def filter_test(
    webhook_id: str,
    body: FilterTestRequest,
    principal: WebhooksRead,
    session: SessionDep,
    settings: SettingsDep,
    catalog: CatalogDep,
) -> Data[FilterTestResult]:
    webhook = await owned_webhook(session, principal.tenant_id, webhook_id)
    assert body.event is not None  # the schema fills it in
    check_event(catalog, settings, body.event.type, body.event.data)
    spec = _check_filter(body.filter) if "filter" in body.model_fields_set else webhook.filter
    document = {"type": body.event.type, "data": body.event.data, "tenant": principal.tenant_id}
    # In a thread: linear, but over up to 256 KiB of data it can take tens of milliseconds.
    result = await asyncio.to_thread(filters.explain, webhook.events, spec, document)
    return Data(
        data=FilterTestResult(
            webhook_id=webhook.id,
            event_type=body.event.type,
            matched=result.matched,
            reasons=result.reasons,
        )
    )
