"""Bulk redelivery and a webhook's replay as durable jobs (workflows/redelivery_job.py), on the
real Temporal dev server with the API's embedded worker and a real receiver: the POST answers
at once, each event is redelivered once per job, the counts add up, the same idempotency key
makes one job, cancel stops it, replay since T re-POSTs only what came after T, and a job
continues as new carrying its cursor, its history bounded."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
from temporalio.api.enums.v1 import EventType
from temporalio.testing import WorkflowEnvironment

from hookline.infra.config import Settings
from tests.api.conftest import assert_error, running
from tests.support.receiver import Receiver, Reply


@asynccontextmanager
async def live_api(
    live_settings: Settings, temporal_env: WorkflowEnvironment, **changes: Any
) -> AsyncIterator[httpx.AsyncClient]:
    async with running(live_settings.model_copy(update=changes), temporal_env.client) as c:
        yield c


async def failing_webhook(api: httpx.AsyncClient, headers: dict, receiver: Receiver) -> str:
    """A webhook whose receiver answers 503 (one attempt each: failed at once)."""
    receiver.script("/hook", [Reply(503)])
    answer = await api.post(
        "/api/v1/webhooks",
        headers=headers,
        json={
            "url": receiver.url("/hook"),
            "events": ["user.*"],
            "retry_policy": {"max_attempts": 1},
        },
    )
    assert answer.status_code == 201, answer.text
    return answer.json()["data"]["id"]


async def publish(api: httpx.AsyncClient, headers: dict, n: int, tag: str = "") -> list[str]:
    ids: list[str] = []
    for start in range(0, n, 100):
        batch = [
            {"type": "user.created", "data": {"i": i, "tag": tag}}
            for i in range(start, min(n, start + 100))
        ]
        answer = await api.post("/api/v1/events/batch", headers=headers, json={"events": batch})
        assert answer.status_code == 202, answer.text
        ids += [e["id"] for e in answer.json()["data"]]
    return ids


async def until(check, timeout: float = 90, every: float = 0.2):
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(every)


async def all_failed(api: httpx.AsyncClient, headers: dict, n: int) -> None:
    async def check() -> bool:
        page = await api.get(
            "/api/v1/events", headers=headers, params={"status": "failed", "limit": 1}
        )
        return page.json()["meta"]["total"] == n

    await until(check)


async def job_ended(api: httpx.AsyncClient, headers: dict, job_id: str) -> dict:
    async def check() -> dict | None:
        answer = await api.get(f"/api/v1/jobs/{job_id}", headers=headers)
        assert answer.status_code == 200, answer.text
        job = answer.json()["data"]
        return job if job["status"] != "running" else None

    return await until(check)


def hits(receiver: Receiver) -> Counter[str]:
    """Requests per event id."""
    return Counter(r.headers.get("webhook-id") for r in receiver.requests)


async def test_a_bulk_redelivery_is_a_job_that_redelivers_each_failed_event_once(
    live_settings, temporal_env, tenant, other_tenant, receiver
):
    events, rate = 300, 150.0
    async with live_api(live_settings, temporal_env, redelivery_job_rate=rate) as api:
        webhook = await failing_webhook(api, tenant.headers, receiver)
        ids = await publish(api, tenant.headers, events)
        await all_failed(api, tenant.headers, events)
        assert set(hits(receiver)) == set(ids)
        # An attempt may be made twice under load (at least once): the job is measured from here.
        baseline, sent = hits(receiver), len(receiver.requests)

        receiver.script("/hook", [Reply(200)])
        started = time.monotonic()
        answer = await api.post(
            "/api/v1/events/redeliver", headers=tenant.headers, json={"webhook_id": webhook}
        )
        answered = time.monotonic() - started
        assert answer.status_code == 202, answer.text
        job = answer.json()["data"]
        assert answer.headers["location"] == f"/api/v1/jobs/{job['id']}"
        assert job["status"] == "running" and job["kind"] == "redeliver"
        # At once: before the job has gone through the events (300 at 150/s take 2 s; the
        # request used to make them all before answering).
        assert len(receiver.requests) < sent + events
        assert answered < 3, answered

        # Another tenant neither sees nor cancels it.
        for call in (
            api.get(f"/api/v1/jobs/{job['id']}", headers=other_tenant.headers),
            api.post(f"/api/v1/jobs/{job['id']}/cancel", headers=other_tenant.headers),
        ):
            assert_error(await call, 404, "not_found")

        ended = await job_ended(api, tenant.headers, job["id"])
        assert ended["status"] == "completed", ended
        assert ended["total"] == events
        assert ended["processed"] == events
        assert ended["scheduled"] == events and ended["deliveries"] == events
        assert ended["skipped"] == {} and ended["failed"] == 0
        assert ended["request"]["webhook_id"] == webhook

        await until(lambda: _at_least(receiver, sent + events))
        first_redelivery = receiver.requests[sent].at
        last_redelivery = receiver.requests[-1].at
        await asyncio.sleep(1)
        assert hits(receiver) - baseline == Counter(ids)  # exactly once more each
        # At the job's rate, not at once: 300 events at 150/s take 2 s at least.
        assert last_redelivery - first_redelivery >= (events - 1) / rate * 0.9

        # Nothing failed is left: another job goes through nothing.
        again = await api.post("/api/v1/events/redeliver", headers=tenant.headers, json={})
        ended = await job_ended(api, tenant.headers, again.json()["data"]["id"])
        assert (ended["status"], ended["total"], ended["scheduled"]) == ("completed", 0, 0)


async def test_two_concurrent_identical_requests_make_one_job(
    live_settings, temporal_env, tenant, other_tenant, receiver
):
    events = 60
    async with live_api(live_settings, temporal_env) as api:
        webhook = await failing_webhook(api, tenant.headers, receiver)
        ids = await publish(api, tenant.headers, events)
        await all_failed(api, tenant.headers, events)
        baseline, sent = hits(receiver), len(receiver.requests)
        receiver.script("/hook", [Reply(200)])

        headers = {**tenant.headers, "Idempotency-Key": "recover-2025-01-01"}
        body = {"webhook_id": webhook}
        answers = await asyncio.gather(
            *(api.post("/api/v1/events/redeliver", headers=headers, json=body) for _ in range(2))
        )
        assert [a.status_code for a in answers] == [202, 202]
        first, second = (a.json()["data"]["id"] for a in answers)
        assert first == second
        ended = await job_ended(api, tenant.headers, first)
        assert ended["scheduled"] == events

        # The same key once the job has ended: the same job, not a second redelivery.
        later = await api.post("/api/v1/events/redeliver", headers=headers, json=body)
        assert later.status_code == 202
        assert later.json()["data"]["id"] == first
        assert later.json()["data"]["status"] == "completed"
        # Another tenant with the same key: its own job, which sees none of these events.
        theirs = await api.post(
            "/api/v1/events/redeliver",
            headers={**other_tenant.headers, "Idempotency-Key": "recover-2025-01-01"},
            json={},
        )
        assert theirs.json()["data"]["id"] != first
        ended = await job_ended(api, other_tenant.headers, theirs.json()["data"]["id"])
        assert (ended["total"], ended["scheduled"]) == (0, 0)

        await until(lambda: _at_least(receiver, sent + events))
        await asyncio.sleep(1)
        assert hits(receiver) - baseline == Counter(ids)


async def test_cancel_stops_the_job(live_settings, temporal_env, tenant, receiver):
    events = 150
    async with live_api(live_settings, temporal_env, redelivery_job_rate=20.0) as api:
        await failing_webhook(api, tenant.headers, receiver)
        await publish(api, tenant.headers, events)
        await all_failed(api, tenant.headers, events)
        sent = len(receiver.requests)
        receiver.script("/hook", [Reply(200)])

        answer = await api.post("/api/v1/events/redeliver", headers=tenant.headers, json={})
        job_id = answer.json()["data"]["id"]
        await until(lambda: _at_least(receiver, sent + 10))  # it is under way
        cancel = await api.post(
            f"/api/v1/jobs/{job_id}/cancel", headers=tenant.headers, json={"reason": "enough"}
        )
        assert cancel.status_code == 202, cancel.text
        ended = await job_ended(api, tenant.headers, job_id)
        assert ended["status"] == "cancelled" and ended["cancel_reason"] == "enough"
        assert 10 <= ended["scheduled"] < events, ended

        # Counts stop growing, and so do the redeliveries (after the last signalled ones land).
        await until(lambda: _at_least(receiver, sent + ended["scheduled"]))
        await asyncio.sleep(2)
        after = (await api.get(f"/api/v1/jobs/{job_id}", headers=tenant.headers)).json()["data"]
        assert after["scheduled"] == ended["scheduled"]
        # Each signalled event redelivered, no other (delivery is at least once: an attempt
        # made again after a lost workflow task is the same delivery, counted once).
        redelivered = {r.json()["id"] for r in receiver.requests[sent:]}
        assert len(redelivered) == ended["scheduled"]
        # Cancelling it again (a retried cancel) answers it as it is.
        again = await api.post(f"/api/v1/jobs/{job_id}/cancel", headers=tenant.headers)
        assert again.status_code == 202
        assert again.json()["data"]["status"] == "cancelled"

        # A job that completed has nothing left to cancel: a 409, and it stays completed.
        done = await api.post("/api/v1/events/redeliver", headers=tenant.headers, json={})
        done_id = done.json()["data"]["id"]
        assert (await job_ended(api, tenant.headers, done_id))["status"] == "completed"
        late = await api.post(f"/api/v1/jobs/{done_id}/cancel", headers=tenant.headers)
        error = assert_error(late, 409)
        assert error["details"] == {"job_id": done_id, "status": "completed"}
        still = await api.get(f"/api/v1/jobs/{done_id}", headers=tenant.headers)
        assert still.json()["data"]["status"] == "completed"


async def test_replay_since_t_reposts_every_event_since_t_and_none_before(
    live_settings, temporal_env, tenant, create_webhook, receiver
):
    async with live_api(live_settings, temporal_env) as api:
        replayed = await create_webhook(
            client=api, url=receiver.url("/hook"), retry_policy={"max_attempts": 1}
        )
        other = await create_webhook(client=api, url=receiver.url("/other"))
        receiver.script("/hook", [Reply(200)])
        before = await publish(api, tenant.headers, 5, "before")
        await until(lambda: _at_least(receiver, 10))
        await asyncio.sleep(0.05)
        since = datetime.now(UTC)
        await asyncio.sleep(0.05)
        receiver.script("/hook", [Reply(200), Reply(400)])  # one succeeds, the rest fail
        after = await publish(api, tenant.headers, 8, "after")
        await until(lambda: _at_least(receiver, 26))
        receiver.script("/hook", [Reply(200)])

        answer = await api.post(
            f"/api/v1/webhooks/{replayed['id']}/replay",
            headers=tenant.headers,
            json={"since": since.isoformat()},
        )
        assert answer.status_code == 202, answer.text
        job = answer.json()["data"]
        assert job["kind"] == "replay"
        ended = await job_ended(api, tenant.headers, job["id"])
        assert ended["status"] == "completed"
        assert (ended["total"], ended["scheduled"]) == (8, 8)
        assert ended["request"]["since"] is not None

        await until(lambda: _at_least(receiver, 26 + 8))
        await asyncio.sleep(1)
        to_hook = Counter(r.headers.get("webhook-id") for r in receiver.for_path("/hook"))
        to_other = Counter(r.headers.get("webhook-id") for r in receiver.for_path("/other"))
        assert {e: to_hook[e] for e in before} == dict.fromkeys(before, 1)
        assert {e: to_hook[e] for e in after} == dict.fromkeys(after, 2)  # failed or not
        assert to_other == Counter(dict.fromkeys(before + after, 1))  # the other one: never

        # Someone else's webhook, or a `since` in the future: refused.
        missing = await api.post(
            "/api/v1/webhooks/wh_nope/replay", headers=tenant.headers, json={"since": "2025-01-01"}
        )
        assert_error(missing, 404, "not_found")
        future = await api.post(
            f"/api/v1/webhooks/{replayed['id']}/replay",
            headers=tenant.headers,
            json={"since": "2999-01-01T00:00:00Z"},
        )
        assert_error(future, 422)
        assert other["id"] != replayed["id"]


async def test_a_job_continues_as_new_carrying_its_cursor(
    live_settings, temporal_env, tenant, receiver
):
    """3 events a batch, 2 batches a run: 20 events take 4 runs, each event signalled once;
    each run's history stays small."""
    events = 20
    async with live_api(
        live_settings,
        temporal_env,
        redelivery_job_page_size=3,
        redelivery_job_batches_per_run=2,
        redelivery_job_rate=1000.0,
    ) as api:
        await failing_webhook(api, tenant.headers, receiver)
        ids = await publish(api, tenant.headers, events)
        await all_failed(api, tenant.headers, events)
        baseline, sent = hits(receiver), len(receiver.requests)
        receiver.script("/hook", [Reply(200)])

        answer = await api.post("/api/v1/events/redeliver", headers=tenant.headers, json={})
        job_id = answer.json()["data"]["id"]
        ended = await job_ended(api, tenant.headers, job_id)
        assert ended["status"] == "completed"
        assert ended["scheduled"] == events and ended["total"] == events
        assert ended["runs"] == 4  # batches of 3: 7 batches, 2 a run

        await until(lambda: _at_least(receiver, sent + events))
        await asyncio.sleep(1)
        assert hits(receiver) - baseline == Counter(ids)

        client = temporal_env.client
        runs = [r async for r in client.list_workflows(f'WorkflowId = "{job_id}"')]
        assert len(runs) == 4
        for run in runs:
            handle = client.get_workflow_handle(job_id, run_id=run.run_id)
            history = [e async for e in handle.fetch_history_events()]
            # 2 batches: two activities each, about 12 events a batch, plus start and end.
            assert len(history) <= 40, len(history)
            kinds = {e.event_type for e in history}
            assert EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED in kinds


async def _at_least(receiver: Receiver, n: int) -> bool:
    return len(receiver.requests) >= n


async def test_a_job_request_out_of_range_is_refused_before_any_job(
    client, tenant, other_tenant, create_webhook
) -> None:
    """Refused at the request, never a job that cannot run: a `since` outside the years 1 to
    9999 in UTC (it used to start a replay whose count failed without end), a window that
    ends before it starts, another tenant's webhook or none at all (404, as on every route)."""
    webhook = await create_webhook()
    theirs = await create_webhook(headers=other_tenant.headers)
    replay = f"/api/v1/webhooks/{webhook['id']}/replay"
    for since in ("0001-01-01T00:00:00+14:00", "9999-12-31T23:00:00-05:00"):
        answer = await client.post(replay, headers=tenant.headers, json={"since": since})
        assert_error(answer, 422)
    window = {"since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"}
    for path in (replay, "/api/v1/events/redeliver"):
        assert_error(await client.post(path, headers=tenant.headers, json=window), 422)
    for webhook_id in (theirs["id"], "wh_nope", "wh_" + "x" * 5_000):
        answer = await client.post(
            "/api/v1/events/redeliver", headers=tenant.headers, json={"webhook_id": webhook_id}
        )
        assert_error(answer, 404, "not_found")
    # A type that no event can have made a job that found nothing, answered as if nothing
    # had failed: a misspelt name, a pattern, another tenant's type.
    await client.post(
        "/api/v1/event-types", headers=other_tenant.headers, json={"name": "order.paid"}
    )
    for type_, suggested in (("user.craeted", "user.created"), ("user.*", None), ("*", None)):
        answer = await client.post(
            "/api/v1/events/redeliver", headers=tenant.headers, json={"type": type_}
        )
        error = assert_error(answer, 400, "unknown_event_type")
        if suggested:
            assert suggested in error["details"]["did_you_mean"], error
    theirs_type = await client.post(
        "/api/v1/events/redeliver", headers=tenant.headers, json={"type": "order.paid"}
    )
    assert_error(theirs_type, 400, "unknown_event_type")
    # The tenant's own type passes the check, archived too (its events are kept): the job
    # then needs Temporal, which this app has not.
    await client.post("/api/v1/event-types", headers=tenant.headers, json={"name": "order.paid"})
    await client.delete("/api/v1/event-types/order.paid", headers=tenant.headers)
    for type_ in ("order.paid", "user.created"):
        answer = await client.post(
            "/api/v1/events/redeliver", headers=tenant.headers, json={"type": type_}
        )
        assert_error(answer, 503, "service_unavailable")


async def test_a_replay_counts_a_delivery_still_in_its_series_as_skipped_in_flight(
    live_settings, temporal_env, tenant, create_webhook, receiver
):
    """Its workflow would leave that delivery to the series it is in: not scheduled."""
    async with live_api(live_settings, temporal_env) as api:
        since = datetime.now(UTC)
        webhook = await create_webhook(
            client=api,
            url=receiver.url("/hook"),
            retry_policy={"max_attempts": 3, "initial_interval": 3600},  # its retry: far off
        )
        receiver.script("/hook", [Reply(200), Reply(503)])
        [done] = await publish(api, tenant.headers, 1, "a")
        await until(lambda: _at_least(receiver, 1))  # answered 200: the next one, 503
        [retrying] = await publish(api, tenant.headers, 1, "b")
        await until(lambda: _at_least(receiver, 2))

        async def status_of(event_id: str) -> str:
            event = await api.get(f"/api/v1/events/{event_id}", headers=tenant.headers)
            return event.json()["data"]["deliveries"][0]["status"]

        async def attempt_1_recorded() -> bool:
            return [await status_of(done), await status_of(retrying)] == ["succeeded", "pending"]

        await until(attempt_1_recorded)
        receiver.script("/hook", [Reply(200)])
        answer = await api.post(
            f"/api/v1/webhooks/{webhook['id']}/replay",
            headers=tenant.headers,
            json={"since": since.isoformat()},
        )
        assert answer.status_code == 202, answer.text
        ended = await job_ended(api, tenant.headers, answer.json()["data"]["id"])
        assert (ended["total"], ended["scheduled"], ended["skipped"]) == (2, 1, {"in_flight": 1})
        await until(lambda: _at_least(receiver, 3))
        await asyncio.sleep(0.5)
        assert hits(receiver) == Counter({done: 2, retrying: 1})


async def test_an_idempotency_key_names_one_request_and_its_job(
    live_settings, temporal_env, tenant, receiver
):
    """The same key with the same request answers the job it started, running or ended, as
    that job is (even once its webhook is deactivated); with another request, a 409 naming
    that job, never a 202 describing a job that does not exist."""
    async with live_api(live_settings, temporal_env, redelivery_job_rate=5.0) as api:
        webhook = await failing_webhook(api, tenant.headers, receiver)
        await publish(api, tenant.headers, 30)
        await all_failed(api, tenant.headers, 30)
        receiver.script("/hook", [Reply(200)])
        headers = {**tenant.headers, "Idempotency-Key": "replay-once"}
        path = f"/api/v1/webhooks/{webhook}/replay"
        since = "2020-01-01T00:00:00Z"
        first = await api.post(path, headers=headers, json={"since": since})
        assert first.status_code == 202, first.text
        job = first.json()["data"]["id"]
        await asyncio.sleep(1.5)  # running: some events done, most not
        # The same request, with its time written another way: the job as it is.
        again = await api.post(path, headers=headers, json={"since": "2020-01-01T00:00:00+00:00"})
        assert again.status_code == 202, again.text
        assert again.json()["data"]["id"] == job
        # Said as a publish says it; the first answer did not.
        assert again.headers["idempotent-replayed"] == "true"
        assert "idempotent-replayed" not in first.headers
        assert "replayed" not in again.json()["data"]
        assert again.json()["data"]["request"]["since"].startswith("2020-01-01T00:00:00")
        other = await api.post(
            path, headers=headers, json={"since": "2026-01-01T00:00:00Z", "until": None}
        )
        assert_error(other, 409)
        assert other.json()["error"]["details"]["job_id"] == job
        bulk = await api.post(
            "/api/v1/events/redeliver", headers=headers, json={"webhook_id": webhook}
        )
        assert bulk.status_code == 202 and bulk.json()["data"]["id"] != job  # another kind
        ended = await job_ended(api, tenant.headers, job)
        assert ended["scheduled"] + sum(ended["skipped"].values()) == 30
        # Deactivated since: the same key and request still answer that job.
        deactivated = await api.put(
            f"/api/v1/webhooks/{webhook}", headers=tenant.headers, json={"status": "inactive"}
        )
        assert deactivated.status_code == 200, deactivated.text
        retried = await api.post(path, headers=headers, json={"since": since})
        assert retried.status_code == 202, retried.text
        assert (retried.json()["data"]["id"], retried.json()["data"]["status"]) == (
            job,
            "completed",
        )
        fresh = await api.post(
            path, headers={**tenant.headers, "Idempotency-Key": "new"}, json={"since": since}
        )
        assert_error(fresh, 409)
        # Deleted since: a bulk redelivery's same key and request still answer its job; a new
        # key or another request, the 404 of a webhook that is not there.
        await job_ended(api, tenant.headers, bulk.json()["data"]["id"])
        deleted = await api.delete(f"/api/v1/webhooks/{webhook}", headers=tenant.headers)
        assert deleted.status_code in (200, 204), deleted.text
        bulk_again = await api.post(
            "/api/v1/events/redeliver", headers=headers, json={"webhook_id": webhook}
        )
        assert bulk_again.status_code == 202, bulk_again.text
        assert bulk_again.json()["data"]["id"] == bulk.json()["data"]["id"]
        assert bulk_again.headers["location"].endswith(bulk.json()["data"]["id"])
        assert bulk_again.headers["idempotent-replayed"] == "true"
        for key, body in (
            ("other", {"webhook_id": webhook}),
            ("replay-once", {"webhook_id": webhook, "type": "user.created"}),
        ):
            gone = await api.post(
                "/api/v1/events/redeliver",
                headers={**tenant.headers, "Idempotency-Key": key},
                json=body,
            )
            assert_error(gone, 404 if key == "other" else 409)
        # And a replay's: its key and request answer its job; a new key, the 404.
        replayed_again = await api.post(path, headers=headers, json={"since": since})
        assert replayed_again.status_code == 202, replayed_again.text
        assert replayed_again.json()["data"]["id"] == job
        assert replayed_again.headers["location"].endswith(job)
        for key, body in (
            ("new-again", {"since": since}),
            ("replay-once", {"since": "2021-01-01T00:00:00Z"}),
        ):
            gone = await api.post(
                path, headers={**tenant.headers, "Idempotency-Key": key}, json=body
            )
            assert_error(gone, 404 if key == "new-again" else 409)
