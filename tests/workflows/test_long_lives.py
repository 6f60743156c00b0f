"""An event redelivered many times in its window never nears Temporal's history limits: the
run continues as new with its state carried over. Proved on a dev server whose threshold for
suggesting continue-as-new is lowered (dynamic config), not with thousands of requests."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

from temporalio.api.enums.v1 import EventType
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from hookline.core import search_attributes as sa
from hookline.core.models import (
    DeliveryStatus,
    EventStatus,
    EventWorkflowInput,
    FirstAttemptsOutput,
    MatchOutput,
    RedeliverSignal,
)
from hookline.devserver import TUNING_ARGS
from hookline.infra.crypto import data_converter
from hookline.workflows.chunk import DeliveryChunkWorkflow
from hookline.workflows.event import EventWorkflow
from tests.support.scripted_activities import Script, matched, outcome
from tests.support.temporal import BIN

SUGGEST_AFTER = 60  # history events; the default is thousands
REDELIVERIES = 40


async def test_a_run_redelivered_past_its_history_budget_continues_with_its_state():
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(BIN / "temporal"),
        search_attributes=sa.ALL,
        data_converter=data_converter([]),
        dev_server_extra_args=[
            *TUNING_ARGS,
            "--dynamic-config-value",
            f"limit.historyCount.suggestContinueAsNew={SUGGEST_AFTER}",
        ],
    )
    try:
        created = datetime.now(UTC)
        event = EventWorkflowInput.publish(
            "ten_long", "user.created", {"id": "usr_1"}, created, timedelta(hours=1)
        )
        targets = matched(event.event_id, "wh_a")
        failed = FirstAttemptsOutput(
            outcomes=[outcome(targets[0], DeliveryStatus.FAILED)], event_status=EventStatus.FAILED
        )
        script = Script(accept=lambda i, n: MatchOutput(webhooks=targets, first=failed))
        script.deliver_first = lambda i, n: failed.model_copy(
            update={"outcomes": [outcome(targets[0], DeliveryStatus.FAILED)]}
        )
        queue = f"long-{uuid.uuid4().hex[:8]}"
        async with Worker(
            env.client,
            task_queue=queue,
            workflows=[EventWorkflow, DeliveryChunkWorkflow],
            activities=script.activities(),
        ):
            handle = await env.client.start_workflow(
                EventWorkflow.run, event, id=event.event_id, task_queue=queue
            )
            latest = env.client.get_workflow_handle(event.event_id)  # whichever run is open
            for n in range(1, REDELIVERIES + 1):
                # One at a time: a request for a delivery still in flight is not a new series.
                await latest.signal(EventWorkflow.redeliver, RedeliverSignal(webhook_ids=["wh_a"]))
                deadline = asyncio.get_running_loop().time() + 30
                while True:
                    progress = await latest.query(EventWorkflow.progress)
                    if progress.series == n and not progress.in_flight:
                        break
                    assert asyncio.get_running_loop().time() < deadline, f"request {n} not served"
                    await asyncio.sleep(0.05)
            latest = env.client.get_workflow_handle(event.event_id)
            progress = await latest.query(EventWorkflow.progress)
            first_run = await env.client.get_workflow_handle(
                event.event_id, run_id=handle.result_run_id
            ).fetch_history()
            last_run = await latest.fetch_history()
            await latest.terminate("test over")
    finally:
        await env.shutdown()
    assert progress.runs > 1  # it continued as new
    assert progress.deliveries == {"wh_a": DeliveryStatus.FAILED}  # carried over
    kinds = [e.event_type for e in first_run.events]
    assert kinds[-1] == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW
    assert len(first_run.events) < 4 * SUGGEST_AFTER  # it stopped near the threshold
    assert len(last_run.events) < 4 * SUGGEST_AFTER
    # Every request served once, in order, across the runs; accepted only once.
    assert [c.input.series for c in script.named("deliver_first")] == list(
        range(1, REDELIVERIES + 1)
    )
    assert len(script.named("accept_event")) == 1
