"""A bulk redelivery and single redeliveries of the same failed deliveries at once: each
delivery is POSTed once more, whichever asks first. A job's page is read before it signals
its events, paced; one redelivered and delivered meanwhile is not POSTed again."""

from __future__ import annotations

import asyncio
from collections import Counter

from tests.api.test_jobs import (
    _at_least,
    all_failed,
    failing_webhook,
    hits,
    job_ended,
    live_api,
    publish,
    until,
)
from tests.support.receiver import Reply


async def test_a_job_and_single_redeliveries_of_the_same_deliveries_post_each_once(
    live_settings, temporal_env, tenant, receiver
):
    events = 20
    # Slow enough that the single redeliveries below deliver before the job reaches them.
    async with live_api(live_settings, temporal_env, redelivery_job_rate=4.0) as api:
        webhook = await failing_webhook(api, tenant.headers, receiver)
        ids = await publish(api, tenant.headers, events)
        await all_failed(api, tenant.headers, events)
        baseline, sent = hits(receiver), len(receiver.requests)
        assert set(baseline) == set(ids)

        receiver.script("/hook", [Reply(200)])
        jobs = [
            await api.post(
                "/api/v1/events/redeliver", headers=tenant.headers, json={"webhook_id": webhook}
            )
            for _ in range(2)  # two jobs at once (a script retried without its key)
        ]
        assert [job.status_code for job in jobs] == [202, 202], jobs[0].text
        singles = await asyncio.gather(
            *(
                api.post(f"/api/v1/events/{event_id}/redeliver", headers=tenant.headers, json={})
                for event_id in ids
            )
        )
        assert {single.status_code for single in singles} == {200}
        by_singles = sum(single.json()["data"]["scheduled"] for single in singles)

        ended = [await job_ended(api, tenant.headers, job.json()["data"]["id"]) for job in jobs]
        by_jobs = sum(job["scheduled"] for job in ended)
        assert by_singles + by_jobs == events, (by_singles, ended)
        for job in ended:  # every event it read: scheduled, or said why not (one delivered
            # before the job read its page is not among them)
            assert job["scheduled"] + sum(job["skipped"].values()) == job["processed"], job
            assert set(job["skipped"]) <= {"in_flight", "delivered"}, job
        assert any(job["skipped"].get("delivered") for job in ended), ended

        await until(lambda: _at_least(receiver, sent + events))
        await asyncio.sleep(1.5)  # a second POST, if any, would come now
        assert hits(receiver) - baseline == Counter(ids)  # exactly once more each
