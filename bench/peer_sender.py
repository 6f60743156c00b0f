"""The peer's sending rules, pure (no Celery here, so unit tests need no `peer` extra).

The peer is what a Python team would write instead of hookline: a Celery task per delivery
on Redis, a signed httpx POST, retried on 5xx, 429 and connection errors. It signs as hookline
does (docs/DESIGN.md, "The flow"), so both do the same work per request: the hex
X-Webhook-Signature over the body, and Standard Webhooks' `webhook-signature` over
`id.timestamp.body` keyed with the base64-decoded `whsec_` secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

SECRET_PREFIX = "whsec_"
MAX_RETRIES = 5  # 6 attempts in all, as hookline's default


def signed_headers(
    secret: str,
    *,
    event_id: str,
    delivery_id: str,
    event_type: str,
    timestamp: int,
    body: bytes,
    attempt: int,
) -> dict[str, str]:
    message = f"{event_id}.{timestamp}.".encode() + body
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    standard = base64.b64encode(hmac.new(key, message, hashlib.sha256).digest()).decode()
    return {
        "Content-Type": "application/json",
        "X-Webhook-Signature": hmac.new(secret.encode(), body, hashlib.sha256).hexdigest(),
        "webhook-id": event_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": f"v1,{standard}",
        "X-Webhook-Delivery-Id": delivery_id,
        "X-Webhook-Event": event_type,
        "X-Webhook-Attempt": str(attempt),
    }


def should_retry(status: int) -> bool:
    """408, 425, 429 and 5xx but 501 are worth another try, as in hookline's rules."""
    return status in (408, 425, 429) or (500 <= status < 600 and status != 501)


def retry_countdown(retries: int, initial: float = 1.0, backoff: float = 2.0) -> float:
    """Seconds before retry number `retries + 1` (exponential)."""
    if retries < 0:
        raise ValueError("retries must not be negative")
    return initial * backoff**retries
