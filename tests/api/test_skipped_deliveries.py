"""A delivery skipped because its webhook was deactivated mid-retry did not reach a subscriber
that still exists: its event reads `failed`, and "redeliver failed" (one event, or in bulk)
takes it once the webhook is active again, not before. A delivery skipped because its webhook
was deleted leaves its event succeeded, and a redelivery of it says why it is not sent."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from tests.api.test_console import sign_in
from tests.support.receiver import Reply

RETRY_LATER = {"max_attempts": 3, "initial_interval": 3}  # attempt 2 comes 3 s after attempt 1


async def until(check, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.05)


async def event_of(api: httpx.AsyncClient, headers: dict, event_id: str) -> dict:
    answer = await api.get(f"/api/v1/events/{event_id}", headers=headers)
    assert answer.status_code == 200, answer.text
    return answer.json()["data"]


async def publish_and_fail_once(api, headers, receiver, create_webhook) -> tuple[dict, dict, str]:
    """A fine webhook and a failing one; returns them and the event once attempt 1 of both
    is recorded (the failing one's delivery pending its retry)."""
    fine = await create_webhook(client=api, url=receiver.url("/fine"))
    receiver.script("/failing", Reply(503))
    failing = await create_webhook(
        client=api, url=receiver.url("/failing"), retry_policy=RETRY_LATER
    )
    published = await api.post(
        "/api/v1/events", json={"type": "user.created", "data": {}}, headers=headers
    )
    assert published.status_code == 202, published.text
    event_id = published.json()["data"]["id"]

    async def first_attempts_recorded() -> bool:
        event = await event_of(api, headers, event_id)
        statuses = {d["webhook_id"]: d["status"] for d in event["deliveries"]}
        return statuses == {fine["id"]: "succeeded", failing["id"]: "pending"}

    await until(first_attempts_recorded)
    return fine, failing, event_id


def delivery_to(event: dict, webhook_id: str) -> dict:
    (delivery,) = [d for d in event["deliveries"] if d["webhook_id"] == webhook_id]
    return delivery


async def job_ended(api: httpx.AsyncClient, headers: dict, answer: httpx.Response) -> dict:
    assert answer.status_code == 202, answer.text

    async def ended() -> dict | None:
        job = await api.get(f"/api/v1/jobs/{answer.json()['data']['id']}", headers=headers)
        return job.json()["data"] if job.json()["data"]["status"] != "running" else None

    return await until(ended)


async def test_a_webhook_deactivated_mid_retry_leaves_its_event_failed_until_redelivered(
    live, tenant, create_webhook, receiver
):
    headers = tenant.headers
    _, failing, event_id = await publish_and_fail_once(live, headers, receiver, create_webhook)
    deactivated = await live.put(
        f"/api/v1/webhooks/{failing['id']}", json={"status": "inactive"}, headers=headers
    )
    assert deactivated.status_code == 200, deactivated.text

    async def settled() -> dict | None:
        event = await event_of(live, headers, event_id)
        return event if delivery_to(event, failing["id"])["status"] == "skipped" else None

    event = await until(settled)
    event = await until(
        lambda: _with_status(live, headers, event_id, "failed")
    )  # the settle follows the skip
    skipped = delivery_to(event, failing["id"])
    assert skipped["last_error"] == "webhook inactive"
    assert "1/2 deliveries succeeded, 1 skipped" in event["stages"][-1]["detail"]
    assert len(receiver.for_path("/failing")) == 1  # the retry was not POSTed

    # Not active: "redeliver failed" names it but does not promise a POST; a job for that
    # webhook is refused, and a tenant-wide one does not take it.
    answer = await live.post(f"/api/v1/events/{event_id}/redeliver", headers=headers)
    assert answer.status_code == 200, answer.text
    result = answer.json()["data"]
    assert result["scheduled"] == 0
    assert result["not_scheduled"] == {
        skipped["id"]: "webhook inactive: activate it, then redeliver"
    }
    assert "1 not redelivered: webhook inactive or deleted" in answer.json()["message"]
    csrf = await sign_in(live, headers)  # the console says it too
    page = await live.get(f"/console/events/{event_id}")
    assert "Redeliver all failed (1)" in page.text
    posted = await live.post(f"/console/events/{event_id}/redeliver", data={"csrf": csrf})
    assert posted.status_code == 303, posted.text
    page = await live.get(posted.headers["location"])
    assert "0 deliveries scheduled for redelivery. 1 not: still in flight, or its" in page.text
    for path, body in [
        ("/api/v1/events/redeliver", {"webhook_id": failing["id"]}),
        (f"/api/v1/webhooks/{failing['id']}/replay", {"since": event["created"]}),
    ]:
        refused = await live.post(path, json=body, headers=headers)
        assert refused.status_code == 409, refused.text  # no job that could only skip
        assert "activate it, then redeliver" in refused.json()["error"]["message"]
    tenant_wide = await live.post("/api/v1/events/redeliver", json={}, headers=headers)
    job = await job_ended(live, headers, tenant_wide)
    assert (job["status"], job["total"], job["scheduled"]) == ("completed", 0, 0)

    # Active again, and the receiver fixed: the bulk "redeliver failed" sends it.
    receiver.script("/failing", Reply(200))
    reactivated = await live.put(
        f"/api/v1/webhooks/{failing['id']}", json={"status": "active"}, headers=headers
    )
    assert reactivated.status_code == 200, reactivated.text
    bulk = await live.post(
        "/api/v1/events/redeliver", json={"webhook_id": failing["id"]}, headers=headers
    )
    job = await job_ended(live, headers, bulk)
    assert (job["status"], job["total"], job["scheduled"], job["deliveries"]) == (
        "completed",
        1,
        1,
        1,
    )
    received = await receiver.wait_for(2, path="/failing", timeout=30)
    assert received[-1].headers["x-webhook-attempt"] == "1"  # a new, manual series
    event = await until(lambda: _with_status(live, headers, event_id, "succeeded"))
    assert delivery_to(event, failing["id"])["status"] == "succeeded"


async def test_a_webhook_deleted_mid_retry_leaves_its_event_succeeded(
    live, tenant, create_webhook, receiver
):
    headers = tenant.headers
    fine, gone, event_id = await publish_and_fail_once(live, headers, receiver, create_webhook)
    deleted = await live.delete(f"/api/v1/webhooks/{gone['id']}", headers=headers)
    assert deleted.status_code == 200, deleted.text

    async def settled() -> dict | None:
        event = await event_of(live, headers, event_id)
        skipped = delivery_to(event, gone["id"])["status"] == "skipped"
        return event if skipped and event["status"] == "succeeded" else None

    event = await until(settled)
    assert delivery_to(event, gone["id"])["last_error"] == "webhook deleted"
    assert "1/2 deliveries succeeded, 1 skipped" in event["stages"][-1]["detail"]

    # Named, it is answered as not sent; the fine one is sent again.
    answer = await live.post(
        f"/api/v1/events/{event_id}/redeliver",
        json={"webhook_ids": [gone["id"], fine["id"]]},
        headers=headers,
    )
    assert answer.status_code == 200, answer.text
    result = answer.json()["data"]
    assert result["scheduled"] == 1
    assert answer.json()["message"].startswith("1 delivery scheduled for redelivery;")
    assert result["delivery_ids"] == [delivery_to(event, fine["id"])["id"]]
    assert result["not_scheduled"] == {
        delivery_to(event, gone["id"])["id"]: "webhook deleted: nothing to deliver to"
    }
    await receiver.wait_for(2, path="/fine", timeout=30)
    # Unnamed ("redeliver failed"), there is nothing to send: the deleted one is not a failure.
    answer = await live.post(f"/api/v1/events/{event_id}/redeliver", headers=headers)
    assert (answer.json()["data"]["scheduled"], answer.json()["data"]["not_scheduled"]) == (0, {})
    assert len(receiver.for_path("/failing")) == 1


async def _with_status(api, headers, event_id: str, status: str) -> dict | None:
    event = await event_of(api, headers, event_id)
    return event if event["status"] == status else None
