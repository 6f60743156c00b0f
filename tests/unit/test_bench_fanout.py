"""The bench's fan-out to many webhooks (`hookline bench --fanout`), its pure parts: the flag,
one event's figures and its passes pooled, the F/C ratio and target, a large event's actions
with its chunk workflows', the cost and fan-out tables, the seed's rows.

No speed is ever asserted here: the figures depend on the machine."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import httpx
import pytest

from bench import actions
from bench.config import fanout_key, fanout_timeout, parse_fanout
from bench.costs import fanout_keys, per_delivery_rows, rows
from bench.fanout_failures import failing_counts
from bench.procs import parse_status_mb
from bench.receiver import FastReceiver, distinct
from bench.render import to_markdown
from bench.seed import webhook_rows
from bench.stats import check_targets, compute_ratios, fanout_summary, pool_fanout
from bench.tables import fanout_rows, markdown


def test_the_fanout_flag() -> None:
    assert parse_fanout("1000,10000") == (1000, 10000)
    assert parse_fanout(" 10_000 , 1000,") == (10000, 1000)
    for bad in ("", "0", "1000,1000", "ten", "-5"):
        with pytest.raises(ValueError):
            parse_fanout(bad)
    assert [fanout_key(n) for n in (1000, 10000, 2500, 7)] == ["F1k", "F10k", "F2500", "F7"]
    assert fanout_timeout(10000) > fanout_timeout(1000) >= 60


def _fanout_pass(n: int, seconds: float, at: float = 1000.0, event: str = "evt_f") -> dict:
    records = [
        [at + seconds * (i + 1) / n, event, f"dlv_{event}_{i}", f"/f{n}/{i}"] for i in range(n)
    ]
    records.append([at + 0.5, "evt_other", "dlv_other", "/b/0"])  # not this event's: ignored
    cpu = {"server": 2.0, "worker": 4.0, "api": 1.0, "bench": 0.1}
    result = fanout_summary(
        f"1 event to {n} webhooks",
        n,
        event,
        at,
        records,
        cpu,
        complete=True,
        rss_before={"server": 300.0, "worker": 150.0, "api": 200.0},
        rss_peak={"server": 320.0, "worker": 180.0, "api": 210.0},
    )
    mine = [r for r in records if r[1] == event]  # as Bench.fanout keeps them
    result["_raw"] = {"sent": {event: at}, "records": mine, "cpu": cpu}
    return result


def test_one_event_to_many_webhooks() -> None:
    f = _fanout_pass(1000, 4.0)
    assert f["events"] == 1 and f["deliveries"] == 1000 and f["distinct_deliveries"] == 1000
    assert f["duplicates"] == 0 and f["complete"]
    assert f["seconds"] == pytest.approx(4.0)
    assert f["deliveries_per_s"] == pytest.approx(250.0)
    assert f["first_delivery_s"] == pytest.approx(0.004)
    assert f["last_delivery_s"] == pytest.approx(4.0)
    assert f["p50_ms"] == pytest.approx(4.0)  # one event: its first delivery
    assert f["cpu_ms_per_delivery"]["worker"] == pytest.approx(4.0)
    assert f["rss_peak_mb"]["worker"] == 180.0


def test_a_delivery_counts_once_at_its_first_arrival() -> None:
    # dlv_1 timed out at the sender and was retried: its second arrival is a duplicate, and
    # the rate runs to the last FIRST arrival (dlv_2 at 2.0 s), not to the duplicate's.
    records = [[1.0, "evt_f", "dlv_1", "/f3/0"], [2.0, "evt_f", "dlv_2", "/f3/1"]]
    records.append([4.0, "evt_f", "dlv_1", "/f3/0"])
    f = fanout_summary("f", 3, "evt_f", 0.0, records, {}, complete=True, rss_before={}, rss_peak={})
    assert (f["distinct_deliveries"], f["duplicates"], f["complete"]) == (2, 1, False)
    assert f["deliveries"] == 2 and f["last_delivery_s"] == pytest.approx(2.0)
    assert f["deliveries_per_s"] == pytest.approx(1.0)
    records.append([3.0, "evt_f", "dlv_3", "/f3/2"])
    f = fanout_summary("f", 3, "evt_f", 0.0, records, {}, complete=True, rss_before={}, rss_peak={})
    assert f["complete"] and f["deliveries_per_s"] == pytest.approx(1.0)
    empty = fanout_summary("f", 3, "evt_f", 0.0, [], {}, complete=False, rss_before={}, rss_peak={})
    assert empty["deliveries_per_s"] is None and empty["last_delivery_s"] is None


def test_passes_pooled() -> None:
    one = _fanout_pass(1000, 4.0, event="evt_1")
    two = _fanout_pass(1000, 6.0, at=2000.0, event="evt_2")
    two["rss_peak_mb"] = {"server": 310.0, "worker": 190.0, "api": None}
    pooled = pool_fanout("1 event to 1,000 webhooks", [one, two])
    assert pooled["events"] == 2 and pooled["distinct_deliveries"] == 2000
    assert pooled["seconds"] == pytest.approx(10.0)
    assert pooled["deliveries_per_s"] == pytest.approx(200.0)
    assert pooled["last_delivery_s"] == pytest.approx(5.0)  # the passes' mean
    assert pooled["rss_peak_mb"] == {"server": 320.0, "worker": 190.0, "api": 210.0}
    assert [p["deliveries_per_s"] for p in pooled["passes"]] == pytest.approx([250.0, 1000 / 6])
    assert pooled["cpu_ms_per_delivery"]["worker"] == pytest.approx(4.0)


def test_the_ratio_to_c_and_its_target() -> None:
    scenarios = {
        "B": {"events_per_s": 100.0, "deliveries_per_s": 100.0},
        "C": {"events_per_s": 50.0, "deliveries_per_s": 500.0},
        "F1k": {"deliveries_per_s": 400.0},
        "F10k": {"deliveries_per_s": 600.0},
    }
    ratios = compute_ratios(scenarios)
    assert ratios["F1k/C"] == pytest.approx(0.8)
    assert ratios["F10k/C"] == pytest.approx(1.2)
    targets = {t["target"]: t for t in check_targets(scenarios, ratios, {})}
    assert targets["F10k/C"]["met"] is True and targets["F10k/C"]["goal"] == 1.0
    assert "F1k/C" not in targets
    # Without --fanout: no F ratio, no F target.
    plain = compute_ratios({k: scenarios[k] for k in ("B", "C")})
    assert not any(k.startswith("F") for k in plain)
    assert "F10k/C" not in {t["target"] for t in check_targets({}, plain, {})}


def _initiated(workflow_id: str) -> dict:
    return {
        "eventType": "EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED",
        "startChildWorkflowExecutionInitiatedEventAttributes": {"workflowId": workflow_id},
    }


def _closed() -> dict:
    return {"eventType": "EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_COMPLETED"}


def test_a_large_event_s_children() -> None:
    history = {
        "events": [
            {"eventType": "EVENT_TYPE_WORKFLOW_EXECUTION_STARTED"},
            _initiated("evt_1-s0-c0"),
            _initiated("evt_1-s0-c1"),
            _closed(),
        ]
    }
    assert actions.child_workflow_ids(history) == ["evt_1-s0-c0", "evt_1-s0-c1"]
    assert actions.children_open(history) == 1
    history["events"].append(_closed())
    assert actions.children_open(history) == 0
    assert actions.child_workflow_ids({"events": []}) == []
    counts = actions.count_actions(history)
    assert counts["child workflows"] == 4  # 2 per child, its start included


def test_with_children_counts_a_child_start_once() -> None:
    parent = dict.fromkeys(actions.KINDS, 0) | {
        "workflow start": 1,
        "local activities": 2,
        "timers": 1,
        "child workflows": 4,
    }
    chunk = dict.fromkeys(actions.KINDS, 0) | {
        "workflow start": 1,
        "local activities": 2,
        "search-attribute upserts": 1,
    }
    total = actions.with_children(parent, [chunk, chunk])
    assert total["workflow start"] == 1  # the chunks' starts are in "child workflows"
    assert total["child workflows"] == 4
    assert total["local activities"] == 6
    assert total["search-attribute upserts"] == 2
    assert actions.total(total) == 8 + 2 * 3
    assert actions.with_children(parent, []) == parent


def _costs() -> dict:
    return {
        "price_per_million_actions": 50.0,
        "B": {"history_events": 9, "history_bytes": 2500, "actions_per_delivery": 4.0},
        "C": {
            "webhooks": 10,
            "actions_per_event": 4,
            "actions_per_event_to_expiry": 4,
            "actions_per_delivery_to_expiry": 0.4,
            "actions_per_delivery": 0.4,
            "by_kind": {"workflow start": 1},
            "history_events": 9,
            "history_bytes": 6700,
        },
        "expiry": {"actions": 0, "by_kind": {}},
        "B to expiry": {
            "webhooks": 1,
            "actions_per_event": 4,
            "actions_per_delivery_to_expiry": 4.0,
            "by_kind": {"workflow start": 1},
        },
        "F10k": {
            "webhooks": 10000,
            "workflows_per_event": 21,
            "actions_per_event": 105,
            "actions_per_event_to_expiry": 105,
            "actions_per_delivery_to_expiry": 0.0105,
            "actions_per_delivery": 0.0105,
            "by_kind": {"workflow start": 1, "child workflows": 40},
            "history_events": 300,
            "history_bytes": 90000,
        },
        "F1k": {
            "webhooks": 1000,
            "workflows_per_event": 3,
            "actions_per_event": 15,
            "actions_per_event_to_expiry": 15,
            "actions_per_delivery_to_expiry": 0.015,
            "actions_per_delivery": 0.015,
            "by_kind": {"workflow start": 1, "child workflows": 4},
            "history_events": 40,
            "history_bytes": 9000,
        },
    }


def test_the_cost_tables_with_fanout() -> None:
    costs = _costs()
    assert fanout_keys(costs) == ["F1k", "F10k"]
    per_delivery = per_delivery_rows(costs)
    assert [row[0] for row in per_delivery] == ["1 (B)", "10 (C)", "1,000 (F1k)", "10,000 (F10k)"]
    assert per_delivery[3] == ["10,000 (F10k)", "21", "105", "0.0105", "$0.53"]
    labels = [row[0] for row in rows(costs)]
    assert "F10k: one event to 10,000 webhooks, with its 20 chunk workflows (to expiry)" in labels
    text = markdown({"costs": costs})
    assert "actions per delivery by webhooks per event" in text
    assert "| F10k | 300.0 | 90,000 | 0.0105 |" in text
    assert "| 10 (C) | 1 | 4 | 0.4 | $20.00 |" in text  # C: one workflow per event
    # Without --fanout the per-delivery table is left out.
    plain = {k: v for k, v in costs.items() if not k.startswith("F")}
    assert "actions per delivery by webhooks per event" not in markdown({"costs": plain})


def test_the_fanout_table() -> None:
    one = _fanout_pass(10000, 20.0, event="evt_1")
    pooled = pool_fanout("1 event to 10,000 webhooks", [one])
    pooled = {k: v for k, v in pooled.items() if not k.startswith("_")}
    report = {
        "machine": {},
        "scenarios": {"C": {"deliveries_per_s": 400.0}, "F10k": pooled},
        "ratios": {"F10k/C": 1.25},
        "rss_mb": {},
        "targets": [],
    }
    (row,) = fanout_rows(report)
    assert row[:8] == ["F10k", "10,000", "10,000", "500.0", "500.0", "0.00", "20.00", "1.25"]
    assert row[8] == "150.0 / 180.0"
    assert "fan-out: ONE event to many webhooks" in markdown(report)
    main = to_markdown(report | {"scenarios": {"F10k": pooled}})
    assert "| F10k 1 event to 10,000 webhooks | 1 | 10000 |" in main
    assert json.loads(json.dumps(pooled)) == pooled


def test_the_seed_rows() -> None:
    now = datetime.now(UTC)
    rows_ = webhook_rows("ten_x", "http://127.0.0.1:9/f3", "data.created", 3, now, start=1)
    assert [r["url"] for r in rows_] == [f"http://127.0.0.1:9/f3/{i}" for i in (1, 2, 3)]
    assert len({r["id"] for r in rows_}) == 3 and len({r["secret"] for r in rows_}) == 3
    assert all(r["events"] == ["data.created"] and r["status"] == "active" for r in rows_)


def test_the_receiver_counts_distinct_deliveries() -> None:
    records = [(float(i), "evt_f", f"dlv_{i % 10_000}", "/f") for i in range(12_000)]
    assert distinct(records) == 10_000
    assert distinct(records, after=10_000) == 2_000
    assert distinct([], 0) == 0


def test_an_uncounted_fanout_shows_why() -> None:
    costs = _costs()
    costs["F10k"] = {"webhooks": 10000, "error": "not counted: the event was not delivered in full"}
    assert fanout_keys(costs) == ["F1k"]
    last = per_delivery_rows(costs)[-1]
    assert last[0] == "10,000 (F10k)" and last[-1].startswith("not counted")
    assert not any(label.startswith("F10k") for label, *_ in rows(costs))
    markdown({"costs": costs})  # the history table skips it


def test_resident_memory_from_proc_status() -> None:
    status = "Name:\tpython\nVmHWM:\t  204800 kB\nVmRSS:\t 102400 kB\n"
    assert parse_status_mb(status, "VmRSS") == pytest.approx(100.0)
    assert parse_status_mb(status, "VmHWM") == pytest.approx(200.0)
    assert parse_status_mb(status, "VmSwap") is None


def test_an_f_tenants_failing_share() -> None:
    """1 in 10 flaky (retried after 1 s), 1 in 20 of the rest dead (one attempt): the F
    scenario's retries and its redelivery."""
    rows = webhook_rows(
        "ten_x",
        "http://127.0.0.1:9/f100",
        "data.created",
        100,
        datetime.now(UTC),
        failing_share=True,
    )
    flaky = [r for r in rows if "/flaky/" in r["url"]]
    dead = [r for r in rows if "/dead/" in r["url"]]
    assert (len(flaky), len(dead)) == failing_counts(100) == (10, 5)
    assert all(r["retry_policy"] == {"initial_interval": 1} for r in flaky)
    assert all(r["retry_policy"]["max_attempts"] == 1 for r in dead)
    plain = webhook_rows("ten_x", "http://127.0.0.1:9/c", "data.created", 10, datetime.now(UTC))
    assert all("/flaky/" not in r["url"] and r["retry_policy"] is None for r in plain)


async def test_the_receiver_answers_the_failing_share_by_path() -> None:
    receiver = FastReceiver()
    server = await asyncio.start_server(receiver.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:

            async def post(path: str, attempt: int) -> int:
                reply = await client.post(
                    path, content=b"{}", headers={"X-Webhook-Attempt": str(attempt)}
                )
                return reply.status_code

            assert [await post("/f10/flaky/1", n) for n in (1, 2)] == [503, 200]
            assert [await post("/f10/dead/2", n) for n in (1, 2)] == [400, 400]
            assert await post("/f10/3", 1) == 200
    finally:
        server.close()
    assert len(receiver.records) == 5  # every POST is recorded, whatever its answer
