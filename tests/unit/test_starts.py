"""The options of every EventWorkflow start (infra/starts.py) and the reconciler's setting."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy

from hookline.core.models import EventWorkflowInput
from hookline.infra.config import Settings
from hookline.infra.starts import SUMMARY_CHARS, repair_start_options, start_options

EVENT = EventWorkflowInput.publish(
    "ten_a", "user.created", {"n": 1}, datetime(2026, 1, 1, tzinfo=UTC), timedelta(days=7)
)


def test_the_first_start_joins_a_running_run_and_never_reruns_a_closed_one() -> None:
    options = start_options(Settings(task_queue="q"), EVENT)
    assert options["id"] == EVENT.event_id
    assert options["task_queue"] == "q"
    assert options["id_conflict_policy"] == WorkflowIDConflictPolicy.USE_EXISTING
    assert options["id_reuse_policy"] == WorkflowIDReusePolicy.REJECT_DUPLICATE
    assert options["static_summary"] == "user.created event"


def test_a_repair_start_follows_only_an_unfinished_run_and_says_why() -> None:
    reason = "its workflow run r1 was terminated: " + "x" * 500
    event = EVENT.model_copy(update={"repair_reason": reason})
    options = repair_start_options(Settings(), event)
    assert options["id"] == EVENT.event_id
    # Of several reconcilers at once, one start wins; never after a completed run.
    assert options["id_conflict_policy"] == WorkflowIDConflictPolicy.FAIL
    assert options["id_reuse_policy"] == WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY
    assert options["static_summary"].startswith("user.created event, recorded failed: its")
    assert len(options["static_summary"]) == SUMMARY_CHARS
    assert reason in options["static_details"]


def test_the_reconcile_interval_is_a_duration(monkeypatch) -> None:
    assert Settings().reconcile_interval == timedelta(minutes=1)
    monkeypatch.setenv("HOOKLINE_RECONCILE_INTERVAL", "30s")
    assert Settings().reconcile_interval == timedelta(seconds=30)
