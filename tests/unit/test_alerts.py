"""core/alerts.py: the system.alert event of an auto-disabled webhook."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hookline.core import alerts
from hookline.core.ids import tenant_scoped_event_id
from hookline.core.models import WebhookDisabled

SINCE = datetime(2026, 11, 25, 8, 30, tzinfo=UTC)


def disabled(webhook_id: str = "wh_1") -> WebhookDisabled:
    return WebhookDisabled(
        webhook_id=webhook_id, url="https://example.com/h", failing_since=SINCE, reason="r"
    )


def test_one_alert_per_webhook_and_run_of_failures():
    now = datetime(2026, 12, 1, tzinfo=UTC)
    first = alerts.webhook_disabled(disabled(), "ten_a", now, timedelta(days=7))
    later = alerts.webhook_disabled(disabled(), "ten_a", now + timedelta(hours=1), timedelta(1))
    assert first.event_id == later.event_id  # another event's attempt: the same alert
    key = f"webhook-disabled-wh_1-{int(SINCE.timestamp())}"
    assert first.event_id == tenant_scoped_event_id("ten_a", key)
    assert first.idempotency_key == key
    assert alerts.webhook_disabled(disabled("wh_2"), "ten_a", now, timedelta(1)).event_id != (
        first.event_id
    )
    assert alerts.webhook_disabled(disabled(), "ten_b", now, timedelta(1)).event_id != (
        first.event_id
    )


def test_the_alert_says_which_webhook_and_since_when():
    now = datetime(2026, 12, 1, tzinfo=UTC)
    alert = alerts.webhook_disabled(disabled(), "ten_a", now, timedelta(days=7))
    assert alert.type == "system.alert" and alert.tenant_id == "ten_a"
    assert alert.data == {
        "alert": "webhook.disabled",
        "webhook_id": "wh_1",
        "url": "https://example.com/h",
        "failing_since": SINCE.isoformat(),
        "reason": "r",
    }
    assert alert.created == now and alert.expires_at == now + timedelta(days=7)
