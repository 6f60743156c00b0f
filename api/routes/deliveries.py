"""Deliveries and attempts of a webhook, and its stats (success rate, latency, failures)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from hookline.api.deps import EventsRead, OwnedWebhook, SessionDep, query_params
from hookline.api.schemas.common import ERRORS, Data, Page, PaginationDep
from hookline.api.schemas.events import AttemptOut, DeliveryOut, WebhookStats
from hookline.api.services import deliveries
from hookline.core.models import DeliveryStatus

router = APIRouter(tags=["events"])


@router.get(
    "/webhooks/{webhook_id}/deliveries",
    response_model=Page[DeliveryOut],
    responses=ERRORS,
    summary="A webhook's deliveries, newest first",
    dependencies=[Depends(query_params("status"))],
)
async def list_deliveries(
    principal: EventsRead,
    webhook: OwnedWebhook,
    session: SessionDep,
    pages: PaginationDep,
    status: Annotated[DeliveryStatus | None, Query()] = None,
) -> Page[DeliveryOut]:
    return await deliveries.list_deliveries(session, webhook, pages, status)


@router.get(
    "/deliveries/{delivery_id}/attempts",
    response_model=Page[AttemptOut],
    responses=ERRORS,
    summary="Every attempt of a delivery, in order",
    dependencies=[Depends(query_params())],
)
async def list_attempts(
    delivery_id: str, principal: EventsRead, session: SessionDep, pages: PaginationDep
) -> Page[AttemptOut]:
    return await deliveries.list_attempts(session, principal.tenant_id, delivery_id, pages)


@router.get(
    "/webhooks/{webhook_id}/stats",
    response_model=Data[WebhookStats],
    responses=ERRORS,
    summary="Success rate, failures by status class and latency over a window",
    dependencies=[Depends(query_params("window", paged=False))],
)
async def webhook_stats(
    principal: EventsRead,
    webhook: OwnedWebhook,
    session: SessionDep,
    window: Annotated[
        str,
        Query(
            max_length=32,
            pattern=r"^[0-9]*[1-9][0-9]*(ms|s|m|h|d|w)?$",
            description="e.g. 1h, 24h, 7d; longer windows count as 7d (history is kept 7 days)",
        ),
    ] = "24h",
) -> Data[WebhookStats]:
    span = deliveries.stats_window(window)
    return Data(data=await deliveries.webhook_stats(session, webhook, span))
