"""Temporal Cloud billable actions, counted from a workflow's event history (pure).

The rules are Temporal Cloud's published definition ("Temporal Cloud Actions", see
docs/PERFORMANCE.md for the page and its date), restricted to what an event history shows:

- workflow started: 1 (search attributes given at start are free)
- search-attribute upsert: 1 per UpsertWorkflowSearchAttributes command, except the one the
  SDK adds for a patch (`workflow.patched`) that sets only `TemporalChangeVersion`: exempt
- timer started: 1 each (including the implicit timer of a wait with a timeout)
- signal received: 1 each
- activity: 1 per scheduled activity, plus 1 per retry (the started event's attempt - 1)
- local activities: 1 per workflow task that recorded local-activity markers, however many
  it recorded, plus the retries the server metered on WorkflowTaskCompleted
- child workflow initiated: 2; update accepted: 1; continue-as-new: 1

Not in a history, so not counted here: queries, activity and workflow-task heartbeats, and
the start requests the server de-duplicated (free anyway). Patch (version) markers are not
local activities and are not counted.

A history is the proto-JSON document `WorkflowHistory.to_json()` writes (and the Temporal UI
downloads): {"events": [{"eventType": "EVENT_TYPE_...", "...Attributes": {...}}, ...]}.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

LOCAL_ACTIVITY_MARKER = "core_local_activity"
CHANGE_VERSION = "TemporalChangeVersion"  # the SDK's patch search attribute: not billed

# Event type (without the EVENT_TYPE_ prefix) -> (action name, actions per event).
_PER_EVENT = {
    "WORKFLOW_EXECUTION_STARTED": ("workflow start", 1),
    "UPSERT_WORKFLOW_SEARCH_ATTRIBUTES": ("search-attribute upserts", 1),
    "TIMER_STARTED": ("timers", 1),
    "WORKFLOW_EXECUTION_SIGNALED": ("signals", 1),
    "ACTIVITY_TASK_SCHEDULED": ("activities", 1),
    "START_CHILD_WORKFLOW_EXECUTION_INITIATED": ("child workflows", 2),
    "WORKFLOW_EXECUTION_UPDATE_ACCEPTED": ("updates", 1),
    "WORKFLOW_EXECUTION_CONTINUED_AS_NEW": ("continue-as-new", 1),
}
KINDS = (
    "workflow start",
    "local activities",
    "local activity retries",
    "timers",
    "signals",
    "search-attribute upserts",
    "activities",
    "activity retries",
    "child workflows",
    "updates",
    "continue-as-new",
)


def _type(event: Mapping[str, Any]) -> str:
    return str(event.get("eventType", "")).removeprefix("EVENT_TYPE_")


def _attributes(event: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    return event.get(name) or {}


def _only_change_version(event: Mapping[str, Any]) -> bool:
    attributes = _attributes(event, "upsertWorkflowSearchAttributesEventAttributes")
    fields = (attributes.get("searchAttributes") or {}).get("indexedFields") or {}
    return set(fields) == {CHANGE_VERSION}


def count_actions(history: Mapping[str, Any]) -> dict[str, int]:
    """Billable actions of one history, by kind (every kind of KINDS, zeros included)."""
    counts: Counter[str] = Counter(dict.fromkeys(KINDS, 0))
    marker_tasks: set[str] = set()
    for event in history.get("events", []):
        kind = _type(event)
        if kind == "UPSERT_WORKFLOW_SEARCH_ATTRIBUTES" and _only_change_version(event):
            continue
        if kind in _PER_EVENT:
            name, actions = _PER_EVENT[kind]
            counts[name] += actions
        elif kind == "ACTIVITY_TASK_STARTED":
            attempt = int(
                _attributes(event, "activityTaskStartedEventAttributes").get("attempt", 1)
            )
            counts["activity retries"] += max(attempt - 1, 0)
        elif kind == "MARKER_RECORDED":
            marker = _attributes(event, "markerRecordedEventAttributes")
            if marker.get("markerName") == LOCAL_ACTIVITY_MARKER:
                marker_tasks.add(str(marker.get("workflowTaskCompletedEventId", "")))
        elif kind == "WORKFLOW_TASK_COMPLETED":
            metering = _attributes(event, "workflowTaskCompletedEventAttributes").get(
                "meteringMetadata", {}
            )
            retries = metering.get("nonfirstLocalActivityExecutionAttempts", 0)
            counts["local activity retries"] += int(retries or 0)
    counts["local activities"] = len(marker_tasks)
    return {kind: counts[kind] for kind in KINDS}


def total(counts: Mapping[str, int]) -> int:
    return sum(counts.values())


def difference(after: Mapping[str, float], before: Mapping[str, float]) -> dict[str, float]:
    """What a step added to a history (e.g. a redelivery), by kind."""
    return {kind: after.get(kind, 0) - before.get(kind, 0) for kind in KINDS}


def mean(samples: Iterable[Mapping[str, int]]) -> dict[str, float]:
    """Mean actions per history, by kind."""
    samples = list(samples)
    if not samples:
        raise ValueError("no histories to average")
    return {kind: sum(s.get(kind, 0) for s in samples) / len(samples) for kind in KINDS}


def cost_per_million(actions_per_unit: float, price_per_million_actions: float) -> float:
    """Dollars per million events (or deliveries) at `actions_per_unit` actions each."""
    if actions_per_unit < 0 or price_per_million_actions < 0:
        raise ValueError("actions and price must not be negative")
    return actions_per_unit * price_per_million_actions


def history_events(history: Mapping[str, Any]) -> int:
    return len(history.get("events", []))


_CHILD_CLOSED = {
    "CHILD_WORKFLOW_EXECUTION_COMPLETED",
    "CHILD_WORKFLOW_EXECUTION_FAILED",
    "CHILD_WORKFLOW_EXECUTION_CANCELED",
    "CHILD_WORKFLOW_EXECUTION_TERMINATED",
    "CHILD_WORKFLOW_EXECUTION_TIMED_OUT",
    "START_CHILD_WORKFLOW_EXECUTION_FAILED",
}


def child_workflow_ids(history: Mapping[str, Any]) -> list[str]:
    """The ids of the child workflows a history started, in order (a large event's chunk
    workflows, `{event_id}-s{series}-c{n}`)."""
    return [
        str(_attributes(event, "startChildWorkflowExecutionInitiatedEventAttributes")["workflowId"])
        for event in history.get("events", [])
        if _type(event) == "START_CHILD_WORKFLOW_EXECUTION_INITIATED"
    ]


def children_open(history: Mapping[str, Any]) -> int:
    """Children initiated and not yet closed (completed, failed, cancelled, ...)."""
    opened = closed = 0
    for event in history.get("events", []):
        kind = _type(event)
        opened += kind == "START_CHILD_WORKFLOW_EXECUTION_INITIATED"
        closed += kind in _CHILD_CLOSED
    return opened - closed


def with_children(
    parent: Mapping[str, int], children: Iterable[Mapping[str, int]]
) -> dict[str, int]:
    """A workflow's actions with its children's, by kind. A child's own start is not counted
    again: the parent's START_CHILD_WORKFLOW_EXECUTION_INITIATED already counts 2 for it
    (starting the child and its WorkflowExecutionStarted)."""
    out = {kind: parent.get(kind, 0) for kind in KINDS}
    for child in children:
        for kind in KINDS:
            if kind != "workflow start":
                out[kind] += child.get(kind, 0)
    return out
