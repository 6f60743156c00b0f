"""The happy path's one local activity (record, match, attempt 1) when the store refuses the
attempt writes: the workflow falls back to record + match alone, then delivers as a series,
and nothing is lost."""

from __future__ import annotations

import asyncio

from sqlalchemy import text
from temporalio.api.enums.v1 import EventType

from tests.support.flow import publish, settled
from tests.support.store import add_webhook, event_rows
from tests.support.temporal import isolated_settings, running_worker

REFUSE_ATTEMPTS = """
CREATE TRIGGER refuse_attempts BEFORE INSERT ON attempts
BEGIN SELECT RAISE(ABORT, 'attempts refused (test)'); END
"""


async def _sql(sessions, statement: str) -> None:
    async with sessions.begin() as session:
        await session.execute(text(statement))


def _markers(history) -> list:
    """Local-activity markers (not the patch marker of workflow.patched)."""
    return [
        e
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
        and e.marker_recorded_event_attributes.marker_name == "core_local_activity"
    ]


async def test_happy_path_is_one_local_activity(dev_env, settings, sessions, tenant, receiver):
    """Record, match, attempt 1 and settle: one marker in history, one workflow task."""
    await add_webhook(sessions, tenant.tenant_id, receiver.url("/a"))
    await add_webhook(sessions, tenant.tenant_id, receiver.url("/b"))
    async with running_worker(dev_env.client, settings):
        handle = await publish(dev_env.client, settings, tenant.tenant_id)
        progress = await settled(handle)
    assert progress.status == "succeeded"
    assert len(receiver.requests) == 2
    history = await handle.fetch_history()
    assert len(_markers(history)) == 1
    completed = EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
    assert sum(e.event_type == completed for e in history.events) == 1


async def test_attempt_writes_refused_then_back(dev_env, settings, sessions, tenant, receiver):
    fast = isolated_settings(settings, retry_initial_interval=1, retry_backoff=1.5)
    webhook = await add_webhook(sessions, tenant.tenant_id, receiver.url("/hook"))
    await _sql(sessions, REFUSE_ATTEMPTS)
    async with running_worker(dev_env.client, fast):
        handle = await publish(dev_env.client, fast, tenant.tenant_id, data={"n": 1})
        # accept_event with attempt 1: three tries (1 s, 2 s apart), each POSTs and then
        # fails to record; give the third try's write time to fail before the store heals.
        await receiver.wait_for(3, "/hook", timeout=20)
        await asyncio.sleep(0.5)
        await _sql(sessions, "DROP TRIGGER refuse_attempts")
        progress = await settled(handle, timeout=60)

    assert progress.status == "succeeded"
    assert progress.deliveries == {webhook.id: "succeeded"}
    event, deliveries, attempts = await event_rows(sessions, handle.id)
    assert event.status == "succeeded"
    assert deliveries[webhook.id].status == "succeeded"
    assert attempts and attempts[-1].outcome == "success"  # the attempt that could be written
    requests = receiver.for_path("/hook")
    assert len(requests) >= 4  # at least once: the unrecorded tries were real POSTs
    assert len({r.headers["x-webhook-delivery-id"] for r in requests}) == 1
    # The fallback in history: accept_event a second time (record + match only), then
    # deliver_first as its own local activity.
    history = await handle.fetch_history()
    assert len(_markers(history)) >= 3, [e.event_type for e in history.events]
