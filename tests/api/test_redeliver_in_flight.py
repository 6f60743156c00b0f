"""A redelivery that says "scheduled" delivers: redelivering a webhook whose delivery ended
while another delivery of the same event still retries sends it at once; asking for the one
still in flight says so instead of claiming it was scheduled."""

from __future__ import annotations

import asyncio
import time

from hookline.api.services.deliveries import IN_FLIGHT
from tests.support.receiver import Reply

JSON = {"Content-Type": "application/json"}


async def test_redelivering_beside_a_retrying_delivery_delivers_and_says_what_it_did(
    live, tenant, create_webhook, receiver
):
    done = await create_webhook(client=live, url=receiver.url("/done"))
    receiver.script("/retrying", [Reply(503)])  # retried much later: in flight meanwhile
    retrying = await create_webhook(client=live, url=receiver.url("/retrying"))
    published = await live.post(
        "/api/v1/events", json={"type": "user.created", "data": {}}, headers=tenant.headers
    )
    event_id = published.json()["data"]["id"]
    await receiver.wait_for(1, path="/done")
    await receiver.wait_for(1, path="/retrying")
    deadline = time.monotonic() + 30
    while True:  # attempt 1 of both recorded: one succeeded, one waits for its retry
        event = (await live.get(f"/api/v1/events/{event_id}", headers=tenant.headers)).json()
        statuses = {d["webhook_id"]: d["status"] for d in event["data"]["deliveries"]}
        if statuses == {done["id"]: "succeeded", retrying["id"]: "pending"}:
            break
        assert time.monotonic() < deadline, statuses
        await asyncio.sleep(0.05)

    answer = await live.post(
        f"/api/v1/events/{event_id}/redeliver",
        json={"webhook_ids": [done["id"], retrying["id"]]},
        headers=tenant.headers,
    )
    assert answer.status_code == 200, answer.text
    result = answer.json()["data"]
    assert result["scheduled"] == 1
    (in_flight,) = result["not_scheduled"].values()
    assert "in flight" in in_flight
    assert "1 still in flight" in answer.json()["message"]
    got = await receiver.wait_for(2, path="/done", timeout=30)  # the scheduled one is sent
    assert got[-1].headers["x-webhook-attempt"] == "1"  # a new, manual series
    await asyncio.sleep(0.5)
    assert len(receiver.for_path("/retrying")) == 1  # its series goes on as it was


async def test_concurrent_requests_for_one_delivery_schedule_it_once(
    live, tenant, create_webhook, receiver
):
    """Four redeliveries of one failed delivery at once (a double click, a retried script):
    one is scheduled, the others say it is in flight, and the receiver gets one POST. Once
    that attempt is recorded, the delivery can be redelivered again."""
    receiver.script("/hook", [Reply(500)])
    hook = await create_webhook(
        client=live, url=receiver.url("/hook"), retry_policy={"max_attempts": 1}
    )
    published = await live.post(
        "/api/v1/events", json={"type": "user.created", "data": {}}, headers=tenant.headers
    )
    event_id = published.json()["data"]["id"]
    path = f"/api/v1/events/{event_id}"
    deadline = time.monotonic() + 30
    while (await live.get(path, headers=tenant.headers)).json()["data"]["status"] != "failed":
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    # Answered slowly: its attempt is recorded only after every request below has come.
    receiver.script("/hook", [Reply(200, delay=2)])

    async def redeliver():
        answer = await live.post(
            f"{path}/redeliver", json={"webhook_ids": [hook["id"]]}, headers=tenant.headers
        )
        assert answer.status_code == 200, answer.text
        return answer.json()["data"]

    answers = await asyncio.gather(*(redeliver() for _ in range(4)))
    assert sorted(a["scheduled"] for a in answers) == [0, 0, 0, 1]
    assert all(
        "in flight" in next(iter(a["not_scheduled"].values()))
        for a in answers
        if not a["scheduled"]
    )
    await receiver.wait_for(2, path="/hook", timeout=30)
    deadline = time.monotonic() + 30
    while (await live.get(path, headers=tenant.headers)).json()["data"]["status"] != "succeeded":
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)
    assert len(receiver.for_path("/hook")) == 2  # the first attempt, and one redelivery
    again = await redeliver()  # ended again: a new request is a new redelivery
    assert again["scheduled"] == 1
    await receiver.wait_for(3, path="/hook", timeout=30)


async def test_redelivering_the_failed_ones_says_why_nothing_was_sent(
    live, tenant, create_webhook, receiver
):
    """Asked to redeliver the failed ones (no webhook named) of an event whose delivery waits
    for its retry, the answer names that delivery as in flight instead of leaving it out of
    an answer that schedules nothing; of an event whose deliveries succeeded, it says so."""
    receiver.script("/retrying", [Reply(500)])
    await create_webhook(
        client=live,
        url=receiver.url("/retrying"),
        retry_policy={"max_attempts": 2, "initial_interval": 3600},  # its retry: far off
    )
    published = await live.post(
        "/api/v1/events", json={"type": "user.created", "data": {}}, headers=tenant.headers
    )
    path = f"/api/v1/events/{published.json()['data']['id']}"
    await receiver.wait_for(1, path="/retrying")
    deadline = time.monotonic() + 30
    while True:  # attempt 1 recorded: the delivery waits for its retry
        event = (await live.get(path, headers=tenant.headers)).json()["data"]
        if event["deliveries"][0]["attempts"]:
            break
        assert time.monotonic() < deadline, event
        await asyncio.sleep(0.05)
    answer = (await live.post(f"{path}/redeliver", headers=tenant.headers)).json()
    assert answer["data"]["scheduled"] == 0
    assert list(answer["data"]["not_scheduled"].values()) == [IN_FLIGHT], answer
    assert "1 still in flight" in answer["message"]

    await live.delete(
        f"/api/v1/webhooks/{event['deliveries'][0]['webhook_id']}", headers=tenant.headers
    )
    await create_webhook(client=live, url=receiver.url("/fine"))
    published = await live.post(
        "/api/v1/events", json={"type": "user.created", "data": {}}, headers=tenant.headers
    )
    path = f"/api/v1/events/{published.json()['data']['id']}"
    deadline = time.monotonic() + 30
    while (await live.get(path, headers=tenant.headers)).json()["data"]["status"] != "succeeded":
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    done = (await live.post(f"{path}/redeliver", headers=tenant.headers)).json()
    assert done["data"]["scheduled"] == 0 and done["data"]["not_scheduled"] == {}
    assert done["message"] == "nothing to redeliver: no delivery of this event failed"
