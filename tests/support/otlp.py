"""Spans for tests: decoded from OTLP/HTTP requests (protobuf `ExportTraceServiceRequest`) or
taken from the SDK's in-memory exporter, in one shape; and the checks the tracing tests share.

An OTLP/HTTP collector is the test `Receiver` (tests/support/receiver.py) answering
`POST /v1/traces`: point `OTEL_EXPORTER_OTLP_ENDPOINT` at `receiver.url("")` and read
`otlp_spans(receiver)`.
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from tests.support.receiver import Receiver, Reply

TRACES_PATH = "/v1/traces"


@dataclass(frozen=True)
class Span:
    name: str
    trace_id: int
    span_id: int
    parent_id: int  # 0: a root span
    service: str
    attributes: dict[str, Any] = field(default_factory=dict)

    def text(self) -> str:
        """Everything the span says, as one string (for leak checks)."""
        return json.dumps([self.name, self.service, self.attributes], default=str)


def accept_otlp(receiver: Receiver) -> None:
    """`POST /v1/traces` answered as a collector does: 200 with an empty response message."""
    receiver.script(
        TRACES_PATH, Reply(200, headers={"content-type": "application/x-protobuf"}, body=b"")
    )


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _value(kv.value) for kv in value.kvlist_value.values}
    return getattr(value, kind) if kind else None


def decode(body: bytes, encoding: str = "") -> list[Span]:
    """The spans of one OTLP/HTTP protobuf export request."""
    if encoding == "gzip":
        body = gzip.decompress(body)
    elif encoding == "deflate":
        body = zlib.decompress(body)
    request = ExportTraceServiceRequest.FromString(body)
    spans = []
    for resource_spans in request.resource_spans:
        resource = {kv.key: _value(kv.value) for kv in resource_spans.resource.attributes}
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                spans.append(
                    Span(
                        name=span.name,
                        trace_id=int.from_bytes(span.trace_id, "big"),
                        span_id=int.from_bytes(span.span_id, "big"),
                        parent_id=int.from_bytes(span.parent_span_id or b"\0", "big"),
                        service=resource.get("service.name", ""),
                        attributes={kv.key: _value(kv.value) for kv in span.attributes},
                    )
                )
    return spans


def otlp_spans(receiver: Receiver) -> list[Span]:
    """Every span the receiver got on /v1/traces so far."""
    return [
        span
        for request in receiver.for_path(TRACES_PATH)
        for span in decode(request.body, request.headers.get("content-encoding", ""))
    ]


def sdk_spans(spans: Iterable[Any]) -> list[Span]:
    """ReadableSpans (e.g. from InMemorySpanExporter) in the same shape."""
    return [
        Span(
            name=s.name,
            trace_id=s.context.trace_id,
            span_id=s.context.span_id,
            parent_id=s.parent.span_id if s.parent else 0,
            service=str(s.resource.attributes.get("service.name", "")),
            attributes=dict(s.attributes or {}),
        )
        for s in spans
    ]


def traced_by(header: str) -> tuple[int, int]:
    """The (trace id, span id) of a W3C `traceparent` header; asserts it is well formed
    and sampled (flag bit 0; bit 1 is the level-2 "random trace id" flag)."""
    version, trace_id, span_id, flags = header.split("-")
    assert (version, len(trace_id), len(span_id), len(flags)) == ("00", 32, 16, 2), header
    assert int(flags, 16) & 1, f"not sampled: {header}"
    return int(trace_id, 16), int(span_id, 16)


def _leaves(data: Any) -> Iterable[str]:
    if isinstance(data, dict):
        for value in data.values():
            yield from _leaves(value)
    elif isinstance(data, list):
        for value in data:
            yield from _leaves(value)
    else:
        yield str(data)


def assert_no_leak(spans: Iterable[Any], secret: str, payload: dict, *more: str) -> None:
    """No span names or carries the secret (either form), a payload value, or `more`."""
    spans = [s if isinstance(s, Span) else sdk_spans([s])[0] for s in spans]
    forbidden = [secret, secret.removeprefix("whsec_"), *_leaves(payload), *more]
    for span in spans:
        text = span.text()
        leaked = [f for f in forbidden if f in text]
        assert not leaked, f"span {span.name} carries {leaked}: {text}"
