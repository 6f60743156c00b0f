"""Match an event to the tenant's active webhooks (types + filter) and open its deliveries."""

from __future__ import annotations

from sqlalchemy import select
from temporalio import activity

from hookline.activities.deps import Deps
from hookline.activities.events import stage
from hookline.core import filters
from hookline.core.config import Settings
from hookline.core.ids import delivery_id
from hookline.core.models import (
    DeliveryStatus,
    EventStatus,
    MatchedWebhook,
    MatchInput,
    MatchOutput,
    RetrySpec,
)
from hookline.core.tables import Delivery, Event, Webhook


def retry_spec(settings: Settings, override: dict | None) -> RetrySpec:
    """The settings' policy, with the webhook's own `retry_policy` fields on top."""
    spec = RetrySpec(
        max_attempts=settings.max_attempts,
        client_error_max_attempts=settings.client_error_max_attempts,
        initial_interval=settings.retry_initial_interval.total_seconds(),
        backoff=settings.retry_backoff,
        max_interval=settings.retry_max_interval.total_seconds(),
        retry_after_cap=settings.retry_after_cap.total_seconds(),
        timeout=settings.delivery_timeout.total_seconds(),
    )
    if override:
        spec = spec.model_copy(update={k: v for k, v in override.items() if v is not None})
    return spec


def event_document(event: Event) -> dict:
    """What a filter sees: the event as published."""
    return {"type": event.type, "data": event.data, "tenant": event.tenant_id}


class MatchingActivities:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    @activity.defn(name="match_webhooks")
    async def match_webhooks(self, input: MatchInput) -> MatchOutput:
        async with self.deps.sessions.begin() as session:
            event = await session.get(Event, input.event_id)
            if event is None:  # expired before it ran: nothing to deliver
                return MatchOutput()
            webhooks = await session.scalars(
                select(Webhook)
                .where(Webhook.tenant_id == input.tenant_id, Webhook.status == "active")
                .order_by(Webhook.created_at, Webhook.id)
            )
            document = event_document(event)
            matched = [wh for wh in webhooks if filters.matches(wh.events, wh.filter, document)]
            existing = set(
                (
                    await session.scalars(
                        select(Delivery.webhook_id).where(Delivery.event_id == event.id)
                    )
                ).all()
            )
            output = MatchOutput()
            for webhook in matched:
                dlv_id = delivery_id(event.id, webhook.id)
                if webhook.id not in existing:
                    session.add(
                        Delivery(
                            id=dlv_id,
                            tenant_id=event.tenant_id,
                            event_id=event.id,
                            webhook_id=webhook.id,
                            event_type=event.type,
                            status=DeliveryStatus.PENDING,
                        )
                    )
                output.webhooks.append(
                    MatchedWebhook(
                        webhook_id=webhook.id,
                        delivery_id=dlv_id,
                        retry=retry_spec(self.deps.settings, webhook.retry_policy),
                    )
                )
            if output.webhooks:
                event.status = EventStatus.EXECUTING
            else:
                event.status = EventStatus.SUCCEEDED
            event.stages = [
                *event.stages,
                stage(EventStatus.EXECUTING, f"matched {len(output.webhooks)} webhooks"),
            ]
        return output
