"""What tracing costs one delivery attempt in the process that makes it (infra/tracing.py).

    .venv/bin/python -m bench.tracing_cost [N]

Times N `attempt_span()` + `end()` pairs (the whole per-attempt hunk of
`DeliveryActivities._attempt`): with tracing off, then on with the SDK exporting each span at
once to an exporter that drops it (no network: the in-process part only). Best of 5 rounds.
"""

from __future__ import annotations

import asyncio
import sys
import timeit

from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from hookline.core.models import DeliverInput, RetrySpec
from hookline.infra import tracing

TARGET = DeliverInput(
    event_id="evt_1", tenant_id="ten_1", webhook_id="wh_1", delivery_id="dlv_1", retry=RetrySpec()
)


class Dropped(SpanExporter):
    def export(self, spans) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def attempt() -> None:
    span = tracing.attempt_span(TARGET, "user.created", 1, "https://hooks.example.com/in")
    span.end(200, "success", None)


def per_call(n: int) -> float:
    return min(timeit.repeat(attempt, number=n, repeat=5)) / n


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000
    off = per_call(n)
    provider = tracing.setup_tracing("bench", env={}, exporter=Dropped())
    try:
        on = per_call(n)
    finally:
        asyncio.run(tracing.shutdown_tracing(provider))
    print(f"tracing off: {off * 1e9:.0f} ns per attempt")
    print(f"tracing on:  {on * 1e6:.1f} µs per attempt (span, traceparent, export to a no-op)")


if __name__ == "__main__":
    main()
