"""A series of a large event: chunk workflows over its deliveries, then the event settled."""

from __future__ import annotations

import asyncio

from temporalio import workflow

from hookline.workflows.chunk import DeliveryChunkWorkflow
from hookline.workflows.series import STORE_RETRY, STORE_STEP
from hookline.workflows.state import EventState
from hookline.workflows.visibility import stage

with workflow.unsafe.imports_passed_through():
    from hookline.activities.events import EventActivities
    from hookline.core import search_attributes as sa
    from hookline.core.models import ChunkInput, RedeliverSignal, SettleInput


async def fan_out(
    state: EventState, series: int, chunk_size: int, request: RedeliverSignal | None = None
) -> None:
    """A series of a large event: one chunk workflow per chunk_size deliveries (a request
    naming webhooks: one chunk over all, taking those), then the event settled from the
    store. Chunks are cancelled with the series when the window closes."""
    event = state.input
    total = state.chunked_total or 0
    named = request.webhook_ids if request is not None else None
    slices = [(0, total)] if named else [(o, chunk_size) for o in range(0, total, chunk_size)]
    chunks = [
        workflow.execute_child_workflow(
            DeliveryChunkWorkflow.run,
            ChunkInput(
                event_id=event.event_id,
                tenant_id=event.tenant_id,
                type=event.type,
                created=event.created,
                expires_at=event.expires_at,
                series=series,
                offset=offset,
                limit=limit,
                only_failed=series > 0 and not named,
                webhook_ids=named,
            ),
            id=f"{event.event_id}-s{series}-c{n}",
            search_attributes=sa.at_start(event.tenant_id, event.type, str(state.status)),
            static_summary=f"{event.type} event {event.event_id}: deliveries "
            f"{offset + 1}-{min(offset + limit, total)}, "
            + (f"redelivery {series}" if series else "delivery"),
        )
        for n, (offset, limit) in enumerate(slices)
    ]
    results = await asyncio.gather(*chunks)
    counts: dict[str, int] = {}
    for result in results:
        for status, n in result.counts.items():
            counts[status] = counts.get(status, 0) + n
    settled = await workflow.execute_local_activity_method(
        EventActivities.settle_event,
        SettleInput(
            event_id=event.event_id,
            outcomes=[],
            stage=stage(series),
            detail=", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
            or "nothing to redeliver",
        ),
        start_to_close_timeout=STORE_STEP,
        retry_policy=STORE_RETRY,
    )
    state.status = settled.status
