"""The hookline metrics from every process that delivers, scraped over HTTP on 127.0.0.1:

- a standalone `hookline worker` (where retries run) on its own port (HOOKLINE_METRICS_ADDRESS),
  with an API whose embedded worker is off, so every attempt is the worker's;
- `hookline api --processes 2`: each process answers /metrics with the counts of both
  (prometheus-client's multiprocess mode)."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from hookline.devserver import free_port, stop_process
from tests.support.receiver import Reply
from tests.support.stack import Stack

pytestmark = pytest.mark.e2e

SUCCESS = {"outcome": "success", "status_class": "2xx"}


def metric(text: str, name: str, **labels: str) -> float:
    """The sum of the matching samples in Prometheus text (0 when absent)."""
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
    )


async def until(check, timeout: float = 60):
    for _ in range(int(timeout * 5)):
        result = await check()
        if result:
            return result
        await asyncio.sleep(0.2)
    raise AssertionError("condition not reached")


async def test_a_standalone_worker_serves_its_delivery_metrics(tmp_path: Path, receiver):
    metrics_port = free_port()
    worker_metrics = f"http://127.0.0.1:{metrics_port}/metrics"
    stack = Stack(
        data_dir=tmp_path / "hl",
        extra_env={
            "HOOKLINE_EMBEDDED_WORKER": "false",  # every workflow task and attempt: the worker's
            "HOOKLINE_METRICS_ADDRESS": f"127.0.0.1:{metrics_port}",  # the API ignores it
        },
    )
    try:
        stack.start()
        receiver.script("/w", [Reply(503), Reply(200)])  # attempt 1 fails, the retry succeeds
        async with httpx.AsyncClient(
            base_url=stack.base_url, headers=stack.headers, timeout=30
        ) as api:
            answer = await api.post(
                "/api/v1/webhooks", json={"url": receiver.url("/w"), "events": ["user.*"]}
            )
            assert answer.status_code == 201, answer.text
            answer = await api.post("/api/v1/events", json={"type": "user.created", "data": {}})
            assert answer.status_code == 202, answer.text
            await receiver.wait_for(2, path="/w", timeout=60)

            async def recorded() -> str | None:  # the attempt is counted once it is recorded
                text = (await api.get(worker_metrics)).text
                return text if metric(text, "hookline_deliveries_total", **SUCCESS) >= 1 else None

            scraped = await until(recorded)
            assert metric(scraped, "hookline_deliveries_total", **SUCCESS) == 1
            retried = {"outcome": "retry", "status_class": "5xx"}
            assert metric(scraped, "hookline_deliveries_total", **retried) == 1
            assert metric(scraped, "hookline_retries_total") == 1
            assert metric(scraped, "hookline_attempt_duration_seconds_count") == 2
            # The API published the event and delivered nothing: the split the scrape shows.
            api_scraped = (await api.get("/metrics")).text
            assert metric(api_scraped, "hookline_events_published_total", type="user.created") == 1
            assert metric(api_scraped, "hookline_deliveries_total") == 0

        # A second worker told the same port stops at start, in one line.
        second = subprocess.run(
            [
                sys.executable,
                "-m",
                "hookline.cli",
                "worker",
                "--metrics-address",
                stack.env["HOOKLINE_METRICS_ADDRESS"],
            ],
            env=stack.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode == 1, second.stderr
        [line] = second.stderr.splitlines()
        assert line.startswith(f"hookline worker: cannot serve metrics on 127.0.0.1:{metrics_port}")
    finally:
        stack.stop()


def per_process(prom_dir: Path) -> dict[str, float]:
    """Successful deliveries by the process that made them: each process's counter file read
    alone (prometheus-client's collector over a directory holding only that file)."""
    counts = {}
    for path in prom_dir.glob("counter_*.db"):
        with tempfile.TemporaryDirectory() as alone:
            shutil.copy(path, Path(alone) / path.name)
            registry = CollectorRegistry()
            MultiProcessCollector(registry, path=alone)
            text = generate_latest(registry).decode()
        counts[path.stem] = metric(text, "hookline_deliveries_total", **SUCCESS)
    return counts


async def test_api_processes_each_answer_with_the_counts_of_all(tmp_path: Path, receiver):
    prom_dir = tmp_path / "prom"  # given, so the test can read it (else a temporary one)
    stack = Stack(data_dir=tmp_path / "hl", extra_env={"PROMETHEUS_MULTIPROC_DIR": str(prom_dir)})
    stack.data_dir.mkdir(parents=True)
    stack.migrate()
    stack.start_temporal()
    api = stack._hookline("api", "--port", str(stack.api_port), "--processes", "2")
    try:
        stack.wait_api()

        async def fresh(method: str, path: str, **kwargs) -> httpx.Response:
            # A connection per request: the kernel hands each to either process.
            async with httpx.AsyncClient(
                base_url=stack.base_url, headers=stack.headers, timeout=30
            ) as client:
                return await client.request(method, path, **kwargs)

        answer = await fresh(
            "POST", "/api/v1/webhooks", json={"url": receiver.url("/p"), "events": ["user.*"]}
        )
        assert answer.status_code == 201, answer.text
        published = 0
        # Batches of concurrent publishes until both processes have delivered some: each
        # delivers the events it accepted, on its embedded worker.
        for _ in range(10):
            answers = await asyncio.gather(
                *(
                    fresh("POST", "/api/v1/events", json={"type": "user.created", "data": {}})
                    for _ in range(10)
                )
            )
            assert all(a.status_code == 202 for a in answers)
            published += len(answers)
            await receiver.wait_for(published, path="/p", timeout=60)

            async def settled(expected: int = published) -> bool:
                return sum(per_process(prom_dir).values()) == expected

            await until(settled)
            if sum(n > 0 for n in per_process(prom_dir).values()) >= 2:
                break
        by_process = per_process(prom_dir)
        assert sum(n > 0 for n in by_process.values()) >= 2, by_process

        for _ in range(8):  # whichever process answers, it answers with the total
            scraped = (await fresh("GET", "/metrics")).text
            assert metric(scraped, "hookline_deliveries_total", **SUCCESS) == published
            assert (
                metric(scraped, "hookline_events_published_total", type="user.created") == published
            )
            assert metric(scraped, "hookline_attempt_duration_seconds_count") == published
            assert "pid=" not in scraped
    finally:
        stop_process(api)
        stack.stop()
