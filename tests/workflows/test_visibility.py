"""What operators see in the Temporal UI: the search attributes of each event (what they
filter on), the workflow's current details and its activities' summaries."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import Client, WorkflowHandle

from hookline.core.ids import delivery_id
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
        # The SDK's own for the workflow's patch (TemporalChangeVersion) is not ours.
        and "TemporalChangeVersion"
        not in e.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields
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


async def current_details(handle: WorkflowHandle, containing: str, timeout: float = 15) -> str:
    """The workflow's current details as the UI reads them (Temporal's built-in metadata
    query), once they contain `containing`."""
    deadline = time.monotonic() + timeout
    details = ""
    while time.monotonic() < deadline:
        metadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
        details = metadata.current_details
        if containing in details:
            return details
        await asyncio.sleep(0.2)
    raise TimeoutError(f"current details never showed {containing!r}: {details!r}")


def summaries(history, client: Client) -> list[str]:
    """The summary of each activity and local activity, in history order."""
    converter = client.data_converter.payload_converter
    return [
        converter.from_payload(e.user_metadata.summary, str)
        for e in history.events
        if e.HasField("user_metadata")
        and e.user_metadata.HasField("summary")
        and (
            e.HasField("activity_task_scheduled_event_attributes")
            or e.HasField("marker_recorded_event_attributes")
        )
    ]


async def test_current_details_list_each_delivery_and_summaries_name_webhooks(
    dev_env, settings, sessions, tenant, receiver
):
    settings = isolated_settings(settings, retry_initial_interval=3600)
    receiver.script("/down", [Reply(503)])
    ok = await add_webhook(sessions, tenant.tenant_id, receiver.url("/ok"))
    down = await add_webhook(sessions, tenant.tenant_id, receiver.url("/down"))
    async with running_worker(dev_env.client, settings):
        handle = await publish(dev_env.client, settings, tenant.tenant_id)
        details = await current_details(handle, "retrying")
        history = await handle.fetch_history()
        await handle.terminate("test over")
    # The counts by status, then one line per delivery (markdown list): webhook id, delivery
    # id, status; what needs a look (retrying, failed) first.
    assert details.splitlines() == [
        "**user.created**: 2 webhooks, event **executing** (1 retrying, 1 succeeded)",
        "",
        f"- `{down.id}` · `{delivery_id(handle.id, down.id)}` · retrying",
        f"- `{ok.id}` · `{delivery_id(handle.id, ok.id)}` · succeeded",
    ]
    assert summaries(history, dev_env.client) == ["record, match, attempt 1 to every match"]


def readme_views() -> list[str]:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    table = readme[readme.index("| view | query |") :]
    section = table[: table.index("\n\n")]
    return re.findall(r"^\| [^|]+ \| `([^`]+)` \|$", section, re.MULTILINE)


async def test_the_readmes_saved_views_find_what_they_say(
    dev_env, settings, sessions, tenant, receiver
):
    settings = isolated_settings(settings, retry_initial_interval=3600)
    receiver.script("/down", [Reply(500)])
    webhook = await add_webhook(
        sessions, tenant.tenant_id, receiver.url("/down"), retry={"max_attempts": 1}
    )
    async with running_worker(dev_env.client, settings):
        handle = await publish(dev_env.client, settings, tenant.tenant_id)
        await settled(handle)
    views = readme_views()
    assert len(views) >= 4, views
    failed_of_tenant = views[0].replace("ten_x", tenant.tenant_id)
    failed_of_webhook = next(v for v in views if "HooklineWebhookIds" in v)
    for query in views:  # every view is a query the server accepts
        [wf async for wf in dev_env.client.list_workflows(query)]
    for query in (failed_of_tenant, failed_of_webhook.replace("wh_x", webhook.id)):
        await visible(dev_env.client, f"WorkflowId = '{handle.id}' AND {query}")


async def test_each_event_runs_under_its_tenants_fairness_key(
    dev_env, settings, sessions, tenant, receiver
):
    """The server dispatches task-queue work fairly across tenants (matching.enableFairness,
    set by `hookline dev` and compose): each event's workflow carries its tenant as key."""
    settings = isolated_settings(settings)
    await add_webhook(sessions, tenant.tenant_id, receiver.url("/ok"))
    async with running_worker(dev_env.client, settings):
        handle = await publish(dev_env.client, settings, tenant.tenant_id)
        described = await handle.describe()
        await handle.terminate("test over")
    assert described.raw_description.workflow_execution_info.priority.fairness_key == (
        tenant.tenant_id
    )
