"""A fifo webhook's failed deliveries redelivered together (a bulk redelivery once its
receiver is fixed) arrive in publish order, one at a time, and those waiting their turn show
as pending, not as the failures they were."""

from __future__ import annotations

import asyncio
import itertools

from tests.api.test_jobs import all_failed, job_ended, live_api, until
from tests.support.receiver import Reply

EVENTS = 6


async def test_a_fifo_webhooks_redelivered_events_arrive_in_publish_order(
    live_settings, temporal_env, tenant, create_webhook, receiver
):
    async with live_api(live_settings, temporal_env) as api:
        receiver.script("/ordered", [Reply(503)])
        webhook = await create_webhook(
            client=api,
            url=receiver.url("/ordered"),
            ordering="fifo",
            retry_policy={"max_attempts": 1},
        )
        ids = []
        for n in range(EVENTS):  # one after the other: publish order is this order
            answer = await api.post(
                "/api/v1/events",
                headers=tenant.headers,
                json={"type": "user.created", "data": {"n": n}},
            )
            assert answer.status_code == 202, answer.text
            ids.append(answer.json()["data"]["id"])
        await all_failed(api, tenant.headers, EVENTS)
        sent = len(receiver.requests)

        receiver.script("/ordered", [Reply(200, delay=0.5)])
        job = await api.post(
            "/api/v1/events/redeliver", headers=tenant.headers, json={"webhook_id": webhook["id"]}
        )
        assert job.status_code == 202, job.text
        ended = await job_ended(api, tenant.headers, job.json()["data"]["id"])
        assert ended["scheduled"] == EVENTS, ended

        async def statuses() -> list[str]:
            found = []
            for event_id in ids:
                event = await api.get(f"/api/v1/events/{event_id}", headers=tenant.headers)
                found.append(event.json()["data"]["deliveries"][0]["status"])
            return found

        # While the first redelivered ones POST, the last one waits for its turn: pending.
        async def last_pending() -> bool:
            return (await statuses())[-1] == "pending"

        await until(last_pending, timeout=10)
        await until(lambda: _received(receiver, sent + EVENTS), timeout=60)
        await asyncio.sleep(0.5)
        redelivered = receiver.requests[sent:]
        assert [r.json()["id"] for r in redelivered] == ids
        # One at a time: each POST after the previous one was answered.
        for previous, after in itertools.pairwise(redelivered):
            assert after.at >= previous.at + 0.5
        assert await statuses() == ["succeeded"] * EVENTS


async def _received(receiver, n: int) -> bool:
    return len(receiver.requests) >= n
