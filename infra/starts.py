"""How an EventWorkflow is started: the options of the API's start (api/publish.py) and of the
reconciler's (infra/reconcile.py), in one place. The workflow itself is the caller's to name
(`EventWorkflow.run`): infra/ does not import workflows/."""

from __future__ import annotations

from typing import Any

from temporalio.common import Priority, WorkflowIDConflictPolicy, WorkflowIDReusePolicy

from hookline.core import search_attributes as sa
from hookline.core.models import EventStatus, EventWorkflowInput
from hookline.infra.config import Settings

# A static summary is one line in the UI's list; the whole reason goes in the details.
SUMMARY_CHARS = 200


def start_options(settings: Settings, event: EventWorkflowInput) -> dict[str, Any]:
    """An event's first start: workflow id = event id, started once. `USE_EXISTING`: a start
    racing another (a publish retried, the reconciler) joins the running one;
    `REJECT_DUPLICATE`: an event whose run has closed is not started again."""
    return {
        "id": event.event_id,
        "task_queue": settings.task_queue,
        "id_conflict_policy": WorkflowIDConflictPolicy.USE_EXISTING,
        "id_reuse_policy": WorkflowIDReusePolicy.REJECT_DUPLICATE,
        "search_attributes": sa.at_start(event.tenant_id, event.type, str(EventStatus.AWAITING)),
        "static_summary": f"{event.type} event",
        # Task-queue fairness: a tenant's burst does not queue other tenants' tasks behind
        # it (the server dispatches by key); inherited by its activities and children.
        "priority": Priority(fairness_key=event.tenant_id),
    }


def repair_start_options(settings: Settings, event: EventWorkflowInput) -> dict[str, Any]:
    """A fresh run for an event whose run closed without finishing it (`event.repair_reason`
    set): the same id, allowed only after a run that did not complete (terminated, failed,
    timed out, cancelled), and refused while one runs (`FAIL`): of several reconcilers at
    once, one start wins. Its history shows why it was started."""
    reason = event.repair_reason or "its workflow closed without finishing it"
    return start_options(settings, event) | {
        "id_conflict_policy": WorkflowIDConflictPolicy.FAIL,
        "id_reuse_policy": WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
        "search_attributes": sa.at_start(event.tenant_id, event.type, str(EventStatus.FAILED)),
        "static_summary": f"{event.type} event, recorded failed: {reason}"[:SUMMARY_CHARS],
        "static_details": (
            f"Started by the reconciler: {reason}.\n\n"
            "The event is recorded failed in the store, with this reason as its last stage; "
            "deliveries not finished are failed. This run makes no attempt by itself: it "
            "serves redeliveries until the event's window ends."
        ),
    }
