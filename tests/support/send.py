"""One signed POST through `hookline.delivery.send`, as an activity makes it, for the send
tests; the client is built by `hookline.delivery.delivery_transport`, as in production."""

from __future__ import annotations

from hookline.core import signing
from hookline.core.models import SendResult
from hookline.delivery.send import send
from hookline.delivery.transport import DeliveryTransport

SECRET = signing.new_secret()


async def post(
    http: DeliveryTransport,
    url: str,
    *,
    n: int = 0,
    body: bytes = b"{}",
    secret: str = SECRET,
    timeout: float = 5,
) -> SendResult:
    """Attempt 1 of event `evt_{n}` (delivery `dlv_{n}`)."""
    return await send(
        http,
        url,
        body,
        secrets=[secret],
        event_id=f"evt_{n}",
        event_type="user.created",
        delivery_id=f"dlv_{n}",
        attempt=1,
        timeout=timeout,
    )
