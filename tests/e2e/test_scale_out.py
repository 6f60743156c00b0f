"""Scale-out on one machine: 2 `hookline api` and 3 `hookline worker` processes, the PostgreSQL
store, one Temporal dev server. Every event reaches every webhook once by delivery id, and a
worker SIGKILLed mid-stream loses nothing (the cluster is bench/scale.py's, as
`hookline bench --scale` runs it; speed is the bench's business, not this test's)."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from bench.config import FANOUT, QUICK
from bench.scale import Cluster, ClusterBench, kill_mid_stream
from hookline.devserver import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

ONE_WEBHOOK_EVENTS = 120
FAN_OUT_EVENTS = 8  # x 10 webhooks


def _attempts(log: str) -> list[dict]:
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("logger") == "hookline.delivery"]


async def test_two_apis_three_workers_deliver_once_and_survive_a_worker_kill(tmp_path, postgres):
    # Slow answers (0.3 s) keep deliveries in flight long enough for the kill to land mid-way.
    cluster = Cluster(tmp_path, free_port(), 0, free_port(), receiver_delay=0.3)
    cluster.database_url = postgres.create_database("e2e_scale_out")
    try:
        await asyncio.to_thread(cluster.start, print)
        await asyncio.to_thread(cluster.grow, 2, 3)
        bench = ClusterBench(cluster, QUICK, print)
        try:
            await bench.warm_up()
            result = await kill_mid_stream(
                bench,
                "worker-1",
                [("user.created", ONE_WEBHOOK_EVENTS, 1), ("data.created", FAN_OUT_EVENTS, FANOUT)],
                kill_after=0.25,
                timeout=150,
            )
        finally:
            await bench.aclose()
        totals = []
        for port in cluster.api_ports:  # each API reads the one shared store
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as api:
                answer = await api.get(
                    "/api/v1/events",
                    params={"limit": 1},
                    headers={"Authorization": f"Bearer {cluster.token}"},
                )
                totals.append(answer.json()["meta"]["total"])
    finally:
        cluster.stop()
    print("\nscale-out, worker SIGKILL: " + " ".join(f"{k}={v}" for k, v in result.items()))
    expected = ONE_WEBHOOK_EVENTS + FAN_OUT_EVENTS * FANOUT
    assert result["expected"] == expected
    assert 0 < result["received_at_kill"] < expected  # the kill landed mid-stream
    assert result["complete"]
    assert result["lost"] == 0
    assert result["unique"] == expected  # once per webhook, by X-Webhook-Delivery-Id
    assert result["unexpected"] == 0
    published = ONE_WEBHOOK_EVENTS + FAN_OUT_EVENTS + 5  # and the 5 of the warm-up
    assert totals == [published, published]
    # The work was shared: every worker process delivered (the killed one before its end).
    for name in ("worker-1", "worker-2", "worker-3"):
        assert _attempts((tmp_path / f"{name}.log").read_text()), name
