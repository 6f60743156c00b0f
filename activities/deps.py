"""What activities share in one worker process: settings, the store, one HTTP client."""

from __future__ import annotations

from dataclasses import dataclass

from hookline.delivery.transport import DeliveryTransport
from hookline.infra.config import Settings
from hookline.infra.crypto import SecretBox
from hookline.store.transactions import Store


@dataclass
class Deps:
    settings: Settings
    store: Store
    http: DeliveryTransport  # hookline.delivery.delivery_transport(settings)
    secrets: SecretBox
