"""Tracing with OpenTelemetry: off unless the standard OTEL_* variables ask for it.

`tracing_config(env, service)` is pure. `setup_tracing(service)` builds the tracer provider,
once per process, at its entry point (the API's lifespan, `worker.run_worker`), and
`shutdown_tracing` flushes it at exit. The rest of the code calls `tracing_interceptors()`
(Temporal's TracingInterceptor on the client, inherited by its workers) and `attempt_span()`
(one span per delivery attempt, whose W3C `traceparent` the request carries): both cost one
check while tracing is off, and the OpenTelemetry SDK is then never imported.

The exporter, its endpoint, headers, timeout and the batch and sampler settings are the SDK's
own standard variables (OTEL_EXPORTER_OTLP_*, OTEL_BSP_*, OTEL_TRACES_SAMPLER...).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from opentelemetry import trace
from opentelemetry.trace import ProxyTracerProvider, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from hookline.core.models import DeliverInput

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter

ENDPOINT_VARS = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
EXPORTERS = ("otlp", "console")
PROTOCOL = "http/protobuf"
ATTEMPT_SPAN = "webhook.attempt"
# Probes and scrapes are not worth a trace each (OTEL_PYTHON_FASTAPI_EXCLUDED_URLS overrides).
EXCLUDED_URLS = "/healthz,/metrics"

# Only the W3C trace context goes to receivers: never baggage, which may carry internal data.
_W3C = TraceContextTextMapPropagator()
_tracer: trace.Tracer | None = None  # set by setup_tracing: None means off


class TracingError(ValueError):
    """The OTEL_* variables ask for something hookline does not do."""


@dataclass(frozen=True)
class TracingConfig:
    service_name: str
    exporters: tuple[str, ...]  # "otlp" (over HTTP/protobuf) and/or "console"
    excluded_urls: str  # API paths without server spans


def tracing_config(env: Mapping[str, str], default_service: str) -> TracingConfig | None:
    """None unless an OTLP endpoint or OTEL_TRACES_EXPORTER is set (and the SDK not disabled).
    Raises TracingError for an exporter or OTLP protocol hookline does not support."""
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    names = [n.strip().lower() for n in env.get("OTEL_TRACES_EXPORTER", "").split(",")]
    names = [n for n in names if n]
    if not names:
        if not any(env.get(var, "").strip() for var in ENDPOINT_VARS):
            return None
        names = ["otlp"]
    if names == ["none"]:
        return None
    unknown = [n for n in names if n not in EXPORTERS]
    if unknown:
        raise TracingError(
            f"OTEL_TRACES_EXPORTER={','.join(names)}: hookline exports traces with "
            f"'otlp' (over HTTP/protobuf) or 'console', not {', '.join(unknown)}"
        )
    if "otlp" in names:
        var = next(
            (
                v
                for v in ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL")
                if env.get(v)
            ),
            None,
        )
        if var and env[var].strip() != PROTOCOL:
            raise TracingError(
                f"{var}={env[var]}: hookline sends OTLP over {PROTOCOL} only "
                f"(a collector's port 4318); set {var}={PROTOCOL} or unset it"
            )
    return TracingConfig(
        service_name=_service_name(env) or default_service,
        exporters=tuple(dict.fromkeys(names)),
        excluded_urls=env.get("OTEL_PYTHON_FASTAPI_EXCLUDED_URLS", EXCLUDED_URLS),
    )


def _service_name(env: Mapping[str, str]) -> str | None:
    """OTEL_SERVICE_NAME, else `service.name` in OTEL_RESOURCE_ATTRIBUTES (the SDK's order)."""
    if env.get("OTEL_SERVICE_NAME", "").strip():
        return env["OTEL_SERVICE_NAME"].strip()
    for pair in env.get("OTEL_RESOURCE_ATTRIBUTES", "").split(","):
        key, _, value = pair.partition("=")
        if key.strip() == "service.name" and value.strip():
            return value.strip()
    return None


def check_env(default_service: str) -> None:
    """For the command line: a bad OTEL_* setting ends the process with one line."""
    try:
        tracing_config(os.environ, default_service)
    except TracingError as exc:
        raise SystemExit(f"hookline: tracing: {exc}") from None


def setup_tracing(
    service_name: str,
    *,
    env: Mapping[str, str] | None = None,
    exporter: SpanExporter | None = None,
) -> TracerProvider | None:
    """The process's tracer provider, or None while tracing is off. `service_name` is the
    default when OTEL_SERVICE_NAME is unset. `exporter` (e.g. an InMemorySpanExporter) turns
    tracing on whatever the env says and receives every span as it ends."""
    global _tracer
    config = tracing_config(os.environ if env is None else env, service_name)
    if config is None and exporter is None:
        return None
    # Imported only when on: the SDK and the exporter cost nothing to a process without tracing.
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        ConsoleSpanExporter,
        SimpleSpanProcessor,
    )

    name = config.service_name if config else service_name
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: name}))
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    for kind in config.exporters if config else ():
        if kind == "otlp":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        else:
            provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    # The global one serves the FastAPI instrumentation (and any other); it can be set once.
    if isinstance(trace.get_tracer_provider(), ProxyTracerProvider):
        trace.set_tracer_provider(provider)
    _tracer = provider.get_tracer("hookline")
    return provider


async def shutdown_tracing(provider: TracerProvider | None) -> None:
    """Exports the spans still batched, then stops (off the event loop: an unreachable
    collector can take the exporter's timeout)."""
    global _tracer
    if provider is None:
        return
    _tracer = None
    await asyncio.to_thread(provider.shutdown)


def enabled() -> bool:
    return _tracer is not None


def tracing_interceptors() -> list[Any]:
    """For `Client.connect(interceptors=...)`: a workflow start then carries the trace context,
    and every worker built from that client continues it (workflow, activities, attempts)."""
    if _tracer is None:
        return []
    from temporalio.contrib.opentelemetry import TracingInterceptor

    return [TracingInterceptor(_tracer)]


def instrument_app(app: Any, default_service: str = "hookline-api") -> None:
    """FastAPI server spans, when the env turns tracing on. Called where the app is built:
    the middleware must be in place before the app's first call (its lifespan)."""
    config = tracing_config(os.environ, default_service)
    if config is None:
        return
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    # The global tracer provider: setup_tracing sets it in the lifespan, before any request.
    FastAPIInstrumentor.instrument_app(
        app, excluded_urls=config.excluded_urls, exclude_spans=["receive", "send"]
    )


class AttemptSpan:
    """One delivery attempt. `headers` hold its `traceparent` for the webhook request;
    `end()` records how the attempt went. Attributes are ids, type, numbers and the error
    text: never the secret, the payload or the URL's path and query."""

    __slots__ = ("_hidden", "_span", "headers")

    def __init__(self, span: trace.Span | None, hidden: tuple[tuple[str, str], ...] = ()) -> None:
        self._span, self._hidden = span, hidden
        self.headers: dict[str, str] = {}
        if span is not None:
            _W3C.inject(self.headers, context=trace.set_span_in_context(span))

    def end(self, status_code: int | None, outcome: str, error: str | None) -> None:
        span = self._span
        if span is None:
            return
        self._span = None
        if status_code is not None:
            span.set_attribute("http.response.status_code", status_code)
        span.set_attribute("hookline.outcome", str(outcome))
        if error:
            for text, shown in self._hidden:  # should an error quote the URL
                error = error.replace(text, shown)
            span.set_attribute("hookline.error", error)
        if str(outcome) != "success":
            span.set_status(Status(StatusCode.ERROR, error or f"HTTP {status_code}"))
        span.end()


_OFF = AttemptSpan(None)


def attempt_span(target: DeliverInput, event_type: str, attempt: int, url: str) -> AttemptSpan:
    """Starts the span of one attempt, a child of the current one (the activity's). An attempt
    cut off by cancellation is not ended, so not exported: its activity span shows why."""
    if _tracer is None:
        return _OFF
    parts = urlsplit(url)
    attributes: dict[str, Any] = {
        "hookline.webhook.id": target.webhook_id,
        "hookline.delivery.id": target.delivery_id,
        "hookline.event.id": target.event_id,
        "hookline.event.type": event_type,
        "hookline.tenant.id": target.tenant_id,
        "hookline.attempt": attempt,
        "hookline.series": target.series,
        "hookline.trigger": str(target.trigger),
        "http.request.method": "POST",
        "url.scheme": parts.scheme,
        # Only the host and port: paths and queries of webhook URLs often hold tokens.
        "server.address": parts.hostname or "",
    }
    with contextlib.suppress(ValueError):  # a bad port: the attempt's error says so
        if parts.port is not None:
            attributes["server.port"] = parts.port
    span = _tracer.start_span(ATTEMPT_SPAN, kind=SpanKind.CLIENT, attributes=attributes)
    origin = f"{parts.scheme}://{parts.netloc}"
    hidden = ((url, f"{origin}/…"), (parts.query, "…")) if parts.query else ((url, f"{origin}/…"),)
    return AttemptSpan(span, hidden)
