"""DeliveryChunkWorkflow: one chunk of a large event's deliveries, in one series.

An event matched by more webhooks than a chunk holds is delivered by chunk workflows, children
of its EventWorkflow: each loads its slice of the event's deliveries from the store, makes
attempt 1 to all of them (one local activity) and their retries, and reports counts. Its
history, its payloads and its pending activities grow with the chunk, not with the event
(docs/DESIGN.md, "Temporal's limits").
"""

from __future__ import annotations

from temporalio import workflow

from hookline.workflows.alerting import alert_disabled
from hookline.workflows.series import STORE_RETRY, STORE_STEP, Series
from hookline.workflows.state import EventState
from hookline.workflows.visibility import Visibility

with workflow.unsafe.imports_passed_through():
    from hookline.activities.events import EventActivities
    from hookline.core.models import (
        ChunkInput,
        ChunkOutput,
        EventWorkflowInput,
        WebhookDisabled,
    )


@workflow.defn(name="DeliveryChunkWorkflow")
class DeliveryChunkWorkflow:
    @workflow.init
    def __init__(self, input: ChunkInput) -> None:
        event = EventWorkflowInput(
            event_id=input.event_id,
            tenant_id=input.tenant_id,
            type=input.type,
            data={},  # the activities read the event's data from the store
            created=input.created,
            expires_at=input.expires_at,
        )
        self._state = EventState(event)
        self._series = Series(self._state, Visibility(), self._alert, settles=False)

    @workflow.run
    async def run(self, input: ChunkInput) -> ChunkOutput:
        targets = await workflow.execute_local_activity_method(
            EventActivities.load_chunk,
            input,
            start_to_close_timeout=STORE_STEP,
            retry_policy=STORE_RETRY,
            summary=f"load deliveries {input.offset + 1}-{input.offset + input.limit}",
        )
        if not targets:
            return ChunkOutput()
        self._state.matched_all(targets)
        await self._series.run(list(self._state.matched), input.series)
        counts: dict[str, int] = {}
        for status in self._state.outcomes.values():
            counts[status] = counts.get(status, 0) + 1
        return ChunkOutput(counts=counts)

    async def _alert(self, disabled: WebhookDisabled) -> None:
        await alert_disabled(self._state.input, disabled)
