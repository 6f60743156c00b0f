"""Nothing stuck: the reconciler (infra/reconcile.py) finds events the store holds as
unfinished whose workflow is missing or closed without finishing them, and repairs each.

The API as deployed (its embedded worker delivers) on the real Temporal dev server and the
real store, a real receiver on 127.0.0.1. Each test runs its own reconciler rounds (no grace,
so its just-made events count); the API's own reconciler waits out its grace period.
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any

import httpx
import pytest
from temporalio.client import Client, WorkflowExecutionStatus

from hookline.api.publish import event_workflow_input
from hookline.core.models import EventStatus, EventWorkflowInput
from hookline.infra.config import Settings
from hookline.infra.reconcile import Reconciler
from hookline.store.engine import create_engine
from hookline.store.events import record_accepted, record_repair
from hookline.store.transactions import Store
from hookline.workflows.event import EventWorkflow
from tests.conftest import TenantCreds
from tests.support.receiver import Receiver, Reply, refused_port

HOOK = "/hook"


@pytest.fixture
def store_kind() -> str:
    """SQLite, but for the concurrency test (PostgreSQL's locking too)."""
    return "sqlite"


def reconciler(app: Any, store: Store | None = None) -> Reconciler:
    """A reconciler of the app's process (or of another store: another process), no grace."""
    return Reconciler(
        store or app.state.deps.store,
        app.state.settings,
        lambda: app.state.temporal,
        EventWorkflow.run,
        grace=timedelta(0),
    )


async def until(check, timeout: float = 30, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what or check}"
        await asyncio.sleep(0.05)


async def event_of(client: httpx.AsyncClient, tenant: TenantCreds, event_id: str) -> dict:
    response = await client.get(f"/api/v1/events/{event_id}", headers=tenant.headers)
    assert response.status_code == 200, response.text
    return response.json()["data"]


def posts_of(receiver: Receiver, event_id: str) -> list:
    return [r for r in receiver.for_path(HOOK) if r.headers.get("webhook-id") == event_id]


async def recorded_unstarted(app: Any, tenant: TenantCreds) -> EventWorkflowInput:
    """What an API that died between the insert and the start leaves: the row, no workflow."""
    event = event_workflow_input(
        app.state.settings, tenant.tenant_id, "user.created", {"n": 1}, None
    )
    assert await app.state.deps.store.transaction(record_accepted, event) is None
    return event


async def retrying(live: httpx.AsyncClient, tenant: TenantCreds, receiver: Receiver) -> str:
    """An event whose one delivery got a 503 and waits for its retry (30 s away)."""
    response = await live.post(
        "/api/v1/events", json={"type": "user.created", "data": {"n": 2}}, headers=tenant.headers
    )
    assert response.status_code == 202, response.text
    event_id = response.json()["data"]["id"]

    async def attempt_recorded() -> bool:
        event = await event_of(live, tenant, event_id)
        attempts = [d["attempts"] for d in event["deliveries"]]
        return event["status"] == "executing" and attempts == [1]

    await until(attempt_recorded, what="attempt 1 recorded")
    assert len(posts_of(receiver, event_id)) == 1
    return event_id


async def repaired_run_settled(client: Client, event_id: str) -> None:
    """The fresh run has accepted (read the deliveries) and settled on `failed`."""

    async def settled() -> bool:
        handle = client.get_workflow_handle(event_id)
        if (await handle.describe()).status != WorkflowExecutionStatus.RUNNING:
            return False
        progress = await handle.query(EventWorkflow.progress)
        return progress.status == EventStatus.FAILED and not progress.in_flight

    await until(settled, what="the repaired run's accept")


async def test_an_event_never_started_is_started_and_delivered(
    live, tenant, create_webhook, receiver
) -> None:
    """(a) The API died between the insert and the start and its client never retried."""
    await create_webhook(client=live, url=receiver.url(HOOK))
    event = await recorded_unstarted(live.app, tenant)
    # Within its grace period the event is left alone: its start may be in flight.
    young = Reconciler(
        live.app.state.deps.store, live.app.state.settings, lambda: live.app.state.temporal, None
    )
    assert (await young.reconcile()).checked == 0

    done = await reconciler(live.app).reconcile()
    assert (done.started, done.repaired, done.errors) == (1, 0, 0)
    (post,) = await receiver.wait_for(1, path=HOOK, timeout=30)
    assert post.headers["webhook-id"] == event.event_id
    assert post.json()["data"] == {"n": 1}

    async def succeeded() -> dict | None:
        got = await event_of(live, tenant, event.event_id)
        return got if got["status"] == "succeeded" else None

    got = await until(succeeded, what="succeeded")
    assert [s["stage"] for s in got["stages"]][:2] == ["awaiting-executing", "executing"]
    # Started as the API starts it: its static summary, and no second run on the next round.
    description = await live.app.state.temporal.get_workflow_handle(event.event_id).describe()
    assert await description.static_summary() == "user.created event"
    assert (await reconciler(live.app).reconcile()).checked == 0
    assert len(posts_of(receiver, event.event_id)) == 1


async def test_a_terminated_event_is_recorded_failed_and_redeliverable(
    live, tenant, create_webhook, receiver
) -> None:
    """(b) An operator terminated a retrying event's workflow."""
    receiver.script(HOOK, Reply(503))
    await create_webhook(client=live, url=receiver.url(HOOK))
    event_id = await retrying(live, tenant, receiver)
    client: Client = live.app.state.temporal
    await client.get_workflow_handle(event_id).terminate(reason="stuck, says the operator")

    done = await reconciler(live.app).reconcile()
    assert (done.started, done.repaired, done.errors) == (0, 1, 0)

    # The API (and the console, which shows the same stages): failed, with the reason.
    event = await event_of(live, tenant, event_id)
    assert event["status"] == "failed"
    last = event["stages"][-1]
    assert last["stage"] == "failed"
    assert "terminated" in last["detail"] and "stuck, says the operator" in last["detail"]
    (delivery,) = event["deliveries"]
    assert delivery["status"] == "failed"
    assert delivery["last_error"] == last["detail"]

    # The workflow history: a fresh run of the same id, told why.
    handle = client.get_workflow_handle(event_id)
    description = await handle.describe()
    assert description.status == WorkflowExecutionStatus.RUNNING
    summary = await description.static_summary()
    assert summary is not None and "recorded failed" in summary and "terminated" in summary
    assert "stuck, says the operator" in (await description.static_details() or "")
    history = await handle.fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    (first_input,) = await client.data_converter.decode(
        started.input.payloads, [EventWorkflowInput]
    )
    assert first_input.repair_reason == last["detail"]

    # The fresh run makes no attempt by itself: attempt 1 is not made again.
    await repaired_run_settled(client, event_id)
    await asyncio.sleep(0.5)
    assert len(posts_of(receiver, event_id)) == 1
    assert (await event_of(live, tenant, event_id))["status"] == "failed"

    # Redeliver works again.
    receiver.script(HOOK, Reply(200))
    response = await live.post(f"/api/v1/events/{event_id}/redeliver", headers=tenant.headers)
    assert response.status_code == 200, response.text
    assert response.json()["data"]["scheduled"] == 1

    async def redelivered() -> dict | None:
        got = await event_of(live, tenant, event_id)
        return got if got["status"] == "succeeded" else None

    got = await until(redelivered, what="redelivered")
    assert len(posts_of(receiver, event_id)) == 2
    assert got["stages"][-1]["stage"] == "redelivered (series 1)"
    # And nothing for the reconciler to do any more.
    assert (await reconciler(live.app).reconcile()).checked == 0


@pytest.mark.parametrize("store_kind", ["sqlite", "postgres"])
async def test_two_reconcilers_at_once_repair_once(
    live, tenant, create_webhook, receiver, live_settings: Settings
) -> None:
    """(c) Two processes reconcile the same events at the same moment."""
    receiver.script(HOOK, Reply(503))
    await create_webhook(client=live, url=receiver.url(HOOK))
    terminated = await retrying(live, tenant, receiver)
    client: Client = live.app.state.temporal
    await client.get_workflow_handle(terminated).terminate(reason="gone")
    receiver.script(HOOK, Reply(200))
    unstarted = await recorded_unstarted(live.app, tenant)

    url = live_settings.resolved_database_url
    engine = create_engine(url)
    other = Store(url, engine)  # another process's store
    try:
        first, second = await asyncio.gather(
            reconciler(live.app).reconcile(), reconciler(live.app, other).reconcile()
        )
    finally:
        other.close()
        await engine.dispose()
    assert first.errors == second.errors == 0
    assert first.repaired + second.repaired == 1
    assert first.started + second.started >= 1  # both may start it: one run (USE_EXISTING)

    event = await event_of(live, tenant, terminated)
    assert event["status"] == "failed"
    assert [s["stage"] for s in event["stages"]].count("failed") == 1
    # The store's record is conditional: a later (or slower) caller changes nothing.
    base = live_settings.retry_spec()
    store = live.app.state.deps.store
    assert await store.transaction(record_repair, terminated, "again", base) is False
    await repaired_run_settled(client, terminated)
    assert len(posts_of(receiver, terminated)) == 1

    await receiver.wait_for(2, path=HOOK, timeout=30)
    await asyncio.sleep(0.5)
    assert len(posts_of(receiver, unstarted.event_id)) == 1


async def test_a_round_without_temporal_stops_at_once_and_repairs_nothing(
    live, tenant, caplog
) -> None:
    """Temporal unreachable (a lazy client, as the API's before Temporal is up): one warning,
    no error per event, the event left for the next round."""
    event = await recorded_unstarted(live.app, tenant)
    away = await Client.connect(f"127.0.0.1:{await refused_port()}", lazy=True)
    stopped = Reconciler(
        live.app.state.deps.store,
        live.app.state.settings,
        lambda: away,
        EventWorkflow.run,
        grace=timedelta(0),
    )
    done = await stopped.reconcile()
    assert (done.checked, done.started, done.repaired, done.errors) == (0, 0, 0, 0)
    warnings = [r for r in caplog.records if r.name == "hookline.reconcile"]
    assert [r.getMessage()[:45] for r in warnings] == [
        "reconcile round stopped: Temporal is unavaila"
    ]
    assert (await reconciler(live.app).reconcile()).started == 1
    assert (await event_of(live, tenant, event.event_id))["status"] != "failed"
