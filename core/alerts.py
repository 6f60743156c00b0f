"""The system.alert events hookline publishes to a tenant about its own webhooks."""

from __future__ import annotations

from datetime import datetime, timedelta

from hookline.core.models import EventWorkflowInput, WebhookDisabled

ALERT_TYPE = "system.alert"


def webhook_disabled(
    disabled: WebhookDisabled, tenant_id: str, created: datetime, retention: timedelta
) -> EventWorkflowInput:
    """The alert that a webhook was auto-disabled. Its id derives from the webhook and the
    start of its failures: whichever event's attempt disabled it, the alert is one event."""
    key = f"webhook-disabled-{disabled.webhook_id}-{int(disabled.failing_since.timestamp())}"
    return EventWorkflowInput.publish(
        tenant_id,
        ALERT_TYPE,
        {
            "alert": "webhook.disabled",
            "webhook_id": disabled.webhook_id,
            "url": disabled.url,
            "failing_since": disabled.failing_since.isoformat(),
            "reason": disabled.reason,
        },
        created,
        retention,
        key,
    )
