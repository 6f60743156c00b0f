"""Waking waiting deliveries (store/ordering.py) with a `turn` signal to their event's
workflow, which waits on a timer for it: when a `fifo` webhook's delivery ends, the oldest
still pending; when a delivery gives back its webhook's slot, the oldest parked one. Which
ones is decided in the transaction that records the attempts (`ordering.woken_by`). A signal
lost (Temporal unavailable, this process killed before it) costs only time: the next slot
freed wakes the delivery again (`ordering.WAKE_LOST_AFTER`), or it asks again when its timer
fires."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import Row
from temporalio.client import Client
from temporalio.service import RPCError

from hookline.core.models import TurnSignal
from hookline.store.ordering import FIFO

log = logging.getLogger("hookline.delivery")


def fifo_of(webhooks: dict[str, Row[Any]]) -> set[str]:
    """The webhooks (of those loaded) delivered in publish order."""
    return {webhook_id for webhook_id, row in webhooks.items() if row.ordering == FIFO}


class Turns:
    def __init__(self, client: Client | None) -> None:
        self.client = client

    async def wake(self, woken: list[tuple[str, str]]) -> None:
        """Signals each (event id, webhook id) that its delivery may ask again."""
        if self.client is None:
            return
        for event_id, webhook_id in woken:
            try:
                await self.client.get_workflow_handle(event_id).signal(
                    "turn", TurnSignal(webhook_id=webhook_id)
                )
            except RPCError as exc:  # its timer will do
                log.info("could not wake %s for %s: %s", event_id, webhook_id, exc.message)
