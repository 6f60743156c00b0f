"""Faults on the real stack: nothing accepted is lost (figures go to docs/RELIABILITY.md)."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from tests.support.receiver import Reply
from tests.support.stack import Stack

EVENTS = 200


async def publish_many(api: httpx.AsyncClient, headers: dict, count: int, prefix: str) -> list:
    limit = asyncio.Semaphore(20)

    async def one(i: int) -> str:
        async with limit:
            answer = await api.post(
                "/api/v1/events",
                headers=headers,
                json={"type": "user.created", "id": f"{prefix}-{i}", "data": {"n": i}},
            )
            assert answer.status_code == 202, answer.text
            return answer.json()["data"]["id"]

    return await asyncio.gather(*(one(i) for i in range(count)))


async def wait_all_received(receiver, event_ids: set[str], timeout: float) -> set[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen = {r.headers.get("webhook-id") for r in receiver.requests}
        if event_ids <= seen:
            return seen
        await asyncio.sleep(0.2)
    seen = {r.headers.get("webhook-id") for r in receiver.requests}
    raise AssertionError(f"lost {len(event_ids - seen)} of {len(event_ids)} events")


def tally(receiver, event_ids: set[str]) -> dict[str, int]:
    """What the receiver got against what was published (one webhook per event): unique
    deliveries by X-Webhook-Delivery-Id, duplicates (at-least-once), and published events
    that never arrived."""
    delivery_ids = [r.headers.get("x-webhook-delivery-id") for r in receiver.requests]
    arrived = {r.headers.get("webhook-id") for r in receiver.requests}
    return {
        "published": len(event_ids),
        "received": len(set(delivery_ids)),
        "duplicates": len(delivery_ids) - len(set(delivery_ids)),
        "lost": len(event_ids - arrived),
    }


def _line(counts: dict[str, int]) -> str:
    return " ".join(f"{name}={value}" for name, value in counts.items())


async def subscribe(api, headers, receiver) -> None:
    created = await api.post(
        "/api/v1/webhooks", headers=headers, json={"url": receiver.url(), "events": ["*"]}
    )
    assert created.status_code == 201, created.text


@pytest.mark.parametrize(
    ("victim", "env"),
    [
        # The standalone worker runs everything: the API publishes without a worker of its own.
        ("worker", {"HOOKLINE_EMBEDDED_WORKER": "false"}),
        # The default: events start eagerly on the API's embedded worker, so killing the API
        # kills the workflows and first attempts in flight; the standalone worker takes over.
        ("api", {}),
    ],
)
async def test_worker_killed_mid_stream_loses_nothing(tmp_path, receiver, victim, env):
    stack = Stack(data_dir=tmp_path / "hl", extra_env=env)
    # Answers slow enough that deliveries are still in flight once all 200 are published: a
    # process sends at most 16 at a time to one origin (HOOKLINE_MAX_REQUESTS_PER_ENDPOINT),
    # so ~16 per second each, against 1-3 s to publish (with 0.05 s, 175 of the 200 had
    # arrived before the kill once the pipeline got faster).
    receiver.default(Reply(200, delay=1.0))
    try:
        stack.start()
        async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as api:
            await subscribe(api, stack.headers, receiver)
            event_ids = set(await publish_many(api, stack.headers, EVENTS, "kill"))
            for _ in range(200):  # kill while deliveries are in flight
                if len(receiver.requests) >= EVENTS // 5:
                    break
                await asyncio.sleep(0.05)
            received_at_kill = len({r.headers.get("webhook-id") for r in receiver.requests})
            stack.kill(victim)
            if victim == "worker":
                stack.start_worker()
            else:
                stack.start_api()
            await wait_all_received(receiver, event_ids, timeout=120)
    finally:
        stack.stop()
    counts = tally(receiver, event_ids)
    print(f"\n{victim} SIGKILL: received_before_kill={received_at_kill} " + _line(counts))
    assert 0 < received_at_kill < EVENTS  # the kill happened mid-stream
    assert counts["published"] == EVENTS
    assert counts["lost"] == 0
    assert counts["received"] == EVENTS  # de-duplicable by X-Webhook-Delivery-Id


async def test_temporal_restart_answers_503_then_delivers_everything(stack, receiver):
    receiver.default(Reply(200, delay=0.2))
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as api:
        await subscribe(api, stack.headers, receiver)
        event_ids = set(await publish_many(api, stack.headers, 50, "before"))
        stack.temporal.terminate()
        stack.temporal.wait(15)
        down = await api.post(
            "/api/v1/events", headers=stack.headers, json={"type": "user.created", "data": {}}
        )
        health = await api.get("/healthz")
        stack.start_temporal()  # same file-backed store, same port
        await wait_all_received(receiver, event_ids, timeout=120)
        after = await publish_many(api, stack.headers, 5, "after")
        await wait_all_received(receiver, event_ids | set(after), timeout=60)
    assert down.status_code == 503, down.text
    assert down.json()["error"]["code"] == "service_unavailable"
    assert int(down.headers["retry-after"]) > 0
    assert health.status_code == 503 and health.json()["temporal"] != "ok"
    counts = tally(receiver, event_ids | set(after))
    print("\ntemporal restart: " + _line(counts))
    assert counts["published"] == 55 and counts["lost"] == 0 and counts["received"] == 55


async def test_api_restart_loses_no_accepted_event(stack, receiver):
    # Slow answers (see the SIGKILL test above), so the restart lands while deliveries are in
    # flight: some events arrived before it, not all.
    events = 50
    receiver.default(Reply(200, delay=1.0))
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as api:
        await subscribe(api, stack.headers, receiver)
        event_ids = set(await publish_many(api, stack.headers, events, "api"))
        for _ in range(200):
            if len(receiver.requests) >= 5:
                break
            await asyncio.sleep(0.05)
        received_at_kill = len({r.headers.get("webhook-id") for r in receiver.requests})
        stack.kill("api")
        stack.start_api()
        stack.wait_api()
        await wait_all_received(receiver, event_ids, timeout=120)
        listed = await api.get("/api/v1/events?limit=100", headers=stack.headers)
    counts = tally(receiver, event_ids)
    print(f"\napi restart: received_before_kill={received_at_kill} " + _line(counts))
    assert 0 < received_at_kill < events  # the restart happened mid-stream
    assert counts["lost"] == 0 and counts["received"] == events
    assert listed.json()["meta"]["total"] == events
