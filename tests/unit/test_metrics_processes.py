"""The hookline metrics across processes (infra/metrics.py): prometheus-client's multiprocess
mode, the directory `hookline api --processes N` gives it, the worker's metrics address."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from hookline.infra import metrics
from hookline.infra.config import Settings, split_address
from hookline.serve import metrics_dir

# One process's deliveries, as an activity records them; its own interpreter, as a uvicorn
# worker process is (the directory is in its environment before prometheus_client loads).
CHILD = """
import sys
from hookline.serve import metrics_dir
from hookline.infra import metrics
for _ in range(int(sys.argv[1])):
    metrics.record_attempt("success", 200, 0.01)
metrics.record_attempt("retry", 503, 0.02)
metrics.event_published("user.created")
metrics.set_open_events({"succeeded": int(sys.argv[1])})
"""


def samples(text: str) -> dict[tuple[str, tuple], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_every_process_counts_into_one_exposition(tmp_path: Path, monkeypatch) -> None:
    env = os.environ | {metrics.MULTIPROC_DIR: str(tmp_path)}
    for n in (3, 4):
        subprocess.run([sys.executable, "-c", CHILD, str(n)], env=env, check=True, timeout=60)
    assert len(list(tmp_path.glob("counter_*.db"))) == 2  # one file per process

    monkeypatch.setenv(metrics.MULTIPROC_DIR, str(tmp_path))
    assert metrics.multiprocess()
    body, content_type = metrics.exposition("")
    assert content_type.startswith("text/plain")
    seen = samples(body.decode())
    success = ("hookline_deliveries_total", (("outcome", "success"), ("status_class", "2xx")))
    assert seen[success] == 7
    assert seen[("hookline_retries_total", ())] == 2
    assert seen[("hookline_attempt_duration_seconds_count", ())] == 9
    assert seen[("hookline_events_published_total", (("type", "user.created"),))] == 2
    # The gauge is the store's count, not a sum: the latest one written, without a pid label.
    assert seen[("hookline_open_events", (("status", "succeeded"),))] == 4


def test_without_the_directory_the_process_serves_its_own_registry(monkeypatch) -> None:
    monkeypatch.delenv(metrics.MULTIPROC_DIR, raising=False)
    assert not metrics.multiprocess()
    body, _ = metrics.exposition("")
    assert b"hookline_deliveries_total" in body
    assert b"python_info" in body  # the default registry's own collectors


def test_several_api_processes_get_a_fresh_directory_removed_at_the_end(monkeypatch) -> None:
    monkeypatch.delenv(metrics.MULTIPROC_DIR, raising=False)
    with metrics_dir(1) as none:
        assert none is None and metrics.MULTIPROC_DIR not in os.environ
    with metrics_dir(2) as path:
        assert os.environ[metrics.MULTIPROC_DIR] == str(path)
        assert path.is_dir() and not any(path.iterdir())
        (path / "counter_1.db").write_bytes(b"")
    assert not path.exists()
    assert metrics.MULTIPROC_DIR not in os.environ


@pytest.mark.parametrize("processes", [1, 2])
def test_a_given_directory_is_made_and_kept(tmp_path: Path, monkeypatch, processes) -> None:
    given = tmp_path / "prom"
    monkeypatch.setenv(metrics.MULTIPROC_DIR, str(given))
    with metrics_dir(processes) as path:
        assert path == given and path.is_dir()
        (path / "counter_1.db").write_bytes(b"")
    assert (given / "counter_1.db").exists()
    assert os.environ[metrics.MULTIPROC_DIR] == str(given)


def test_metrics_server_serves_the_registry_and_names_a_taken_port() -> None:
    server = metrics.MetricsServer("127.0.0.1:0")
    try:
        assert server.url == f"http://127.0.0.1:{server.port}/metrics"
        answer = httpx.get(server.url, timeout=5)
        assert answer.status_code == 200
        assert "hookline_deliveries_total" in answer.text
        with pytest.raises(metrics.MetricsServerError, match=f"127.0.0.1:{server.port}: "):
            metrics.MetricsServer(f"127.0.0.1:{server.port}")
    finally:
        server.close()


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("127.0.0.1:9466", ("127.0.0.1", 9466)),
        ("0.0.0.0:1", ("0.0.0.0", 1)),
        ("[::1]:80", ("::1", 80)),
    ],
)
def test_split_address(address: str, expected: tuple[str, int]) -> None:
    assert split_address(address) == expected


@pytest.mark.parametrize("address", ["9466", ":9466", "host:", "host:port", "host:70000"])
def test_a_bad_metrics_address_fails_at_start(address: str) -> None:
    with pytest.raises(ValueError, match="host:port"):
        Settings(metrics_address=address)
    assert Settings(metrics_address="").metrics_address is None  # compose's ${VAR:-}
