"""The HTTP side of a delivery, shared by the activities and the API's test endpoint.

`delivery_transport(settings)` builds a process's one client; `send()` makes one signed
attempt with it and reports the outcome as a `SendResult`. Imports only `hookline.core`.
"""

from hookline.delivery.send import SendResult, event_body, send, webhook_secrets
from hookline.delivery.transport import USER_AGENT, DeliveryTransport, delivery_transport

__all__ = [
    "USER_AGENT",
    "DeliveryTransport",
    "SendResult",
    "delivery_transport",
    "event_body",
    "send",
    "webhook_secrets",
]
