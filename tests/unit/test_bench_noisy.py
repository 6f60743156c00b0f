"""The bench's noisy neighbour (scenario N, bench/noisy.py), its parts without the stack: the
receiver's hanging path, the two tenants' seed, the p99 ratio and its target, the table.

No speed is ever asserted here: the figures depend on the machine."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest

from bench.noisy import event_types, only_to, task_workers, until_hanging
from bench.receiver import HANG_SECONDS, FastReceiver, hangs
from bench.render import render, table_rows, to_markdown
from bench.seed import (
    NEIGHBOUR_TYPE,
    NOISY,
    QUIET,
    neighbour_rows,
    prepare_neighbours,
    prepare_store,
)
from bench.stats import (
    NOISY_RATIO,
    check_targets,
    compute_ratios,
    latencies_by_publish,
    noisy_ratio,
    summarize,
)
from bench.tables import markdown, noisy_rows

ROOT = Path(__file__).resolve().parents[2]


async def _serve(receiver: FastReceiver) -> tuple[asyncio.Server, str]:
    server = await asyncio.start_server(receiver.handle, "127.0.0.1", 0)
    return server, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"


def test_the_hanging_path_outlasts_the_delivery_timeout() -> None:
    from hookline.core import retry

    assert HANG_SECONDS > retry.DELIVERY_TIMEOUT
    assert hangs("/noisy/hang/0")
    assert not any(hangs(p) for p in ("/quiet/0", "/b/0", "/f10/flaky/1", "/hanger"))


async def test_a_hanging_post_is_answered_late_and_never_recorded() -> None:
    receiver = FastReceiver(hang=0.5)
    server, url = await _serve(receiver)
    try:
        async with httpx.AsyncClient(base_url=url, timeout=5) as client:
            began = time.monotonic()
            hanging = asyncio.create_task(
                client.post(
                    "/noisy/hang/0", content=b"{}", headers={"X-Webhook-Delivery-Id": "dlv_1"}
                )
            )
            await asyncio.sleep(0.1)
            fast = await client.post("/quiet/0", content=b"{}")  # not held up meanwhile
            fast_at = time.monotonic() - began
            during = (await client.get("/hanging")).json()
            count_during = int((await client.get("/count")).text)
            assert (await hanging).status_code == 200
            hung_for = time.monotonic() - began
            after = (await client.get("/hanging")).json()
    finally:
        server.close()
    assert fast.status_code == 200 and fast_at < 0.5
    assert hung_for >= 0.5
    assert during == {"received": 1, "deliveries": 1, "now": 1, "most": 1}
    assert after == {"received": 1, "deliveries": 1, "now": 0, "most": 1}
    assert count_during == 1  # only the quiet POST
    assert [r[3] for r in receiver.records] == ["/quiet/0"]


async def test_the_hanging_posts_are_counted_at_once_and_released_on_stop() -> None:
    receiver = FastReceiver(hang=60)
    server, url = await _serve(receiver)
    try:
        async with httpx.AsyncClient(base_url=url, timeout=10) as client:
            posts = [  # two POSTs of one delivery (an attempt again), one of another
                asyncio.create_task(
                    client.post(
                        f"/noisy/hang/{i}",
                        content=b"{}",
                        headers={"X-Webhook-Delivery-Id": f"dlv_{min(i, 1)}"},
                    )
                )
                for i in range(3)
            ]
            for _ in range(100):
                if (await client.get("/hanging")).json()["now"] == 3:
                    break
                await asyncio.sleep(0.02)
            receiver.release()
            began = time.monotonic()
            answers = await asyncio.gather(*posts)
            released_in = time.monotonic() - began
            late = await client.post("/noisy/hang/9", content=b"{}")  # after release: at once
            counts = (await client.get("/hanging")).json()
    finally:
        server.close()
    assert [a.status_code for a in answers] == [200, 200, 200] and late.status_code == 200
    assert released_in < 5
    assert counts == {"received": 4, "deliveries": 3, "now": 0, "most": 3}
    assert receiver.records == []


def test_the_receiver_process_stops_at_once_with_posts_hanging() -> None:
    from hookline.devserver import free_port

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.receiver", "--port", str(port), "--hang", "120"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and "listening" in proc.stdout.readline()
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
            with pytest.raises(httpx.ReadTimeout):  # it hangs
                client.post("/noisy/hang/0", content=b"{}", timeout=0.5)
            assert client.get("/hanging").json()["received"] == 1
        began = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
        assert time.monotonic() - began < 5
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
        assert proc.stdout is not None
        proc.stdout.close()


async def test_until_hanging_waits_for_a_hanging_post_and_gives_up_in_time() -> None:
    receiver = FastReceiver(hang=60)
    server, url = await _serve(receiver)
    try:
        async with httpx.AsyncClient(base_url=url, timeout=5) as rx:
            bench = SimpleNamespace(rx=rx)
            began = time.monotonic()
            assert (await until_hanging(bench, timeout=0.3))["now"] == 0
            assert 0.3 <= time.monotonic() - began < 3
            post = asyncio.create_task(rx.post("/noisy/hang/0", content=b"{}"))
            counts = await until_hanging(bench, timeout=5)
            receiver.release()
            await post
    finally:
        server.close()
    assert counts["now"] == 1 and counts["received"] == 1


def test_the_neighbours_rows() -> None:
    now = datetime.now(UTC)
    noisy = neighbour_rows("ten_noisy", NOISY, "http://127.0.0.1:9", now)
    quiet = neighbour_rows("ten_quiet", QUIET, "http://127.0.0.1:9", now)
    assert [r["url"] for r in noisy] == ["http://127.0.0.1:9/noisy/hang/0"]
    assert [r["url"] for r in quiet] == ["http://127.0.0.1:9/quiet/0"]
    assert hangs("/noisy/hang/0") and not hangs("/quiet/0")
    assert noisy[0]["tenant_id"] == "ten_noisy" and quiet[0]["tenant_id"] == "ten_quiet"
    assert all(r["events"] == [NEIGHBOUR_TYPE] and r["retry_policy"] is None for r in noisy + quiet)


async def test_the_neighbours_are_tenants_of_their_own(tmp_path: Path) -> None:
    from sqlalchemy import select

    from hookline.store.engine import create_engine, session_maker
    from hookline.store.tables import Webhook

    url = f"sqlite+aiosqlite:///{tmp_path / 'bench.db'}"
    bench = await prepare_store(url, 9)
    neighbours = await prepare_neighbours(url, 9)
    engine = create_engine(url)
    try:
        async with session_maker(engine)() as session:
            hooks = (await session.scalars(select(Webhook))).all()
    finally:
        await engine.dispose()
    by_tenant: dict[str, list[str]] = {}
    for hook in hooks:
        by_tenant.setdefault(hook.tenant_id, []).append(hook.url)
    noisy, quiet = neighbours[NOISY], neighbours[QUIET]
    assert len({bench.tenant_id, noisy.tenant_id, quiet.tenant_id}) == 3
    assert len({bench.token, noisy.token, quiet.token}) == 3
    assert by_tenant[noisy.tenant_id] == [noisy.url] == ["http://127.0.0.1:9/noisy/hang/0"]
    assert by_tenant[quiet.tenant_id] == [quiet.url] == ["http://127.0.0.1:9/quiet/0"]
    assert len(by_tenant[bench.tenant_id]) == 11  # B's and C's, untouched


def _phase(name: str, latencies_ms: list[float], at: float = 1000.0) -> dict:
    sent = {f"evt_{i}": at + i * 0.1 for i in range(len(latencies_ms))}
    records = [
        [sent[f"evt_{i}"] + ms / 1000, f"evt_{i}", f"dlv_{i}", "/quiet/0"]
        for i, ms in enumerate(latencies_ms)
    ]
    cpu = {"server": 1.0, "worker": 1.0, "api": 1.0, "bench": 0.1}
    result = summarize(name, sent, records, cpu, complete=True, expected=len(sent))
    result["_raw"] = {"sent": sent, "records": records, "cpu": cpu}
    return result


def _noisy_report(alone_ms: list[float], crowded_ms: list[float]) -> dict:
    scenarios = {"N0": _phase("quiet tenant alone", alone_ms)}
    scenarios["N"] = _phase("quiet tenant, neighbour hanging", crowded_ms, at=2000.0)
    scenarios["N"]["neighbour"] = {
        "burst": 300,
        "burst_publish_s": 2.5,
        "hang_s": HANG_SECONDS,
        "hanging_at_start": {"received": 10, "deliveries": 10, "now": 10, "most": 10},
        "hanging_at_end": {"received": 20, "deliveries": 20, "now": 10, "most": 10},
        "terminated": 300,
    }
    for s in scenarios.values():
        s.pop("_raw")
    report = {
        "scenarios": scenarios,
        "rss_mb": {"server": 100.0, "worker": 100.0, "api": 100.0},
        "ratios": compute_ratios(scenarios),
    }
    report["targets"] = check_targets(scenarios, report["ratios"], report["rss_mb"])
    return report


def test_the_p99_ratio_and_its_target() -> None:
    alone = [10.0] * 99 + [20.0]
    report = _noisy_report(alone, [10.0] * 99 + [30.0])
    n0, n = report["scenarios"]["N0"], report["scenarios"]["N"]
    assert n0["max_ms"] == pytest.approx(20.0) and n["max_ms"] == pytest.approx(30.0)
    assert n["p99_ms"] / n0["p99_ms"] == pytest.approx(report["ratios"][NOISY_RATIO])
    assert report["ratios"][NOISY_RATIO] == pytest.approx(noisy_ratio(n0, n))
    assert report["ratios"][NOISY_RATIO] == pytest.approx(10.2 / 10.1)
    target = next(t for t in report["targets"] if t["target"] == NOISY_RATIO)
    assert (target["op"], target["goal"], target["met"]) == ("<=", 2.0, True)

    slow = _noisy_report([10.0] * 100, [10.0] * 90 + [25.0] * 10)
    assert slow["ratios"][NOISY_RATIO] == pytest.approx(2.5)
    assert next(t for t in slow["targets"] if t["target"] == NOISY_RATIO)["met"] is False
    assert noisy_ratio({"p99_ms": None}, {"p99_ms": 5.0}) is None
    assert noisy_ratio({"p99_ms": 5.0}, {}) is None


def test_no_noisy_target_without_scenario_n() -> None:
    assert NOISY_RATIO not in compute_ratios({"B": _phase("b", [1.0])})
    assert all(t["target"] != NOISY_RATIO for t in check_targets({}, {}, {}))
    failed = compute_ratios({"N0": _phase("alone", [1.0, 2.0])})  # N itself never ran
    assert failed[NOISY_RATIO] is None
    assert (
        next(t for t in check_targets({}, failed, {}) if t["target"] == NOISY_RATIO)["met"] is None
    )


def test_the_noisy_neighbour_table() -> None:
    report = _noisy_report([10.0] * 100, [10.0] * 98 + [40.0, 40.0])
    rows = noisy_rows(report)
    assert [r[0] for r in rows] == ["N0", "N"]
    assert rows[0][1] == "100 of 100" and rows[0][5] == "1.00" and rows[0][6] == "-"
    assert rows[1][4] == "40.0" and rows[1][5] == "4.00"
    assert rows[1][6] == "300 in 2.5 s; 10 / 10 (most 10); 20 POSTs / 20 deliveries"
    text = markdown(report)
    assert "noisy neighbour (N)" in text and "| N | 100 of 100 |" in text
    assert [r[0] for r in table_rows(report["scenarios"])] == [
        "N0 quiet tenant alone",
        "N quiet tenant, neighbour hanging",
    ]
    assert f"| {NOISY_RATIO} | <= 2 | 4.00 | **not met** |" in to_markdown(report)
    assert json.loads(json.dumps(report)) == report
    render(report)  # builds the rich renderables without error
    assert noisy_rows({"scenarios": {}}) == []


def test_only_the_quiet_tenants_deliveries() -> None:
    url = "http://127.0.0.1:9/quiet/0"
    assert only_to(url, [[1.0, "evt_1", "dlv_1", "/quiet/0"]])
    assert only_to(url, [])
    assert not only_to(url, [[1.0, "evt_1", "dlv_1", "/quiet/0"], [2.0, "e", "d", "/b/0"]])


def test_latencies_in_publish_order() -> None:
    sent = {"evt_b": 10.2, "evt_a": 10.0, "evt_c": 10.4}
    records = [
        [10.5, "evt_b", "dlv_b", "/quiet/0"],
        [10.05, "evt_a", "dlv_a", "/quiet/0"],
        [10.6, "evt_b", "dlv_b", "/quiet/0"],  # a retry: its first arrival counts
        [11.0, "evt_x", "dlv_x", "/quiet/0"],  # not published here
    ]
    assert latencies_by_publish(sent, records) == [50.0, 300.0, None]
    assert latencies_by_publish({}, records) == []


def test_the_noisy_histories_by_event_type() -> None:
    documents = [
        {
            "events": [
                {"eventType": "EVENT_TYPE_WORKFLOW_EXECUTION_STARTED"},
                {"eventType": "EVENT_TYPE_TIMER_STARTED"},
                {"eventType": "EVENT_TYPE_TIMER_STARTED"},
                {"eventType": "EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT"},
            ]
        },
        {"events": [{"eventType": "EVENT_TYPE_TIMER_STARTED"}]},
        {},
    ]
    counts = event_types(documents)
    assert counts == {
        "TIMER_STARTED": 3,
        "WORKFLOW_EXECUTION_STARTED": 1,
        "WORKFLOW_TASK_TIMED_OUT": 1,
    }
    assert next(iter(counts)) == "TIMER_STARTED"  # most first
    assert event_types([]) == {}


def test_the_workers_that_started_a_histories_workflow_tasks() -> None:
    def started(identity: str) -> dict:
        return {
            "eventType": "EVENT_TYPE_WORKFLOW_TASK_STARTED",
            "workflowTaskStartedEventAttributes": {"identity": identity},
        }

    api, worker = started("100@vm"), started("200@vm")
    assert task_workers({"events": [api, {"eventType": "EVENT_TYPE_TIMER_STARTED"}, api]}) == 1
    assert task_workers({"events": [api, worker, api]}) == 2
    assert task_workers({"events": []}) == 0
