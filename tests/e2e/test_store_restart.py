"""The store (PostgreSQL) restarts mid-stream: activities retry, history is complete after."""

from __future__ import annotations

import asyncio

import httpx

from tests.e2e.test_faults import publish_many, subscribe, wait_all_received
from tests.support.receiver import Reply
from tests.support.stack import Stack


async def test_postgres_restart_mid_stream(tmp_path, postgres, receiver):
    url = postgres.create_database("e2e_restart")
    stack = Stack(data_dir=tmp_path / "hl", extra_env={"HOOKLINE_DATABASE_URL": url})
    stack.start()
    try:
        receiver.default(Reply(200, delay=0.05))
        async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as api:
            await subscribe(api, stack.headers, receiver)
            event_ids = set(await publish_many(api, stack.headers, 40, "pg"))
            await postgres.arestart(downtime=3)
            await wait_all_received(receiver, event_ids, timeout=120)
            complete = 0
            for _ in range(300):  # the records may trail the deliveries by a retry
                complete = 0
                for event_id in event_ids:
                    answer = await api.get(f"/api/v1/events/{event_id}", headers=stack.headers)
                    data = answer.json().get("data") or {}
                    attempts = [a for d in data.get("deliveries", []) for a in d["attempt_history"]]
                    complete += data.get("status") == "succeeded" and bool(attempts)
                if complete == len(event_ids):
                    break
                await asyncio.sleep(0.5)
        print(f"\npostgres restart: sent=40 received={len(event_ids)} complete_history={complete}")
        assert complete == len(event_ids)
    finally:
        stack.stop()
