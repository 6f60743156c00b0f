"""A Temporal that accepts connections but does not answer (hung, overloaded, a black-holed
route) makes a publish a 503 to retry within the API's call timeout, never a request left
hanging; once it answers again, the retry delivers the event once."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import httpx
import pytest
from temporalio.client import WorkflowExecutionStatus

from hookline.api import publish as publishing
from hookline.core.ids import tenant_scoped_event_id
from hookline.infra import fair_starts
from tests.api.conftest import assert_error
from tests.support.frozen_proxy import FreezableRelay

# Without the call timeout, both cases answered after about 30 s (the SDK's own deadlines):
# the client's wait here is several times the timeout set below, so only a bounded call
# answers in it. (The test client calls the app in process: httpx's timeouts do not apply.)
CLIENT_WAIT = 15.0


@pytest.fixture(autouse=True)
def short_call_timeout(monkeypatch) -> None:
    monkeypatch.setattr(publishing, "CALL_TIMEOUT_SECONDS", 2.0)


async def test_a_silent_server_is_a_503_and_records_nothing(api, tenant) -> None:
    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await reader.read(65536):
            pass
        writer.close()

    silent = await asyncio.start_server(swallow, "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    try:
        async with api(temporal_address=f"127.0.0.1:{port}") as client:
            async with asyncio.timeout(CLIENT_WAIT):
                answer = await client.post(
                    "/api/v1/events",
                    headers=tenant.headers,
                    json={"type": "user.created", "id": "silent-1"},
                )
            listed = await client.get("/api/v1/events", headers=tenant.headers)
    finally:
        silent.close()
    error = assert_error(answer, 503, "service_unavailable")
    assert "no answer within 2 s" in error["details"]["reason"]
    assert int(answer.headers["retry-after"]) > 0
    assert listed.json()["data"] == []  # the 503 left no event behind


async def test_a_frozen_server_is_a_503_and_the_retry_starts_the_event_once(
    api, tenant, temporal_env, live_settings
) -> None:
    target = temporal_env.client.service_client.config.target_host
    host, port = target.rsplit(":", 1)
    async with FreezableRelay(host, int(port)) as relay:
        async with api(
            temporal_address=f"127.0.0.1:{relay.port}", task_queue=live_settings.task_queue
        ) as client:
            body = {"type": "user.created", "id": "frozen-1"}
            first = await client.post("/api/v1/events", headers=tenant.headers, json=body)
            assert first.status_code == 202, first.text

            relay.freeze()
            body = {"type": "user.created", "id": "frozen-2"}
            async with asyncio.timeout(CLIENT_WAIT):
                cut = await client.post("/api/v1/events", headers=tenant.headers, json=body)
            error = assert_error(cut, 503, "service_unavailable")
            assert "no answer" in error["details"]["reason"]
            # It says the event may land, which one, and how to retry it into one event.
            assert "may still have been accepted" in error["message"]
            assert "'frozen-2'" in error["message"]

            relay.thaw()  # the start held in the relay may land now: the retry joins it
            retried = await client.post("/api/v1/events", headers=tenant.headers, json=body)
            assert retried.status_code == 202, retried.text
            event_id = retried.json()["data"]["id"]
            again = await client.post("/api/v1/events", headers=tenant.headers, json=body)
            assert again.json()["data"]["id"] == event_id
            assert again.headers.get("idempotent-replayed") == "true"
            assert error["details"]["event_id"] == event_id

    runs = [run async for run in temporal_env.client.list_workflows(f"WorkflowId = '{event_id}'")]
    assert [run.status for run in runs] == [WorkflowExecutionStatus.RUNNING]
    await temporal_env.client.get_workflow_handle(event_id).terminate("test over")


async def test_a_start_that_gets_no_turn_is_a_busy_503_never_sent(
    api, tenant, temporal_env, live_settings, monkeypatch
) -> None:
    """One start in flight per process here, its answer held: the next publish waits for its
    turn, gets none in time and is a 503 `busy` that says it was not accepted, and it was not
    (no row, no workflow); once the server answers, the retry is delivered."""
    monkeypatch.setattr(fair_starts, "TURN_WAIT", 0.5)
    async with _one_start_at_a_time(api, tenant, temporal_env, live_settings) as (client, relay):
        held = asyncio.create_task(
            client.post(
                "/api/v1/events",
                headers=tenant.headers,
                json={"type": "user.created", "id": "held-1"},
            )
        )
        await asyncio.sleep(0.2)  # its start is in flight, unanswered
        body = {"type": "user.created", "id": "busy-1"}
        async with asyncio.timeout(CLIENT_WAIT):
            busy = await client.post("/api/v1/events", headers=tenant.headers, json=body)
        error = assert_error(busy, 503, "busy")
        assert "not accepted" in error["message"]
        assert int(busy.headers["retry-after"]) > 0
        relay.thaw()
        await held
        event_id = error["details"]["event_id"]
        found = await client.get(f"/api/v1/events/{event_id}", headers=tenant.headers)
        assert found.status_code == 404
        retried = await client.post("/api/v1/events", headers=tenant.headers, json=body)
        assert retried.status_code == 202, retried.text
        assert retried.headers.get("idempotent-replayed") is None  # a first publish
        assert retried.json()["data"]["id"] == event_id
    runs = [run async for run in temporal_env.client.list_workflows(f"WorkflowId = '{event_id}'")]
    assert len(runs) == 1
    await temporal_env.client.get_workflow_handle(event_id).terminate("test over")


async def test_the_wait_for_a_turn_is_not_counted_as_temporals_silence(
    api, tenant, temporal_env, live_settings
) -> None:
    """One start in flight per process, unanswered until its 2 s run out; the next publish,
    queued meanwhile, has its own 2 s from its turn: the server answering 0.5 s into them,
    it is accepted (counted from its request, its time had run out)."""
    async with _one_start_at_a_time(api, tenant, temporal_env, live_settings) as (client, relay):

        def publish(key: str) -> asyncio.Task:
            body = {"type": "user.created", "id": key}
            return asyncio.create_task(
                client.post("/api/v1/events", headers=tenant.headers, json=body)
            )

        unanswered = publish("turn-1")
        await asyncio.sleep(0.2)
        queued = publish("turn-2")
        assert_error(await unanswered, 503, "service_unavailable")  # at 2 s
        await asyncio.sleep(0.5)
        relay.thaw()
        answered = await queued
        assert answered.status_code == 202, answered.text
    for key in ("turn-1", "turn-2"):
        async for run in temporal_env.client.list_workflows(
            f"WorkflowId = '{tenant_scoped_event_id(tenant.tenant_id, key)}'"
        ):
            await temporal_env.client.get_workflow_handle(run.id).terminate("test over")


async def test_a_batch_partly_started_says_which_events_were_accepted(
    api, tenant, temporal_env, live_settings, monkeypatch
) -> None:
    """A batch of 3 events without ids, one start at a time: the first start is sent (its
    answer held 1 s), the others get no turn in time. The 503 waits for every start and
    names the accepted event and the two not accepted, which alone are then published again:
    3 events in all, none twice."""
    monkeypatch.setattr(fair_starts, "TURN_WAIT", 0.5)
    batch = [{"type": "user.created", "data": {"n": n}} for n in range(3)]
    async with _one_start_at_a_time(api, tenant, temporal_env, live_settings) as (client, relay):
        answer = asyncio.create_task(
            client.post("/api/v1/events/batch", headers=tenant.headers, json={"events": batch})
        )
        await asyncio.sleep(1)
        relay.thaw()
        error = assert_error(await answer, 503, "busy")
        accepted, refused = error["details"]["accepted"], error["details"]["not_accepted"]
        assert len(accepted) == 1 and [r["code"] for r in refused] == ["busy", "busy"]
        assert sorted([accepted[0]["index"], *(r["index"] for r in refused)]) == [0, 1, 2]
        again = [batch[r["index"]] for r in refused]
        retried = await client.post(
            "/api/v1/events/batch", headers=tenant.headers, json={"events": again}
        )
        assert retried.status_code == 202, retried.text
        listed = await client.get("/api/v1/events?limit=10", headers=tenant.headers)
        ids = [event["id"] for event in listed.json()["data"]]
        details = [
            (await client.get(f"/api/v1/events/{id_}", headers=tenant.headers)).json()["data"]
            for id_ in ids
        ]
    assert sorted(d["data"]["n"] for d in details if d["data"]) == [0, 1, 2]
    for id_ in ids:
        await temporal_env.client.get_workflow_handle(id_).terminate("test over")


@contextlib.asynccontextmanager
async def _one_start_at_a_time(
    api, tenant, temporal_env, live_settings
) -> AsyncIterator[tuple[httpx.AsyncClient, FreezableRelay]]:
    """An API whose process starts one workflow at a time, through a relay to the server:
    one event published through it, then the relay frozen (no answer until thawed)."""
    target = temporal_env.client.service_client.config.target_host
    host, port = target.rsplit(":", 1)
    async with FreezableRelay(host, int(port)) as relay:
        async with api(
            temporal_address=f"127.0.0.1:{relay.port}",
            task_queue=live_settings.task_queue,
            max_starts_in_flight=1,
        ) as client:
            warm = await client.post(
                "/api/v1/events", headers=tenant.headers, json={"type": "user.created"}
            )
            assert warm.status_code == 202, warm.text
            relay.freeze()
            yield client, relay
