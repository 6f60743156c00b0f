"""Publish an event the way the API does and wait until its deliveries settle."""

from __future__ import annotations

import asyncio
import time

from temporalio.client import Client, WorkflowHandle

from hookline.api.publish import event_workflow_input, start_event
from hookline.api.publish import publish as publish_event
from hookline.core.models import EventProgress, EventStatus
from hookline.infra.config import Settings
from hookline.store.transactions import Store
from hookline.workflows.event import EventWorkflow

SETTLED = {EventStatus.SUCCEEDED, EventStatus.FAILED, EventStatus.EXPIRED}


async def publish(
    client: Client,
    settings: Settings,
    tenant_id: str,
    type_: str = "user.created",
    data: dict | None = None,
    key: str | None = None,
) -> WorkflowHandle:
    event = event_workflow_input(settings, tenant_id, type_, data or {"id": "usr_1"}, key)
    handle = await start_event(client, settings, event)
    assert handle is not None
    return handle


async def publish_recorded(
    store: Store, client: Client, settings: Settings, tenant_id: str, data: dict
) -> WorkflowHandle:
    """As the API publishes: the event row recorded (awaiting) before its workflow starts."""
    event = event_workflow_input(settings, tenant_id, "user.created", data, None)
    published = await publish_event(store, client, settings, event)
    return client.get_workflow_handle(published.event_id)


async def settled(handle: WorkflowHandle, timeout: float = 30) -> EventProgress:
    """Polls the `progress` query until no delivery is pending or in flight."""
    deadline = time.monotonic() + timeout
    while True:
        progress = await handle.query(EventWorkflow.progress)
        pending = [s for s in progress.deliveries.values() if s == "pending"]
        if progress.status in SETTLED and not progress.in_flight and not pending:
            return progress
        if time.monotonic() > deadline:
            raise TimeoutError(f"event {handle.id} not settled in {timeout}s: {progress}")
        await asyncio.sleep(0.1)
