"""Tracing on the real dev server: one trace from the publish through the workflow to every
attempt, with an in-memory exporter (the OTLP side is tests/e2e/test_tracing_otlp.py)."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.client import Client

from hookline.core import signing
from hookline.core.models import RedeliverSignal
from hookline.infra.tracing import (
    ATTEMPT_SPAN,
    setup_tracing,
    shutdown_tracing,
    tracing_interceptors,
)
from hookline.workflows.event import EventWorkflow
from tests.support.flow import publish, settled
from tests.support.otlp import assert_no_leak, traced_by
from tests.support.receiver import Reply
from tests.support.store import add_webhook
from tests.support.temporal import isolated_settings, running_worker

PAYLOAD = {"email": "ada-lovelace@example.com", "changed": ["password"]}
QUERY = "token=query-string-credential"


@pytest.fixture
async def traced():
    """Tracing on, into memory, for one test (whatever the environment's OTEL_* say)."""
    spans = InMemorySpanExporter()
    provider = setup_tracing("hookline-test", env={}, exporter=spans)
    yield spans, provider.get_tracer("tests")
    await shutdown_tracing(provider)


async def test_one_trace_runs_from_the_publish_to_every_attempt(
    traced, dev_env, settings, sessions, tenant, receiver
):
    settings = isolated_settings(settings, retry_initial_interval=1, retry_backoff=1.5)
    # The client as worker.connect() builds it: the workers built from it inherit the interceptor.
    client = Client(**{**dev_env.client.config(), "interceptors": tracing_interceptors()})
    secret = signing.new_secret()
    receiver.script("/hook", [Reply(503), Reply(200)])
    webhook = await add_webhook(
        sessions, tenant.tenant_id, receiver.url(f"/hook?{QUERY}"), secret=secret
    )
    exporter, tracer = traced
    async with running_worker(client, settings):
        with tracer.start_as_current_span("POST /api/v1/events") as publish_span:
            handle = await publish(client, settings, tenant.tenant_id, data=PAYLOAD)
        # Polled through an untraced client: the test's queries are no part of the trace.
        progress = await settled(dev_env.client.get_workflow_handle(handle.id))
    assert progress.deliveries == {webhook.id: "succeeded"}

    spans = exporter.get_finished_spans()
    trace_id = publish_span.get_span_context().trace_id
    assert {s.context.trace_id for s in spans} == {trace_id}, [s.name for s in spans]
    names = {s.name for s in spans}
    assert {
        "StartWorkflow:EventWorkflow",
        "RunWorkflow:EventWorkflow",
        "RunActivity:accept_event",
        "RunActivity:deliver",
        "RunActivity:settle_event",
        ATTEMPT_SPAN,
    } <= names, names

    attempts = sorted(
        (s for s in spans if s.name == ATTEMPT_SPAN), key=lambda s: s.attributes["hookline.attempt"]
    )
    requests = receiver.for_path("/hook")
    assert len(attempts) == len(requests) == 2
    delivery_id = requests[0].headers["x-webhook-delivery-id"]
    for span, request, (code, outcome) in zip(
        attempts, requests, [(503, "retry"), (200, "success")], strict=True
    ):
        assert dict(span.attributes) == {
            "hookline.webhook.id": webhook.id,
            "hookline.delivery.id": delivery_id,
            "hookline.event.id": handle.id,
            "hookline.event.type": "user.created",
            "hookline.tenant.id": tenant.tenant_id,
            "hookline.attempt": int(request.headers["x-webhook-attempt"]),
            "hookline.series": 0,
            "hookline.trigger": "scheduled",
            "hookline.outcome": outcome,
            "http.request.method": "POST",
            "http.response.status_code": code,
            "url.scheme": "http",
            "server.address": "127.0.0.1",
            "server.port": receiver.port,
        }
        # The receiver can join the trace: the request carries this very span's context.
        assert traced_by(request.headers["traceparent"]) == (trace_id, span.context.span_id)
    assert [a.status.is_ok for a in attempts] == [False, True]
    assert_no_leak(spans, secret, PAYLOAD, QUERY)


async def test_a_redelivery_joins_the_events_trace(
    traced, dev_env, settings, sessions, tenant, receiver
):
    exporter, tracer = traced
    settings = isolated_settings(settings)
    client = Client(**{**dev_env.client.config(), "interceptors": tracing_interceptors()})
    receiver.script("/hook", [Reply(400)])
    retry = {"client_error_max_attempts": 1}
    await add_webhook(sessions, tenant.tenant_id, receiver.url("/hook"), retry=retry)
    async with running_worker(client, settings):
        with tracer.start_as_current_span("POST /api/v1/events") as publish_span:
            handle = await publish(client, settings, tenant.tenant_id)
        untraced = dev_env.client.get_workflow_handle(handle.id)
        assert (await settled(untraced)).status == "failed"
        receiver.script("/hook", [Reply(200)])
        with tracer.start_as_current_span("POST /api/v1/events/{id}/redeliver") as request_span:
            await handle.signal(EventWorkflow.redeliver, RedeliverSignal())
        await receiver.wait_for(2, path="/hook")
        assert (await settled(untraced)).status == "succeeded"
    spans = exporter.get_finished_spans()
    event_trace = publish_span.get_span_context().trace_id
    second = [s for s in spans if s.name == ATTEMPT_SPAN and s.attributes["hookline.series"] == 1]
    assert [s.context.trace_id for s in second] == [event_trace]
    # The signal's handling links back to the request that asked for it.
    [handled] = [s for s in spans if s.name == "HandleSignal:redeliver"]
    assert [link.context.span_id for link in handled.links] == [
        next(s for s in spans if s.name == "SignalWorkflow:redeliver").context.span_id
    ]
    assert request_span.get_span_context().trace_id != event_trace
