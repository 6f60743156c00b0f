"""infra/tracing.py: which env turns tracing on, the attempt span, and nothing while off."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from hookline.core.models import DeliverInput, RetrySpec
from hookline.infra import tracing
from hookline.infra.tracing import TracingConfig, TracingError, tracing_config
from tests.support.otlp import assert_no_leak, traced_by

TARGET = DeliverInput(
    event_id="evt_1",
    tenant_id="ten_1",
    webhook_id="wh_1",
    delivery_id="dlv_1",
    retry=RetrySpec(),
)
URL = "https://hooks.example.com:8443/in/T0KEN-IN-PATH?sig=query-credential"


def config(**env: str) -> TracingConfig | None:
    return tracing_config(env, "hookline-worker")


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"OTEL_SERVICE_NAME": "billing"},  # a name alone exports nothing
        {"OTEL_EXPORTER_OTLP_ENDPOINT": ""},
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_TRACES_EXPORTER": "none"},
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_SDK_DISABLED": "true"},
    ],
)
def test_off_unless_an_exporter_is_asked_for(env):
    assert config(**env) is None


@pytest.mark.parametrize(
    ("env", "exporters"),
    [
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, ("otlp",)),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"}, ("otlp",)),
        ({"OTEL_TRACES_EXPORTER": "otlp"}, ("otlp",)),  # the SDK's default endpoint
        ({"OTEL_TRACES_EXPORTER": "console"}, ("console",)),
        ({"OTEL_TRACES_EXPORTER": "OTLP, console,otlp"}, ("otlp", "console")),
        (
            {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"},
            ("otlp",),
        ),
        # gRPC asked for logs or metrics only says nothing about traces.
        (
            {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf"},
            ("otlp",),
        ),
    ],
)
def test_on_with_an_endpoint_or_an_exporter(env, exporters):
    assert config(**env) == TracingConfig("hookline-worker", exporters, "/healthz,/metrics")


def test_service_name_follows_the_sdk_order():
    on = {"OTEL_TRACES_EXPORTER": "console"}
    assert config(**on).service_name == "hookline-worker"
    resource = {"OTEL_RESOURCE_ATTRIBUTES": "team=core, service.name=hooks-eu"}
    assert config(**on, **resource).service_name == "hooks-eu"
    assert config(**on, **resource, OTEL_SERVICE_NAME="hooks-us").service_name == "hooks-us"
    excluded = config(**on, OTEL_PYTHON_FASTAPI_EXCLUDED_URLS="/docs").excluded_urls
    assert excluded == "/docs"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
            "OTEL_EXPORTER_OTLP_PROTOCOL=grpc: hookline sends OTLP over http/protobuf only",
        ),
        (
            {
                "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318",
                "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
                "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/json",
            },
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=http/json",
        ),
        ({"OTEL_TRACES_EXPORTER": "zipkin"}, "not zipkin"),
    ],
)
def test_what_hookline_does_not_export_is_refused(env, message):
    with pytest.raises(TracingError, match=message):
        config(**env)


def test_the_command_line_says_so_in_one_line(tmp_path):
    env = os.environ | {
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
        "HOOKLINE_DATA_DIR": str(tmp_path),
    }
    done = subprocess.run(
        [sys.executable, "-m", "hookline.cli", "worker"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "hookline: tracing: OTEL_EXPORTER_OTLP_PROTOCOL=grpc: hookline sends OTLP over "
        "http/protobuf only (a collector's port 4318); set "
        "OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf or unset it"
    ]


def test_off_costs_no_span_no_header_no_interceptor():
    assert tracing.setup_tracing("hookline-api", env={}) is None
    assert not tracing.enabled()
    assert tracing.tracing_interceptors() == []
    span = tracing.attempt_span(TARGET, "user.created", 1, URL)
    assert span.headers == {}
    span.end(200, "success", None)  # nothing to end


@pytest.fixture
async def traced():
    spans = InMemorySpanExporter()
    provider = tracing.setup_tracing("hookline-test", env={}, exporter=spans)
    yield spans, provider.get_tracer("tests")
    await tracing.shutdown_tracing(provider)
    assert not tracing.enabled()


async def test_an_attempt_span_says_how_it_went_and_nothing_secret(traced):
    exporter, tracer = traced
    assert tracing.enabled() and len(tracing.tracing_interceptors()) == 1
    with tracer.start_as_current_span("RunActivity:deliver") as activity:
        span = tracing.attempt_span(TARGET, "user.created", 3, URL)
        headers = span.headers
        span.end(None, "retry", f"ConnectError: could not reach {URL}")
        span.end(None, "retry", "ended twice: the second is a no-op")
    [attempt] = [s for s in exporter.get_finished_spans() if s.name == tracing.ATTEMPT_SPAN]
    assert attempt.kind is SpanKind.CLIENT
    assert attempt.parent.span_id == activity.get_span_context().span_id
    assert set(headers) == {"traceparent"}  # no baggage to receivers
    assert traced_by(headers["traceparent"]) == (
        attempt.context.trace_id,
        attempt.context.span_id,
    )
    assert attempt.status.status_code is StatusCode.ERROR
    assert dict(attempt.attributes) == {
        "hookline.webhook.id": "wh_1",
        "hookline.delivery.id": "dlv_1",
        "hookline.event.id": "evt_1",
        "hookline.event.type": "user.created",
        "hookline.tenant.id": "ten_1",
        "hookline.attempt": 3,
        "hookline.series": 0,
        "hookline.trigger": "scheduled",
        "hookline.outcome": "retry",
        "hookline.error": "ConnectError: could not reach https://hooks.example.com:8443/…",
        "http.request.method": "POST",
        "url.scheme": "https",
        "server.address": "hooks.example.com",
        "server.port": 8443,
    }
    assert_no_leak([attempt], "whsec_unused", {}, "query-credential", "T0KEN-IN-PATH")
