"""The turn of a `fifo` webhook's next delivery (store/ordering.py): when one of its deliveries
ends, the oldest still pending is told with a `turn` signal to its event's workflow, which was
waiting on a timer for it. A signal lost (Temporal unavailable, the workflow gone) costs only
time: the waiting delivery asks again when its timer fires."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row
from temporalio.client import Client
from temporalio.service import RPCError

from hookline.core.models import TurnSignal
from hookline.store.ordering import FIFO, next_in_line
from hookline.store.transactions import Store

log = logging.getLogger("hookline.delivery")


class Turns:
    def __init__(self, store: Store, client: Client | None) -> None:
        self.store, self.client = store, client

    async def after(self, ended: list[str], webhooks: dict[str, Row[Any]]) -> None:
        """Deliveries to these webhooks ended: wake the next in line of each fifo one."""
        fifo = [
            wh for wh in ended if (row := webhooks.get(wh)) is not None and row.ordering == FIFO
        ]
        if not fifo or self.client is None:
            return
        line = await self.store.transaction(next_in_line, fifo, datetime.now(UTC))
        for event_id, webhook_id in line:
            try:
                await self.client.get_workflow_handle(event_id).signal(
                    "turn", TurnSignal(webhook_id=webhook_id)
                )
            except RPCError as exc:  # its timer will do
                log.info("could not wake %s for %s: %s", event_id, webhook_id, exc.message)
