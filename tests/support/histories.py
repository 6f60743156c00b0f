"""Reading workflow histories in tests: what their markers mark, what their upserts set."""

from __future__ import annotations

import json

from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory


def upserted(history: WorkflowHistory) -> list[bytes]:
    """Every value an upsert set, in order."""
    upserts = [
        e.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES
    ]
    return [payload.data for fields in upserts for payload in fields.values()]


def markers(history: WorkflowHistory) -> list[str]:
    """Each marker's name and what it marks: `core_local_activity:<activity type>`,
    `core_patch:<patch id>` (the SDK writes both in clear, outside the codec)."""
    found = []
    for e in history.events:
        if e.event_type != EventType.EVENT_TYPE_MARKER_RECORDED:
            continue
        marker = e.marker_recorded_event_attributes
        for key, field in (("data", "activity_type"), ("patch-data", "id")):
            if key in marker.details:
                detail = json.loads(marker.details[key].payloads[0].data)
                found.append(f"{marker.marker_name}:{detail[field]}")
    return found
