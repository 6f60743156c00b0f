"""Waking waiting deliveries (store/ordering.py) with a `turn` signal to their event's
workflow, which waits on a timer for it: when a `fifo` webhook's delivery ends, the oldest
still pending; when a delivery gives back its webhook's slot, the oldest parked one. A signal
lost (Temporal unavailable, the workflow gone) costs only time: the waiting delivery asks
again when its timer fires."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Row
from temporalio.client import Client
from temporalio.service import RPCError

from hookline.core.models import TurnSignal
from hookline.store.admission import SLOW
from hookline.store.ordering import FIFO, to_wake
from hookline.store.transactions import Store

log = logging.getLogger("hookline.delivery")


class Turns:
    def __init__(self, store: Store, client: Client | None) -> None:
        self.store, self.client = store, client

    async def after(
        self, ended: list[str], freed: list[str], webhooks: dict[str, Row[Any]]
    ) -> None:
        """Deliveries to the `ended` webhooks ended, those to the `freed` ones gave back their
        slot (an attempt recorded): wake the next in line of each fifo webhook that ended one,
        and the oldest parked delivery of each other webhook that freed a slot and may have
        parked ones (only a capped, slow or new endpoint refuses slots)."""
        turned = [wh for wh in ended if _fifo(webhooks.get(wh))]
        slots = [wh for wh in freed if _may_park(webhooks.get(wh))]
        if not (turned or slots) or self.client is None:
            return
        woken = await self.store.transaction(to_wake, turned, slots, datetime.now(UTC))
        for event_id, webhook_id in woken:
            try:
                await self.client.get_workflow_handle(event_id).signal(
                    "turn", TurnSignal(webhook_id=webhook_id)
                )
            except RPCError as exc:  # its timer will do
                log.info("could not wake %s for %s: %s", event_id, webhook_id, exc.message)


def _fifo(row: Row[Any] | None) -> bool:
    return row is not None and row.ordering == FIFO


def _may_park(row: Row[Any] | None) -> bool:
    """Whether admission may have refused the webhook's deliveries a slot: its own cap binds
    at any speed, the default one while it is slow or not known yet (store/admission.py)."""
    if row is None or row.ordering == FIFO:  # a fifo webhook's turn comes when one ends
        return False
    slow_ms = SLOW / timedelta(milliseconds=1)
    return bool(row.max_in_flight) or row.latency_ms is None or row.latency_ms >= slow_ms
