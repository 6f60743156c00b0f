"""`hookline bench --fairness` (bench/fairness.py), its parts without a stack: the dev server's
command line with fairness on and off, the API without its embedded worker, the loud tenant's
seed, the quiet tenant's figures. No speed is asserted here: the figures depend on the
machine."""

from __future__ import annotations

from pathlib import Path

from bench.fairness import quiet_figures, table_rows
from bench.seed import LOUD, NEIGHBOUR_PATHS, NOISY, QUIET
from bench.stack import FAIRNESS_OFF, FAIRNESS_ON, Stack, server_args, stack_env


def a_stack(tmp_path: Path, **changes) -> Stack:
    stack = Stack(tmp_path, 7233, 8000, 9000)
    for name, value in changes.items():
        setattr(stack, name, value)
    return stack


def test_the_dev_server_runs_as_hookline_dev_runs_it_unless_fairness_is_turned_off(tmp_path):
    on = server_args(a_stack(tmp_path))
    off = server_args(a_stack(tmp_path, fairness=False))
    assert FAIRNESS_ON in on and FAIRNESS_OFF not in on
    assert FAIRNESS_OFF in off and FAIRNESS_ON not in off
    # Nothing else differs: the same server, one switch.
    assert [a for a in on if a != FAIRNESS_ON] == [a for a in off if a != FAIRNESS_OFF]


def test_without_its_embedded_worker_the_api_starts_no_event_eagerly(tmp_path):
    assert stack_env(a_stack(tmp_path), "t")["HOOKLINE_EMBEDDED_WORKER"] == "true"
    env = stack_env(a_stack(tmp_path, embedded_worker=False), "t")
    assert env["HOOKLINE_EMBEDDED_WORKER"] == "false"


def test_the_worker_gets_the_slots_asked_for_and_the_default_otherwise(tmp_path):
    assert "HOOKLINE_MAX_CONCURRENT_WORKFLOW_TASKS" not in stack_env(a_stack(tmp_path), "t")
    env = stack_env(a_stack(tmp_path, workflow_task_slots=16), "t")
    assert env["HOOKLINE_MAX_CONCURRENT_WORKFLOW_TASKS"] == "16"


def test_the_loud_tenant_has_a_receiver_path_that_answers_at_once():
    assert "/hang/" not in NEIGHBOUR_PATHS[LOUD]
    assert len({NEIGHBOUR_PATHS[name] for name in (LOUD, NOISY, QUIET)}) == 3


def test_the_quiet_tenants_figures_count_what_never_arrived():
    latencies = [10.0, 20.0, None, 400.0] + [15.0] * 16
    figures = quiet_figures(latencies)
    assert (figures["events"], figures["arrived"]) == (20, 19)
    assert figures["max_ms"] == 400.0
    assert figures["p50_ms"] == 15.0
    assert 20.0 < figures["p99_ms"] <= 400.0
    assert quiet_figures([None])["p99_ms"] is None


def test_the_table_has_a_row_per_slots_and_fairness():
    def side(p99):
        return quiet_figures([10.0, p99]) | {"burst": {"drained_s": 30.0}}

    report = {
        "pairs": [
            {"slots": "default", "on": side(900.0), "off": side(1000.0)},
            {"slots": 16, "on": side(50.0), "off": side(20_000.0)},
        ]
    }
    rows = table_rows(report)
    assert [row[:2] for row in rows] == [
        ["default", "on"],
        ["default", "off"],
        ["16", "on"],
        ["16", "off"],
    ]
    assert rows[3][-2:] == ["2/2", "30.0"]
