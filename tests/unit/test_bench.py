"""The benchmark's pure parts: percentiles, /proc parsing, summaries, ratios, formatting.

No speed is ever asserted here: the figures depend on the machine."""

from __future__ import annotations

import json

import pytest

from bench.procs import parse_cpu_seconds, parse_vmhwm_mb
from bench.render import HEADERS, render, table_rows, to_markdown
from bench.stats import check_targets, compute_ratios, percentile, pool, summarize


def test_percentile_interpolates_like_numpy() -> None:
    values = [4.0, 1.0, 3.0, 2.0]
    assert percentile(values, 0) == 1.0
    assert percentile(values, 100) == 4.0
    assert percentile(values, 50) == pytest.approx(2.5)
    assert percentile(values, 99) == pytest.approx(3.97)
    assert percentile([7.0], 99) == 7.0
    assert percentile([], 50) is None
    with pytest.raises(ValueError):
        percentile(values, 101)


def test_parse_proc_stat_and_status() -> None:
    # The comm field may hold spaces and parentheses: fields are counted after the last ")".
    stat = "1234 (python (x) y) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0"
    assert parse_cpu_seconds(stat, 100) == pytest.approx(3.0)
    status = "Name:\tpython\nVmPeak:\t  900000 kB\nVmHWM:\t  204800 kB\nVmRSS:\t 1000 kB\n"
    assert parse_vmhwm_mb(status) == pytest.approx(200.0)
    assert parse_vmhwm_mb("Name:\tx\n") is None


def _scenario(name: str, events: int, fanout: int, seconds: float) -> dict:
    sent = {f"evt_{i}": 100.0 for i in range(events)}
    records = [
        [100.0 + seconds * (i + 1) / events, f"evt_{i}", f"dlv_{i}_{j}", f"/x/{j}"]
        for i in range(events)
        for j in range(fanout)
    ]
    cpu = {"server": 1.0, "worker": 2.0, "api": 0.5, "bench": 0.1}
    return summarize(name, sent, records, cpu, complete=True, expected=events * fanout)


def test_summarize_rates_latency_and_cpu() -> None:
    s = _scenario("b", 10, 1, 2.0)
    assert s["events"] == 10 and s["deliveries"] == 10
    assert s["seconds"] == pytest.approx(2.0)
    assert s["events_per_s"] == pytest.approx(5.0)
    assert s["p50_ms"] == pytest.approx(1100.0)
    assert s["p99_ms"] == pytest.approx(1982.0)
    assert s["cpu_s_per_event"]["worker"] == pytest.approx(0.2)
    c = _scenario("c", 10, 10, 2.0)
    assert c["deliveries_per_s"] == pytest.approx(50.0)


def test_pool_adds_passes_up() -> None:
    def one_pass(prefix: str, events: int, seconds: float, start: float) -> dict:
        sent = {f"{prefix}{i}": start for i in range(events)}
        records = [
            [start + seconds * (i + 1) / events, f"{prefix}{i}", "d", "/b"] for i in range(events)
        ]
        cpu = {"server": 0.5 * events, "api": 0.1 * events}
        result = summarize(prefix, sent, records, cpu, complete=True, expected=events)
        result["_raw"] = {"sent": sent, "records": records, "cpu": cpu}
        return result

    # 100 events in 1 s, then (an hour later: the gap is not counted) 100 in 3 s.
    pooled = pool("B", [one_pass("a", 100, 1.0, 0.0), one_pass("b", 100, 3.0, 3600.0)])
    assert (pooled["name"], pooled["events"], pooled["deliveries"]) == ("B", 200, 200)
    assert pooled["seconds"] == pytest.approx(4.0)
    assert pooled["events_per_s"] == pytest.approx(50.0)  # not the mean of 100 and 33.3
    assert [p["events_per_s"] for p in pooled["passes"]] == pytest.approx([100.0, 100 / 3])
    assert pooled["cpu_s_per_event"] == pytest.approx({"server": 0.5, "api": 0.1})
    assert pooled["p99_ms"] == pytest.approx(2940.3)  # the slower pass's tail, pooled
    assert pooled["complete"] and pooled["expected_deliveries"] == 200


def test_summarize_without_arrivals() -> None:
    s = summarize("none", {"evt_1": 1.0}, [], {"server": 0.0}, complete=False, expected=1)
    assert s["events_per_s"] is None and s["p50_ms"] is None and not s["complete"]


def test_ratios_and_targets() -> None:
    scenarios = {
        "A": _scenario("a", 10, 1, 4.0),
        "B": _scenario("b", 10, 1, 1.0),
        "C": _scenario("c", 10, 10, 1.0),
        "D": _scenario("d", 10, 1, 0.01),
        "E": _scenario("e", 10, 1, 2.0),
    }
    ratios = compute_ratios(scenarios)
    assert ratios["B/A"] == pytest.approx(4.0)
    assert ratios["C/B"] == pytest.approx(10.0)
    assert ratios["E/B"] == pytest.approx(0.5)
    targets = {t["target"]: t for t in check_targets(scenarios, ratios, {"worker": 300.0})}
    assert targets["B/A"]["met"] is True
    assert targets["E/B"]["met"] is False
    assert targets["worker RSS MB"]["met"] is False
    assert targets["api RSS MB"]["met"] is None  # not measured
    assert compute_ratios({})["B/A"] is None


def test_formatting_table_markdown_json() -> None:
    scenarios = {"B": _scenario("hookline", 10, 1, 1.0)}
    scenarios["B"]["complete"] = False
    rows = table_rows(scenarios)
    assert len(rows) == 1 and len(rows[0]) == len(HEADERS)
    assert "INCOMPLETE" in rows[0][0]
    assert rows[0][4] == "10.0"
    report = {
        "scenarios": scenarios,
        "rss_mb": {"server": 100.0, "worker": None, "api": 50.0},
        "ratios": compute_ratios(scenarios),
    }
    report["targets"] = check_targets(scenarios, report["ratios"], report["rss_mb"])
    markdown = to_markdown(report)
    assert markdown.startswith("| scenario |")
    assert "| worker | - |" in markdown
    assert json.loads(json.dumps(report)) == report
    render(report)  # builds the rich renderables without error


def test_bench_modules_import_one_way() -> None:
    """No import circle among bench/'s modules, imports inside functions included."""
    import ast
    from pathlib import Path

    folder = Path(__file__).resolve().parents[2] / "bench"
    names = {path.stem for path in folder.glob("*.py")} - {"__init__"}
    graph: dict[str, set[str]] = {}
    for name in names:
        targets: set[str] = set()
        for node in ast.walk(ast.parse((folder / f"{name}.py").read_text())):
            if isinstance(node, ast.Import):
                targets |= {a.name.split(".")[1] for a in node.names if a.name.startswith("bench.")}
            elif isinstance(node, ast.ImportFrom) and node.module == "bench":
                targets |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("bench."):
                targets.add(node.module.split(".")[1])
        graph[name] = (targets & names) - {name}

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        for nxt in graph[start] - seen:
            if nxt == goal or reaches(nxt, goal, seen | {nxt}):
                return True
        return False

    assert sorted(name for name in names if reaches(name, name, set())) == []
