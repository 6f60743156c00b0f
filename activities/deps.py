"""What activities share in one worker process: settings, the store, one HTTP client."""

from __future__ import annotations

from dataclasses import dataclass

from hookline.core.config import Settings
from hookline.core.crypto import SecretBox
from hookline.core.store import Store
from hookline.delivery import DeliveryTransport


@dataclass
class Deps:
    settings: Settings
    store: Store
    http: DeliveryTransport  # hookline.delivery.delivery_transport(settings)
    secrets: SecretBox
