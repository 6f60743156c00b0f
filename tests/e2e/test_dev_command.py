"""`hookline dev` itself: up, deliver through the API, idempotent publish, Ctrl-C stops all."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys

import httpx
from prometheus_client.parser import text_string_to_metric_families

from hookline.devserver import free_port, port_open, wait_healthy
from tests.support.ports import free_port_and_next
from tests.support.receiver import Receiver


def metric(text: str, name: str, **labels: str) -> float:
    """The sum of the matching samples in Prometheus text (0 when absent)."""
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
    )


async def test_dev_runs_the_stack_and_ctrl_c_stops_it(tmp_path):
    api_port, temporal_port, ui_port = free_port(), free_port(), free_port()
    sdk_metrics_port = free_port_and_next()  # the worker's; the API's is the next one
    worker_metrics_port = free_port()  # the worker's hookline metrics
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOOKLINE_")}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hookline.cli",
            "dev",
            "--api-port",
            str(api_port),
            "--temporal-port",
            str(temporal_port),
            "--ui-port",
            str(ui_port),
            "--data-dir",
            str(tmp_path / "data"),
            "--sdk-metrics-port",
            str(sdk_metrics_port),
            "--worker-metrics-port",
            str(worker_metrics_port),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{api_port}"
    try:
        wait_healthy(base, {"hookline dev": process})
        token = (tmp_path / "data" / "dev-token").read_text().strip()
        headers = {"Authorization": f"Bearer {token}"}
        async with Receiver() as receiver, httpx.AsyncClient(base_url=base) as api:
            assert (await api.get(f"http://127.0.0.1:{ui_port}/")).status_code == 200
            assert (await api.get("/docs")).status_code == 200
            created = await api.post(
                "/api/v1/webhooks",
                headers=headers,
                json={"url": receiver.url("/hook"), "events": ["user.*"]},
            )
            assert created.status_code == 201, created.text
            body = {"type": "user.created", "id": "signup-42", "data": {"id": "usr_1"}}
            first = await api.post("/api/v1/events", headers=headers, json=body)
            assert first.status_code == 202, first.text
            [request] = await receiver.wait_for(1, timeout=20)
            again = await api.post("/api/v1/events", headers=headers, json=body)
            assert again.status_code == 202
            assert again.json()["data"]["id"] == first.json()["data"]["id"]
            assert again.headers.get("idempotent-replayed") == "true"
            event_id = first.json()["data"]["id"]
            for _ in range(100):  # the receiver answers before the event is settled
                detail = (await api.get(f"/api/v1/events/{event_id}", headers=headers)).json()
                if detail["data"]["status"] != "executing":
                    break
                await asyncio.sleep(0.1)
            assert detail["data"]["status"] == "succeeded"
            assert detail["data"]["deliveries"][0]["attempt_history"][0]["status_code"] == 200
            assert request.headers["webhook-id"] == event_id
            await asyncio.sleep(1)  # room for a second delivery, which must not come
            assert len(receiver.requests) == 1  # published twice, delivered once

            # Observability: the event started eagerly on the API's embedded worker, the
            # store's open events are counted, and both workers export Temporal SDK metrics.
            scraped = (await api.get("/metrics")).text
            assert metric(scraped, "hookline_events_started_total") >= 1
            assert metric(scraped, "hookline_open_events", status="succeeded") == 1
            for port in (sdk_metrics_port, sdk_metrics_port + 1):
                sdk = (await api.get(f"http://127.0.0.1:{port}/metrics")).text
                assert "temporal_worker_task_slots_available" in sdk, sdk[:500]
            api_sdk = (await api.get(f"http://127.0.0.1:{sdk_metrics_port + 1}/metrics")).text
            # The API's worker ran the eagerly started workflow task and its local activity
            # (record, match and attempt 1 in one).
            executed = metric(api_sdk, "temporal_workflow_task_execution_latency_count")
            assert executed >= 1
            # A workflow task a worker ran without polling for it came with the start: eager.
            polled = metric(api_sdk, "temporal_workflow_task_queue_poll_succeed")
            assert executed - polled >= 1, (executed, polled)
            assert metric(api_sdk, "temporal_local_activity_execution_latency_count") >= 1
            # The standalone worker serves the hookline metrics too, on its own port.
            worker = await api.get(f"http://127.0.0.1:{worker_metrics_port}/metrics")
            assert "# TYPE hookline_deliveries_total counter" in worker.text, worker.text[:500]
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=60)
        print(output)  # shown by pytest when the test fails, start-up failures included
    assert process.returncode == 0, output
    assert "API token" in output and "hookline stopped" in output
    assert f"http://127.0.0.1:{worker_metrics_port}/metrics (hookline: API, worker)" in output
    for port in (api_port, temporal_port, ui_port):
        assert not port_open(port), f"port {port} still open after Ctrl-C"
