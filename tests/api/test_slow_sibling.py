"""One event, a slow receiver beside a fast one: the fast one's attempt is recorded when it
is answered, not when the slow one's ends, so that the API shows it delivered meanwhile and a
replay of the step (its worker died) would not POST it again."""

from __future__ import annotations

import asyncio
import time

from tests.support.receiver import Reply


async def test_a_fast_receivers_attempt_is_recorded_while_a_slow_sibling_still_runs(
    live, tenant, create_webhook, receiver
):
    receiver.script("/slow", [Reply(200, delay=6)])
    receiver.script("/failing", [Reply(503)])
    fast = await create_webhook(client=live, url=receiver.url("/fast"))
    failing = await create_webhook(
        client=live,
        url=receiver.url("/failing"),
        retry_policy={"max_attempts": 3, "initial_interval": 3600},  # its retry: far off
    )
    slow = await create_webhook(client=live, url=receiver.url("/slow"))
    published = await live.post(
        "/api/v1/events", json={"type": "user.created", "data": {}}, headers=tenant.headers
    )
    event_id = published.json()["data"]["id"]
    await receiver.wait_for(1, path="/slow")

    deadline = time.monotonic() + 30
    while True:
        event = (await live.get(f"/api/v1/events/{event_id}", headers=tenant.headers)).json()
        deliveries = {d["webhook_id"]: d for d in event["data"]["deliveries"]}
        if deliveries[fast["id"]]["status"] == "succeeded":
            break
        assert time.monotonic() < deadline, deliveries
        await asyncio.sleep(0.1)
    # Recorded while the slow POST is still unanswered: its delivery has no attempt yet.
    assert deliveries[slow["id"]]["attempts"] == 0, deliveries
    assert deliveries[fast["id"]]["attempts"] == 1
    assert deliveries[failing["id"]]["status"] == "pending"
    assert deliveries[failing["id"]]["attempts"] == 1

    deadline = time.monotonic() + 30
    while deliveries[slow["id"]]["status"] != "succeeded":
        assert time.monotonic() < deadline, deliveries
        await asyncio.sleep(0.2)
        event = (await live.get(f"/api/v1/events/{event_id}", headers=tenant.headers)).json()
        deliveries = {d["webhook_id"]: d for d in event["data"]["deliveries"]}
    assert deliveries[failing["id"]]["next_attempt_at"] is not None  # its retry: still due
    assert [len(receiver.for_path(p)) for p in ("/fast", "/failing", "/slow")] == [1, 1, 1]
