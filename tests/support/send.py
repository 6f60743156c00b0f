"""One signed POST through `delivery.send`, as an activity makes it, for the send tests."""

from __future__ import annotations

import httpx

from hookline.activities.attempts import SendResult
from hookline.activities.delivery import send
from hookline.activities.endpoints import EndpointLimits
from hookline.core import signing

SECRET = signing.new_secret()


async def post(
    http: httpx.AsyncBaseTransport,
    url: str,
    *,
    n: int = 0,
    body: bytes = b"{}",
    secret: str = SECRET,
    timeout: float = 5,
    allow_private: bool = True,
    endpoints: EndpointLimits | None = None,
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
        allow_private=allow_private,
        endpoints=endpoints or EndpointLimits(4),
    )
