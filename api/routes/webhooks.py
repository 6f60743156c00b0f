"""Webhooks: CRUD and test send, plus secret rotation and filter testing."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Body, Depends, Query, Request

from hookline.api.deps import (
    CatalogDep,
    HttpDep,
    OwnedWebhook,
    SecretsDep,
    SessionDep,
    SettingsDep,
    WebhooksRead,
    WebhooksWrite,
    query_params,
)
from hookline.api.json_body import LimitedJsonRoute
from hookline.api.schemas.common import ERRORS, Data, Page, PaginationDep, Success
from hookline.api.schemas.trials import (
    FilterTestRequest,
    FilterTestResult,
    WebhookTestRequest,
    WebhookTestResult,
)
from hookline.api.schemas.webhooks import (
    RotatedSecret,
    RotateRequest,
    WebhookCreate,
    WebhookCreated,
    WebhookDetail,
    WebhookOut,
    WebhookUpdate,
)
from hookline.api.services import trials, webhooks

router = APIRouter(prefix="/webhooks", tags=["webhooks"], route_class=LimitedJsonRoute)


# --------------------------------------------------------------------------- CRUD


METADATA_QUERY = {
    "parameters": [
        {
            "name": "metadata",
            "in": "query",
            "style": "deepObject",
            "explode": True,
            "required": False,
            "description": "`metadata[key]=value`: only webhooks whose metadata has every one "
            "of these pairs (e.g. `?metadata[team]=billing&metadata[env]=prod`).",
            "schema": {"type": "object", "additionalProperties": {"type": "string"}},
        }
    ]
}


@router.get(
    "",
    response_model=Page[WebhookOut],
    responses=ERRORS,
    summary="Get all webhooks",
    dependencies=[Depends(query_params("status", "event", prefix="metadata"))],
    openapi_extra=METADATA_QUERY,
)
async def list_webhooks(
    request: Request,
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
    metadata = webhooks.metadata_query(request.query_params.multi_items())
    return await webhooks.list_webhooks(
        session, catalog, principal.tenant_id, pagination, status, event, metadata
    )


@router.get(
    "/{webhook_id}",
    response_model=Data[WebhookDetail],
    responses=ERRORS,
    summary="Get webhook by ID",
)
async def get_webhook(principal: WebhooksRead, webhook: OwnedWebhook) -> Data[WebhookDetail]:
    return Data(data=webhooks.detail(webhook))


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
    principal: WebhooksWrite,
    session: SessionDep,
    secrets: SecretsDep,
    settings: SettingsDep,
    catalog: CatalogDep,
) -> Data[WebhookCreated]:
    created = await webhooks.create_webhook(
        session, secrets, settings, catalog, principal.tenant_id, body
    )
    return Data(data=created)


@router.put(
    "/{webhook_id}",
    response_model=Data[WebhookOut],
    responses=ERRORS,
    summary="Update webhook",
    description="Only the fields given change. `null` clears description, filter, retry_policy, "
    "headers, metadata; `headers` and `metadata` replace the whole map (a header value given as "
    "the mask `••••••••` keeps its current value). Setting `status` back to `active` clears "
    "`status_reason`.",
)
async def update_webhook(
    body: WebhookUpdate,
    principal: WebhooksWrite,
    webhook: OwnedWebhook,
    session: SessionDep,
    settings: SettingsDep,
    catalog: CatalogDep,
    secrets: SecretsDep,
) -> Data[WebhookOut]:
    return Data(
        data=await webhooks.update_webhook(session, settings, catalog, webhook, body, secrets)
    )


@router.delete(
    "/{webhook_id}",
    response_model=Success,
    responses=ERRORS,
    summary="Delete webhook",
    description="Its deliveries keep their history until their events expire.",
)
async def delete_webhook(
    principal: WebhooksWrite, webhook: OwnedWebhook, session: SessionDep
) -> Success:
    await webhooks.delete_webhook(session, webhook)
    return Success(success=True, message="Webhook deleted successfully")


# --------------------------------------------------------------------------- test, secret, filter


@router.post(
    "/{webhook_id}/test",
    response_model=WebhookTestResult,
    responses=ERRORS,
    summary="Test webhook",
    description="Signs and sends a sample event right away (inactive webhooks too) and reports "
    "the answer. A failed delivery is reported with `success: false`, never as an error.",
)
async def test_webhook(
    principal: WebhooksWrite,
    webhook: OwnedWebhook,
    session: SessionDep,
    http: HttpDep,
    secrets: SecretsDep,
    settings: SettingsDep,
    catalog: CatalogDep,
    body: Annotated[WebhookTestRequest | None, Body()] = None,
) -> WebhookTestResult:
    return await trials.send_test(
        session, http, secrets, settings, catalog, webhook, body or WebhookTestRequest()
    )


@router.post(
    "/{webhook_id}/rotate-secret",
    response_model=Data[RotatedSecret],
    responses=ERRORS,
    summary="Rotate the signing secret",
    description="Returns the new secret in full, this once. The old one keeps signing "
    "(alongside) for `grace_period` seconds, default the server's setting (24 h).",
)
async def rotate_secret(
    principal: WebhooksWrite,
    webhook: OwnedWebhook,
    session: SessionDep,
    secrets: SecretsDep,
    settings: SettingsDep,
    body: Annotated[RotateRequest | None, Body()] = None,
) -> Data[RotatedSecret]:
    return Data(data=await webhooks.rotate_secret(session, secrets, settings, webhook, body))


@router.post(
    "/{webhook_id}/filter-test",
    response_model=Data[FilterTestResult],
    responses=ERRORS,
    summary="Would this webhook receive an event?",
    description="Checks a sample event against the webhook's event types and filter (or a "
    "candidate `filter` given in the body) and says why.",
)
async def filter_test(
    body: FilterTestRequest,
    principal: WebhooksRead,
    webhook: OwnedWebhook,
    session: SessionDep,
    settings: SettingsDep,
    catalog: CatalogDep,
) -> Data[FilterTestResult]:
    return Data(data=await trials.filter_test(session, settings, catalog, webhook, body))
