"""A redelivery job's batch of signals, cancelled while a signal is in flight: the signal that
may have reached its workflow is counted, and no later one is sent."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from temporalio.testing import ActivityEnvironment

from hookline.activities import jobs
from hookline.activities.jobs import JobActivities
from hookline.core.jobs import JobItem, JobSignalInput


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


async def test_a_cancel_during_a_signal_counts_that_signal_and_sends_no_other(monkeypatch):
    monkeypatch.setattr(jobs, "missing_workflow_keys", _no_missing_keys)
    client = _SlowClient()
    env = ActivityEnvironment(client=client)  # type: ignore[arg-type]
    items = [
        JobItem(event_id=f"evt_{n}", created=datetime.now(UTC), webhook_ids=["wh_a", "wh_b"])
        for n in range(5)
    ]
    batch = asyncio.ensure_future(
        env.run(
            JobActivities(deps=None).signal_batch,
            JobSignalInput(job_id="job_1", items=items, rate=1000.0),
        )  # type: ignore[arg-type]
    )
    await client.in_flight.wait()
    env.cancel()
    out = await batch

    assert out.cancelled
    assert client.sent == client.started == ["evt_0"]
    assert (out.scheduled, out.deliveries, out.done) == (1, 2, 1)
