"""`hookline bench --tenant-burst` (bench/tenant_burst.py, its figures in
bench/tenant_burst_figures.py), its parts without a cluster: the command line, the sizes, the
cluster's settings, B's figures, A's receipts, the /healthz answers, when a phase ends, the
logs' lines, the ratio and the table. No speed is asserted here: the figures
depend on the machine."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from bench import tenant_burst as tb
from bench import tenant_burst_figures as fig
from bench.receiver import hangs
from hookline.cli import parser


def record(at: float, event: str, delivery: str, path: str) -> list:
    return [at, event, delivery, path]


def test_the_flag_is_parsed_and_quick_picks_the_smaller_sizes():
    args = parser().parse_args(["bench", "--tenant-burst", "--quick"])
    assert args.tenant_burst and args.quick
    assert tb.sizes_for(args) is tb.QUICK
    assert tb.command(args) == "hookline bench --tenant-burst --quick"
    args = parser().parse_args(["bench", "--tenant-burst"])
    assert tb.sizes_for(args) is tb.DEFAULT
    assert tb.command(args) == "hookline bench --tenant-burst"
    assert not parser().parse_args(["bench"]).tenant_burst


def test_hookline_bench_hands_the_flag_to_the_tenant_burst_module(monkeypatch):
    from bench import run

    seen = []
    monkeypatch.setattr(tb, "main", lambda args, console: seen.append(args))
    args = parser().parse_args(["bench", "--tenant-burst", "--quick"])
    run.main(args)
    assert seen == [args]


def test_the_sizes_are_bounded_and_quick_is_smaller():
    q, d = tb.QUICK, tb.DEFAULT
    assert (d.batches, d.batch, d.b_events, d.b_every, d.b_in_flight) == (20, 100, 100, 0.1, 20)
    assert d.fast_webhooks == 40
    assert q.batches < d.batches and q.cap_s < d.cap_s and q.b_events <= d.b_events
    for s in (q, d):
        assert s.batch <= 100  # POST /events/batch takes up to 100
        assert s.min_s < s.cap_s and s.publish_cap_s <= s.cap_s
        assert s.b_events * s.b_every < s.publish_cap_s


def test_the_apis_run_with_their_embedded_worker_and_the_retry_defaults(tmp_path: Path):
    env = tb.BurstCluster(tmp_path, 7233, 0, 9000).env()
    assert env["HOOKLINE_EMBEDDED_WORKER"] == "true"
    assert "HOOKLINE_RETRY_INITIAL_INTERVAL" not in env
    assert env["HOOKLINE_ALLOW_PRIVATE_URLS"] == "true"


def test_only_the_hanging_webhook_hangs():
    assert hangs(fig.A_HANG)
    assert not hangs(fig.B_PATH) and not hangs(f"{fig.A_FAST}7")
    assert not fig.B_PATH.startswith(fig.A_FAST) and not fig.A_HANG.startswith(fig.A_FAST)


def test_b_figures_from_the_first_receipt_of_each_202d_event():
    sent = {f"e{i}": 100.0 + i for i in range(20)}  # publish starts
    records = [record(100.0 + i + 0.5 + i / 10, f"e{i}", f"d{i}", fig.B_PATH) for i in range(19)]
    records.append(record(200.0, "e0", "d0", fig.B_PATH))  # e0 again, later: a duplicate
    records.append(record(100.2, "e1", "x", f"{fig.A_FAST}1"))  # another path: not B's
    records.append(record(100.1, "other", "y", fig.B_PATH))  # not 202'd: not counted
    figures = fig.b_figures(sent, records)
    assert (figures["sent"], figures["delivered"], figures["duplicates"]) == (20, 19, 1)
    assert figures["p50_s"] == pytest.approx(0.5 + 0.9)
    assert figures["max_s"] == pytest.approx(0.5 + 1.8)
    assert figures["p50_s"] < figures["p95_s"] <= figures["max_s"]
    empty = fig.b_figures({}, [])
    assert [empty[k] for k in ("p50_s", "p95_s", "max_s", "delivered")] == [None] * 3 + [0]


def test_a_fast_receipts_are_distinct_deliveries_and_events_within_the_phase():
    records = [
        record(10.0, "a1", "d1", f"{fig.A_FAST}0"),
        record(11.0, "a1", "d1", f"{fig.A_FAST}0"),  # the same delivery twice
        record(12.0, "a1", "d2", f"{fig.A_FAST}1"),
        record(13.0, "a3", "d5", f"{fig.A_FAST}1"),
        record(30.0, "a2", "d3", f"{fig.A_FAST}1"),  # after the phase
        record(12.0, "b1", "d4", fig.B_PATH),
    ]
    assert fig.a_figures(records, 10.0, 20.0) == {"receipts": 3, "events": 2}
    assert fig.a_figures([], 10.0, 20.0) == {"receipts": 0, "events": 0}


def test_healthz_answers_per_api_count_what_was_not_200():
    polls = [
        (0.0, "api-1", 200, 0.01),
        (0.0, "api-2", 503, 0.2),
        (2.0, "api-1", "ReadTimeout", 10.0),
        (2.0, "api-2", 200, 0.02),
        (4.0, "api-2", 503, 0.3),
    ]
    h = fig.health_figures(polls)
    assert h["api-1"] == {
        "polls": 2,
        "non_200": 1,
        "answers": {"200": 1, "ReadTimeout": 1},
        "slowest_s": 10.0,
        "non_200_span_s": [2.0, 2.0],
    }
    assert (h["api-2"]["polls"], h["api-2"]["non_200"]) == (3, 2)
    assert h["api-2"]["non_200_span_s"] == [0.0, 4.0]
    assert fig.health_figures([]) == {}


def test_a_phase_ends_when_b_arrived_and_it_lasted_its_minimum_or_at_its_cap():
    assert fig.finished(0, 5.0, 0, 240)  # alone: no minimum
    assert not fig.finished(1, 5.0, 0, 240)
    assert not fig.finished(0, 119.0, 120, 240)  # everything arrived, too early
    assert fig.finished(0, 120.0, 120, 240)
    assert not fig.finished(3, 121.0, 120, 240)
    assert fig.finished(3, 240.0, 120, 240)  # the cap, whatever is missing


def test_log_lines_are_counted_by_pattern():
    lines = ["Traceback (most recent call last):", "x TMPRL1104 y", "ok", "TMPRL1104"]
    counts = fig.count_patterns(lines)
    assert counts["traceback"] == 1 and counts["wft_over_5s"] == 2
    assert counts["deadlock"] == 0 and set(counts) == set(fig.LOG_PATTERNS.values())


def test_each_tracebacks_exception_line_is_counted():
    lines = [
        "Traceback (most recent call last):",
        '  File "x.py", line 1, in f',
        "    raise TimeoutError()",
        "TimeoutError: no answer",
        "",
        "WARNING something else",
        "Traceback (most recent call last):",
        '  File "y.py", line 2, in g',
        "TimeoutError: no answer",
        "Traceback (most recent call last):",
        "asyncpg.exceptions.QueryCanceledError: canceling statement due to statement timeout",
    ]
    assert fig.exceptions(lines) == {
        "TimeoutError: no answer": 2,
        "asyncpg.exceptions.QueryCanceledError: canceling statement due to statement timeout": 1,
    }
    assert fig.exceptions(lines, most=1) == {"TimeoutError: no answer": 2}
    assert fig.exceptions(["WARNING x"]) == {}


def test_a_json_log_lines_traceback_is_counted_by_its_last_line():
    error = "sqlalchemy.exc.TimeoutError: QueuePool limit of size 10 overflow 10 reached"
    trace = f'Traceback (most recent call last):\n  File "a.py", line 1, in f\n{error}\n'
    line = json.dumps({"level": "warning", "message": "failed", "exception": trace})
    lines = [line, line, json.dumps({"message": "Traceback: a word"}), "{not json"]
    assert fig.exceptions(lines) == {error: 2}
    assert fig.count_patterns([line])["pool_limit"] == 1


def test_cpu_seconds_per_process_over_a_phase():
    before = {"api-1": 1.0, "worker-1": 2.0}
    after = {"api-1": 3.5, "worker-1": 2.25, "postgres": 4.0}
    assert fig.cpu_delta(before, after) == {"api-1": 2.5, "worker-1": 0.25, "postgres": 4.0}


def phase(p95: float | None, **changes) -> dict:
    out = {
        "B": {"p50_s": 0.1, "p95_s": p95, "max_s": 0.4, "delivered": 100, "sent": 100},
        "B_status": {"202": 100},
        "A_status": {},
        "healthz": {"api-1": {"polls": 5, "non_200": 0}, "api-2": {"polls": 5, "non_200": 1}},
        "A": {"receipts": 0, "all": 0},
        "seconds": 11.3,
    }
    return out | changes


def test_the_ratio_is_the_burst_p95_over_the_alone_p95():
    report = {"phases": {"alone": phase(0.2), "burst": phase(3.0)}}
    assert fig.p95_ratio(report) == 15.0
    assert fig.p95_ratio({"phases": {"alone": phase(None), "burst": phase(3.0)}}) is None
    assert fig.p95_ratio({"phases": {"alone": phase(0.2)}}) is None
    assert fig.p95_ratio({}) is None


def test_the_table_has_a_row_per_phase_with_every_column():
    burst = phase(
        3.0,
        A_status={"503": 9, "202": 11},
        B_status={"202": 97, "503": 3},
        A={"receipts": 16396, "all": 80000},
    )
    rows = fig.table_rows({"phases": {"alone": phase(0.25), "burst": burst}})
    assert [row[0] for row in rows] == ["alone", "burst"]
    assert all(len(row) == len(fig.HEADERS) for row in rows)
    alone, burst_row = rows
    assert alone[1:5] == ["0.10", "0.25", "0.40", "100/100"]
    assert alone[6] == "-"  # A sends nothing alone
    assert burst_row[5:9] == ["202:97 503:3", "202:11 503:9", "1/10", "16,396/80,000"]
    assert burst_row[-1] == "11"


def test_sizes_for_a_namespace_without_quick():
    assert tb.sizes_for(SimpleNamespace()) is tb.DEFAULT
