"""An event past its window, on the real stack (`hookline worker` + `hookline api` with its
embedded worker, a 3-second window, a sweep every second): the API answers 404 from its
`expires_at` on, its run is Completed in Temporal with one window timer and no expire_event,
and the sweep has deleted its rows."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus

from hookline.infra.crypto import data_converter
from hookline.workflows.event import FLOW_V2
from tests.support.histories import markers
from tests.support.stack import Stack


@pytest.fixture
def short_stack(tmp_path: Path):
    stack = Stack(
        data_dir=tmp_path / "hl",
        extra_env={"HOOKLINE_EVENT_RETENTION": "3s", "HOOKLINE_EXPIRY_SWEEP_INTERVAL": "1s"},
    )
    try:
        yield stack.start()
    finally:
        stack.stop()


async def until(check, timeout: float = 60):
    for _ in range(int(timeout * 5)):
        result = await check()
        if result:
            return result
        await asyncio.sleep(0.2)
    raise AssertionError("condition not reached")


def rows(db: Path, event_id: str) -> list[int]:
    with sqlite3.connect(db) as store:
        return [
            store.execute(
                f"SELECT count(*) FROM {table} WHERE {column} = ?", (event_id,)
            ).fetchone()[0]
            for table, column in (
                ("events", "id"),
                ("deliveries", "event_id"),
                ("attempts", "event_id"),
            )
        ]


async def test_an_expired_event_is_gone_everywhere(short_stack, receiver):
    stack = short_stack
    async with httpx.AsyncClient(base_url=stack.base_url, headers=stack.headers, timeout=30) as api:
        answer = await api.post(
            "/api/v1/webhooks", json={"url": receiver.url("/x"), "events": ["user.created"]}
        )
        assert answer.status_code == 201, answer.text
        answer = await api.post("/api/v1/events", json={"type": "user.created", "data": {"n": 1}})
        assert answer.status_code == 202, answer.text
        event_id = answer.json()["data"]["id"]

        async def delivered():
            detail = await api.get(f"/api/v1/events/{event_id}")
            if detail.status_code == 200 and detail.json()["data"]["status"] == "succeeded":
                return detail.json()["data"]
            return None

        detail = await until(delivered)
        expires_at = datetime.fromisoformat(detail["expires_at"])
        await receiver.wait_for(1, path="/x", timeout=30)

        async def past_window():
            return datetime.now(UTC) > expires_at

        await until(past_window)
        gone = await api.get(f"/api/v1/events/{event_id}")
        assert gone.status_code == 404 and gone.json()["error"]["code"] == "not_found"
        listed = await api.get("/api/v1/events")
        assert event_id not in [e["id"] for e in listed.json()["data"]]

    client = await Client.connect(
        f"127.0.0.1:{stack.temporal_port}", data_converter=data_converter([])
    )
    handle = client.get_workflow_handle(event_id)
    assert await asyncio.wait_for(handle.result(), timeout=60) == "expired"
    assert (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED
    history = await handle.fetch_history()
    kinds = [e.event_type for e in history.events]
    assert kinds.count(EventType.EVENT_TYPE_TIMER_STARTED) == 1  # the window, once
    assert "core_local_activity:expire_event" not in markers(history)
    # The worker's version of the flow, decided by the worker (no publisher's field).
    assert [m for m in markers(history) if m.startswith("core_patch")] == [f"core_patch:{FLOW_V2}"]

    async def swept():
        return rows(stack.data_dir / "hookline.db", event_id) == [0, 0, 0]

    await until(swept)
