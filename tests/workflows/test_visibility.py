"""What operators filter on in the Temporal UI: the search attributes of each event."""

from __future__ import annotations

import asyncio
import time

from temporalio.client import Client

from tests.support.flow import publish, settled
from tests.support.receiver import Reply
from tests.support.store import add_webhook
from tests.support.temporal import isolated_settings, running_worker


async def visible(client: Client, query: str, timeout: float = 15) -> dict:
    """The search attributes of the one workflow matching `query`, once visibility has it
    (visibility is eventually consistent)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [wf async for wf in client.list_workflows(query)]
        if found:
            return found[0].search_attributes
        await asyncio.sleep(0.2)
    raise TimeoutError(f"no workflow matches {query!r} after {timeout}s")


async def test_settled_event_is_searchable_by_status_and_webhook(
    dev_env, settings, sessions, tenant, receiver
):
    settings = isolated_settings(settings)
    webhook = await add_webhook(sessions, tenant.tenant_id, receiver.url("/ok"))
    async with running_worker(dev_env.client, settings):
        handle = await publish(dev_env.client, settings, tenant.tenant_id)
        await settled(handle)
    attributes = await visible(
        dev_env.client,
        f'WorkflowId = "{handle.id}" AND HooklineStatus = "succeeded" '
        f'AND HooklineWebhookIds = "{webhook.id}"',
    )
    assert attributes["HooklineTenant"] == [tenant.tenant_id]
    assert attributes["HooklineEventType"] == ["user.created"]
    # The happy path updates visibility once (server work per event), not once per step.
    history = await handle.fetch_history()
    upserts = [
        e
        for e in history.events
        if e.HasField("upsert_workflow_search_attributes_event_attributes")
    ]
    assert len(upserts) == 1


async def test_event_waiting_for_a_retry_shows_as_executing(
    dev_env, settings, sessions, tenant, receiver
):
    settings = isolated_settings(settings, retry_initial_interval=3600)
    receiver.default(Reply(503))
    webhook = await add_webhook(sessions, tenant.tenant_id, receiver.url("/down"))
    async with running_worker(dev_env.client, settings):
        handle = await publish(dev_env.client, settings, tenant.tenant_id)
        await receiver.wait_for(1, timeout=20)
        attributes = await visible(
            dev_env.client,
            f'WorkflowId = "{handle.id}" AND HooklineStatus = "executing"',
        )
        await handle.terminate("test over")
    assert attributes["HooklineWebhookIds"] == [webhook.id]
