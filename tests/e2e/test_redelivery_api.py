"""The receiver is down, then back: a bulk redeliver through the API recovers everything.

Also the read side: events list filters, event detail, deliveries, attempts, stats.
"""

from __future__ import annotations

import asyncio
import json

import httpx

from tests.support.receiver import Reply

EVENTS = 10


async def poll(check, timeout: float = 60):
    for _ in range(int(timeout * 5)):
        result = await check()
        if result:
            return result
        await asyncio.sleep(0.2)
    raise AssertionError("condition not reached")


async def test_receiver_down_then_bulk_redeliver_recovers(stack, receiver):
    receiver.script("/hook", [Reply(503)])
    headers = stack.headers
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as api:
        webhook = (
            await api.post(
                "/api/v1/webhooks",
                headers=headers,
                json={
                    "url": receiver.url("/hook"),
                    "events": ["user.*"],
                    "retry_policy": {"max_attempts": 2, "initial_interval": 1},
                },
            )
        ).json()["data"]
        for i in range(EVENTS):
            answer = await api.post(
                "/api/v1/events", headers=headers, json={"type": "user.created", "data": {"i": i}}
            )
            assert answer.status_code == 202
        # A data.* event matches no webhook: it must not show up in the webhook's filters.
        await api.post("/api/v1/events", headers=headers, json={"type": "data.created"})

        async def all_failed():
            page = await api.get(
                "/api/v1/events", headers=headers, params={"status": "failed", "limit": 100}
            )
            return page.json() if page.json()["meta"]["total"] == EVENTS else None

        failed = await poll(all_failed)
        assert {e["type"] for e in failed["data"]} == {"user.created"}
        assert len(receiver.for_path("/hook")) == EVENTS * 2  # 2 attempts each

        by_webhook = await api.get(
            "/api/v1/events", headers=headers, params={"webhook_id": webhook["id"]}
        )
        assert by_webhook.json()["meta"]["total"] == EVENTS
        stats = (await api.get(f"/api/v1/webhooks/{webhook['id']}/stats", headers=headers)).json()
        assert stats["data"]["failed"] == EVENTS and stats["data"]["success_rate"] == 0
        assert stats["data"]["attempts_by_class"] == {"5xx": EVENTS * 2}
        assert stats["data"]["failing_since"] is not None

        # The endpoint recovers; the operator redelivers every failed delivery in one call.
        receiver.script("/hook", [Reply(200)])
        bulk = await api.post(
            "/api/v1/events/redeliver", headers=headers, json={"webhook_id": webhook["id"]}
        )
        assert bulk.status_code == 202, bulk.text  # a job: its progress at /api/v1/jobs/{id}
        job = await poll(lambda: _job_ended(api, headers, bulk.json()["data"]["id"]))
        assert (job["status"], job["scheduled"], job["deliveries"]) == ("completed", EVENTS, EVENTS)

        async def all_succeeded():
            page = await api.get(
                "/api/v1/events",
                headers=headers,
                params={"status": "succeeded", "type": "user.created"},
            )
            return page.json()["meta"]["total"] == EVENTS

        await poll(all_succeeded)
        event_id = failed["data"][0]["id"]
        detail = (await api.get(f"/api/v1/events/{event_id}", headers=headers)).json()["data"]
        [delivery] = detail["deliveries"]
        history = [
            (a["series"], a["number"], a["trigger"], a["status_code"])
            for a in delivery["attempt_history"]
        ]
        assert history == [
            (0, 1, "scheduled", 503),
            (0, 2, "scheduled", 503),
            (1, 1, "manual", 200),
        ]
        attempts = await api.get(f"/api/v1/deliveries/{delivery['id']}/attempts", headers=headers)
        assert attempts.json()["meta"]["total"] == 3
        deliveries = await api.get(
            f"/api/v1/webhooks/{webhook['id']}/deliveries",
            headers=headers,
            params={"status": "succeeded"},
        )
        assert deliveries.json()["meta"]["total"] == EVENTS
        stats = (await api.get(f"/api/v1/webhooks/{webhook['id']}/stats", headers=headers)).json()
        assert stats["data"]["success_rate"] == 1.0
        assert stats["data"]["failing_since"] is None
        assert stats["data"]["latency_ms_p50"] is not None

        # Nothing failed is left: a second bulk redeliver schedules nothing.
        again = await api.post("/api/v1/events/redeliver", headers=headers, json={})
        job = await poll(lambda: _job_ended(api, headers, again.json()["data"]["id"]))
        assert (job["total"], job["scheduled"]) == (0, 0)
        # Single-event redelivery of a named webhook still works (the receiver lost it).
        one = await api.post(
            f"/api/v1/events/{event_id}/redeliver",
            headers=headers,
            json={"webhook_ids": [webhook["id"]]},
        )
        assert one.json()["data"]["scheduled"] == 1
        unknown = await api.post(
            f"/api/v1/events/{event_id}/redeliver",
            headers=headers,
            json={"webhook_ids": ["wh_nope"]},
        )
        assert unknown.status_code == 404
        await poll(lambda: _count(receiver, EVENTS * 3 + 1))

    # Workers log one JSON line per attempt, with the ids an operator searches by: the API's
    # embedded worker (eagerly started events) and the standalone one (retries, redeliveries).
    lines = [
        line
        for name in ("worker.log", "api.log")
        for line in (stack.data_dir / name).read_text().splitlines()
    ]
    attempts = [json.loads(line) for line in lines if line.startswith("{")]
    attempts = [a for a in attempts if a.get("logger") == "hookline.delivery"]
    assert len(attempts) >= EVENTS * 3
    assert {a["delivery_id"] for a in attempts} >= {delivery["id"]}
    assert {(a["status_code"], a["outcome"]) for a in attempts} >= {
        (503, "retry"),
        (200, "success"),
    }


async def _count(receiver, expected: int) -> bool:
    return len(receiver.for_path("/hook")) >= expected


async def _job_ended(api: httpx.AsyncClient, headers: dict, job_id: str) -> dict | None:
    job = (await api.get(f"/api/v1/jobs/{job_id}", headers=headers)).json()["data"]
    return job if job["status"] != "running" else None
