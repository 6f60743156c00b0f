"""A redelivery job's batch of signals, cancelled while a signal is in flight: the signal that
may have reached its workflow is counted, and no later one is sent."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from temporalio.testing import ActivityEnvironment

from hookline.activities import jobs
from hookline.activities.jobs import JobActivities
from hookline.core.jobs import JobItem, JobSignalInput
from tests.support.events import add_delivery, add_event
from tests.support.store import add_webhook


class _SlowHandle:
    def __init__(self, client: _SlowClient, workflow_id: str) -> None:
        self.client, self.workflow_id = client, workflow_id

    async def signal(self, name: str, arg: object) -> None:
        self.client.started.append(self.workflow_id)
        self.client.in_flight.set()
        await asyncio.sleep(0.2)  # Temporal takes its time to answer
        self.client.sent.append(self.workflow_id)


class _SlowClient:
    def __init__(self) -> None:
        self.started: list[str] = []
        self.sent: list[str] = []
        self.in_flight = asyncio.Event()

    def get_workflow_handle(self, workflow_id: str) -> _SlowHandle:
        return _SlowHandle(self, workflow_id)


async def _no_missing_keys(client: object, workflow_id: str) -> set[str]:
    return set()


async def test_a_cancel_during_a_signal_counts_that_signal_and_sends_no_other(
    monkeypatch, store, sessions, tenant
):
    monkeypatch.setattr(jobs, "missing_workflow_keys", _no_missing_keys)
    client = _SlowClient()
    env = ActivityEnvironment(client=client)  # type: ignore[arg-type]
    hooks = [await add_webhook(sessions, tenant.tenant_id, "https://example.com/h") for _ in "ab"]
    expires = datetime.now(UTC) + timedelta(days=1)
    items = []
    for _ in range(5):  # each event's deliveries to both webhooks failed
        event_id, _ = await add_event(sessions, tenant.tenant_id, hooks[0].id, expires)
        await add_delivery(sessions, tenant.tenant_id, event_id, hooks[1].id, "failed")
        items.append(
            JobItem(
                event_id=event_id,
                created=datetime.now(UTC),
                webhook_ids=[hook.id for hook in hooks],
                undelivered_only=True,
            )
        )
    batch = asyncio.ensure_future(
        env.run(
            JobActivities(deps=SimpleNamespace(store=store)).signal_batch,
            JobSignalInput(job_id="job_1", items=items, rate=1000.0),
        )  # type: ignore[arg-type]
    )
    await client.in_flight.wait()
    env.cancel()
    out = await batch

    assert out.cancelled
    assert client.sent == client.started == [items[0].event_id]
    assert (out.scheduled, out.deliveries, out.done) == (1, 2, 1)
