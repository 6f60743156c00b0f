"""Schemas of events, deliveries and attempts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from hookline.api.schemas.common import Instant, StoreText
from hookline.core.models import CHUNK_SIZE


class PublishEvent(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "type": "user.created",
                    "data": {"id": "usr_789012", "email": "newuser@example.com"},
                }
            ]
        },
    )

    type: str = Field(min_length=1, max_length=200, examples=["user.created"])
    data: dict[str, Any] = Field(default_factory=dict)
    id: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        pattern=r"^[A-Za-z0-9_.:\-]+$",
        description="Your idempotency key: the same id publishes once (also Idempotency-Key).",
    )


class PublishBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    events: list[PublishEvent] = Field(min_length=1, max_length=100)


class EventOut(BaseModel):
    id: str = Field(examples=["evt_123456"])
    type: str = Field(examples=["user.created"])
    created: datetime
    status: str = Field(examples=["awaiting-executing"])
    idempotency_key: str | None = None


class BatchEventOut(EventOut):
    replayed: bool = Field(
        description="This event's id was published before: the answer is that event, and "
        "nothing more is delivered (a single publish says so with `Idempotent-Replayed`)."
    )


class Stage(BaseModel):
    stage: str
    at: datetime
    detail: str = ""


class AttemptOut(BaseModel):
    id: str
    delivery_id: str
    webhook_id: str
    number: int
    series: int
    trigger: str
    url: str
    status_code: int | None
    response_body: str | None
    error: str | None
    outcome: str
    duration_ms: int
    started_at: datetime
    request_headers: dict[str, str] | None = Field(
        default=None,
        description="The request's headers as sent: hookline's own, with the signatures "
        "(HMACs of the body; the secret is never recorded), and the webhook's custom headers "
        "with their values masked. Null for attempts recorded before hookline recorded them.",
    )
    response_headers: dict[str, str] | None = Field(
        default=None,
        description="The response's headers (a repeated one's values joined with \", \"), "
        "bounded: at most 64 names and 16 KiB. Null when no response came.",
    )


class DeliveryOut(BaseModel):
    id: str
    event_id: str
    webhook_id: str
    event_type: str
    status: str
    attempts: int
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    delivered_at: datetime | None
    next_attempt_at: datetime | None = Field(
        default=None,
        description="When the retry this pending delivery waits for is due; null when none.",
    )


class DeliveryDetail(DeliveryOut):
    attempt_history: list[AttemptOut] = Field(default_factory=list)


class EventDetail(EventOut):
    data: dict[str, Any]
    tenant: str
    expires_at: datetime
    stages: list[Stage]
    deliveries: list[DeliveryDetail]


class RedeliverRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    webhook_ids: list[StoreText] | None = Field(
        default=None,
        min_length=1,  # an empty list is not "every failed one": leave the field out for that
        max_length=CHUNK_SIZE,
        description="Only these webhooks' deliveries (1 to 500); left out: every failed one.",
    )


class BulkRedeliverRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Empty is not "any": a body built from an unset variable must not widen the job to
    # every type (leave the field out for that).
    webhook_id: StoreText | None = Field(default=None, min_length=1)
    type: StoreText | None = Field(default=None, min_length=1, max_length=200)
    since: Instant | None = None
    until: Instant | None = None


class RedeliverResult(BaseModel):
    scheduled: int = Field(description="Deliveries scheduled for a new, manual series")
    events: int = Field(description="Events concerned")
    delivery_ids: list[str] = Field(default_factory=list)
    expired: list[str] = Field(default_factory=list)
    not_scheduled: dict[str, str] = Field(
        default_factory=dict,
        description="Deliveries asked for but not redelivered, by id, with why: still in "
        "flight (its current series goes on; ask again once it has ended), or its webhook "
        "inactive (activate it, then redeliver) or deleted.",
    )


class RedeliverResponse(BaseModel):
    success: bool = True
    message: str
    data: RedeliverResult


class WebhookStats(BaseModel):
    webhook_id: str
    window_seconds: int
    since: datetime
    deliveries: int
    succeeded: int
    failed: int
    pending: int
    success_rate: float | None
    attempts: int
    attempts_by_class: dict[str, int]
    latency_ms_p50: float | None = Field(
        description="Over the window's latest answered attempts (at most 10,000); an attempt "
        "with no answer (a timeout, a refused connection) counts in `network`"
    )
    latency_ms_p95: float | None
    latency_attempts: int = Field(description="The answered attempts the percentiles are over")
    failing_since: datetime | None
    status: str
