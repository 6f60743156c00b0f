"""Trying a webhook without an event: a signed test send to its URL, and a filter test (would
it receive this event, and why)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from hookline.api.schemas.trials import (
    FilterTestRequest,
    FilterTestResult,
    WebhookTestDetails,
    WebhookTestRequest,
    WebhookTestResult,
)
from hookline.api.services import event_type_checks
from hookline.api.services.webhooks import check_filter
from hookline.core import filters, ids
from hookline.core.catalog import Catalog
from hookline.delivery.send import event_body, send, webhook_headers, webhook_secrets
from hookline.delivery.transport import DeliveryTransport
from hookline.infra.config import Settings
from hookline.infra.crypto import SecretBox
from hookline.store.tables import Webhook


def _test_message(status_code: int | None, error: str | None) -> tuple[bool, str]:
    if status_code is not None and 200 <= status_code < 300:
        return True, "Test event sent successfully"
    if status_code is not None:
        return False, f"Test event sent, but the endpoint answered {status_code}"
    return False, f"Test event could not be delivered: {error}"


async def send_test(
    session: AsyncSession,
    http: DeliveryTransport,
    secrets: SecretBox,
    settings: Settings,
    catalog: Catalog,
    webhook: Webhook,
    body: WebhookTestRequest,
) -> WebhookTestResult:
    """Signs and sends a sample event right away (inactive webhooks too) and reports the
    answer; a failed delivery is a result with `success: false`, never an error."""
    now = datetime.now(UTC)
    data = await event_type_checks.test_data(
        session, catalog, settings, webhook.tenant_id, body.event, body.data, now
    )
    signing_secrets = webhook_secrets(webhook, secrets, now)
    custom_headers = webhook_headers(webhook, secrets)
    await session.close()  # no connection held while waiting for the receiver
    event_id = ids.event_id()
    result = await send(
        http,
        webhook.url,
        event_body(event_id, body.event, now, data, webhook.tenant_id),
        secrets=signing_secrets,
        event_id=event_id,
        event_type=body.event,
        delivery_id=ids.delivery_id(event_id, webhook.id),
        attempt=1,
        timeout=settings.delivery_timeout.total_seconds(),
        extra_headers=custom_headers,
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


async def filter_test(
    session: AsyncSession,
    settings: Settings,
    catalog: Catalog,
    webhook: Webhook,
    body: FilterTestRequest,
) -> FilterTestResult:
    """Whether the webhook (or its candidate `filter`) would receive the sample event, and
    why."""
    assert body.event is not None  # the schema fills it in
    await event_type_checks.check_known(
        session, catalog, settings, webhook.tenant_id, body.event.type, body.event.data
    )
    spec = check_filter(body.filter) if "filter" in body.model_fields_set else webhook.filter
    document = {"type": body.event.type, "data": body.event.data, "tenant": webhook.tenant_id}
    # In a thread: linear, but over up to 256 KiB of data it can take tens of milliseconds.
    result = await asyncio.to_thread(filters.explain, webhook.events, spec, document)
    return FilterTestResult(
        webhook_id=webhook.id,
        event_type=body.event.type,
        matched=result.matched,
        reasons=result.reasons,
    )
