"""Tracing across processes: `hookline api` and `hookline worker` export OTLP/HTTP to a local
receiver; one trace runs from `POST /api/v1/events` through the workflow to every attempt,
and the webhook receiver got each attempt's `traceparent`."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from hookline.infra.tracing import ATTEMPT_SPAN
from tests.support.otlp import accept_otlp, assert_no_leak, otlp_spans, traced_by
from tests.support.receiver import Receiver, Reply
from tests.support.stack import Stack

PAYLOAD = {"email": "grace-hopper@example.com", "plan": "enterprise-secret-plan"}
QUERY = "key=query-string-credential"
EXPECTED_NAMES = {
    "POST /api/v1/events",
    "StartWorkflow:EventWorkflow",
    "RunWorkflow:EventWorkflow",
    "RunActivity:accept_event",
    "RunActivity:deliver",
}


async def wait_until(check, timeout: float = 60):
    for _ in range(int(timeout * 5)):
        result = check()
        if result:
            return result
        await asyncio.sleep(0.2)
    raise AssertionError("condition not reached")


@pytest.mark.parametrize("embedded", [False, True], ids=["standalone-worker", "eager-start"])
async def test_api_and_worker_export_one_trace_per_event(
    tmp_path: Path, receiver: Receiver, embedded: bool
):
    accept_otlp(receiver)
    receiver.script("/hook", [Reply(503), Reply(200)])
    stack = Stack(
        data_dir=tmp_path / "hl",
        extra_env={
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{receiver.port}",
            "OTEL_BSP_SCHEDULE_DELAY": "200",  # ms: spans leave each process soon
            # Off: every workflow task and attempt on the standalone worker, the API only
            # publishes (the trace crosses processes). On (the default): the event starts
            # eagerly on the API's worker, which makes attempt 1.
            "HOOKLINE_EMBEDDED_WORKER": str(embedded).lower(),
        },
    )
    try:
        stack.start()
        async with httpx.AsyncClient(base_url=stack.base_url, headers=stack.headers) as api:
            created = await api.post(
                "/api/v1/webhooks",
                json={"url": receiver.url(f"/hook?{QUERY}"), "events": ["user.created"]},
            )
            assert created.status_code == 201, created.text
            webhook = created.json()["data"]
            published = await api.post(
                "/api/v1/events", json={"type": "user.created", "data": PAYLOAD}
            )
            assert published.status_code == 202, published.text
            event_id = published.json()["data"]["id"]
            requests = await receiver.wait_for(2, path="/hook", timeout=60)

            def complete():
                # Each process exports in batches: a span can arrive a batch after its child,
                # so wait for every span the assertions below name, not only the attempts.
                spans = otlp_spans(receiver)
                attempts = [s for s in spans if s.name == ATTEMPT_SPAN]
                names = {s.name for s in spans}
                return spans if len(attempts) == 2 and EXPECTED_NAMES <= names else None

            spans = await wait_until(complete)
    finally:
        stack.stop()

    [publish] = [s for s in spans if s.name == "POST /api/v1/events"]
    assert publish.service == "hookline-api" and publish.parent_id == 0
    trace = [s for s in spans if s.trace_id == publish.trace_id]
    by_service = {(s.service, s.name) for s in trace}
    runs_on = "hookline-api" if embedded else "hookline-worker"
    assert {
        ("hookline-api", "StartWorkflow:EventWorkflow"),
        (runs_on, "RunWorkflow:EventWorkflow"),
        (runs_on, "RunActivity:accept_event"),
        (runs_on, ATTEMPT_SPAN),
    } <= by_service, by_service
    assert "RunActivity:deliver" in {s.name for s in trace}  # the retry, on either worker
    # Every span of the event's workflow is in the publish's trace (none in a trace of its own).
    workflow_spans = [s for s in spans if s.attributes.get("temporalWorkflowID") == event_id]
    assert workflow_spans and {s.trace_id for s in workflow_spans} == {publish.trace_id}
    attempts = sorted(
        (s for s in trace if s.name == ATTEMPT_SPAN), key=lambda s: s.attributes["hookline.attempt"]
    )
    assert [
        (a.attributes["hookline.attempt"], a.attributes["http.response.status_code"])
        for a in attempts
    ] == [
        (1, 503),
        (2, 200),
    ]
    assert {a.attributes["hookline.webhook.id"] for a in attempts} == {webhook["id"]}
    # Each webhook request carried the context of its own attempt span.
    assert [traced_by(r.headers["traceparent"]) for r in requests] == [
        (publish.trace_id, a.span_id) for a in attempts
    ]
    assert_no_leak(spans, webhook["secret"], PAYLOAD, QUERY, stack.token)
