"""What the API answers, as typed models of the client's own (``hookline.client`` imports no
server code). Fields the server adds later are kept (``extra="allow"``), never refused."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")

__all__ = [
    "Attempt",
    "Delivery",
    "Event",
    "EventDetail",
    "EventType",
    "FilterTestResult",
    "Meta",
    "NewEvent",
    "Page",
    "RedeliverResult",
    "RotatedSecret",
    "Stage",
    "WebhookEndpoint",
    "WebhookTestDetails",
    "WebhookTestResult",
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class Meta(_Model):
    total: int
    page: int
    limit: int
    pages: int


class Page(_Model, Generic[T]):
    """One page of a list: ``data`` and ``meta`` (``total``, ``page``, ``limit``, ``pages``)."""

    data: list[T]
    meta: Meta


# --------------------------------------------------------------------------- events


class NewEvent(_Model):
    """An event to publish in a batch. Without ``id`` the client gives it a UUID, so a retry
    of the batch publishes each event once."""

    model_config = ConfigDict(extra="forbid")

    type: str
    data: dict[str, Any] = Field(default_factory=dict)
    id: str | None = None


class Event(_Model):
    id: str
    type: str
    created: datetime
    status: str
    idempotency_key: str | None = None
    replayed: bool = Field(
        default=False,
        description="Publish and publish_batch only: the API answered an earlier publish of "
        "the same key (Idempotent-Replayed: true, or the batch item's `replayed`) and delivers "
        "nothing more.",
    )


class Stage(_Model):
    stage: str
    at: datetime
    detail: str = ""


class Attempt(_Model):
    id: str
    delivery_id: str
    webhook_id: str
    number: int
    series: int
    trigger: str
    url: str
    status_code: int | None = None
    response_body: str | None = None
    error: str | None = None
    outcome: str
    duration_ms: int
    started_at: datetime


class Delivery(_Model):
    id: str
    event_id: str
    webhook_id: str
    event_type: str
    status: str
    attempts: int
    last_status_code: int | None = None
    last_error: str | None = None
    created_at: datetime
    updated_at: datetime
    delivered_at: datetime | None = None
    next_attempt_at: datetime | None = None
    attempt_history: list[Attempt] = Field(default_factory=list)


class EventDetail(Event):
    """An event with its stages, its deliveries and every attempt of each."""

    data: dict[str, Any]
    tenant: str
    expires_at: datetime
    stages: list[Stage] = Field(default_factory=list)
    deliveries: list[Delivery] = Field(default_factory=list)


class RedeliverResult(_Model):
    scheduled: int
    events: int
    delivery_ids: list[str] = Field(default_factory=list)
    expired: list[str] = Field(default_factory=list)
    not_scheduled: dict[str, str] = Field(default_factory=dict)  # by id, with why
    message: str = ""


class Job(_Model):
    """A bulk redelivery or a replay: a durable job with its progress (GET /jobs/{id})."""

    id: str
    kind: str
    status: str  # running, completed, cancelled (failed, terminated: ended from outside)
    total: int | None = None
    processed: int = 0
    scheduled: int = 0
    deliveries: int = 0
    skipped: dict[str, int] = Field(default_factory=dict)
    failed: int = 0
    errors: list[str] = Field(default_factory=list)
    started_at: datetime | None = None
    finished_at: datetime | None = None

    @property
    def done(self) -> bool:
        return self.status != "running"


# --------------------------------------------------------------------------- webhooks


class CircuitChange(_Model):
    at: datetime
    event: str


class Circuit(_Model):
    """The webhook's circuit breaker: ``open`` while its recent attempts mostly failed (its
    deliveries wait), ``half-open`` while one probe decides, else ``closed``."""

    state: str
    until: datetime | None = None
    history: list[CircuitChange] = Field(default_factory=list)


class WebhookEndpoint(_Model):
    """A webhook as the API returns it. ``secret`` is whole only in the answer to its creation
    (masked on a read, absent from lists); ``headers`` values are always masked."""

    id: str
    url: str
    events: list[str]
    status: str
    status_reason: str | None = None
    description: str | None = None
    filter: dict[str, Any] | None = None
    retry_policy: dict[str, Any] | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    metadata: dict[str, str] = Field(default_factory=dict)
    max_in_flight: int | None = None  # None: the server's default
    rate_limit: int | None = None  # deliveries per second at most; None: no limit
    ordering: str = "none"  # "fifo": one at a time, in publish order
    circuit: Circuit | None = None
    created_at: datetime
    updated_at: datetime
    last_triggered: datetime | None = None
    secret: str | None = None


class RotatedSecret(_Model):
    id: str
    secret: str
    previous_secret_expires_at: datetime | None = None


class WebhookTestDetails(_Model):
    status_code: int | None = None
    response_time: int
    timestamp: datetime
    event_id: str
    event_type: str
    error: str | None = None
    response_body: str | None = None


class WebhookTestResult(_Model):
    """A test send: ``success`` false (never an exception) when the receiver failed."""

    success: bool
    message: str
    details: WebhookTestDetails


class FilterTestResult(_Model):
    webhook_id: str
    event_type: str
    matched: bool
    reasons: list[str] = Field(default_factory=list)


# --------------------------------------------------------------------------- event types


class EventType(_Model):
    """A built-in type (``source`` ``builtin``/``operator``) or one of the tenant's
    (``tenant``, with ``version``). ``json_schema`` is the API's ``schema`` field."""

    name: str
    description: str = ""
    category: str = ""
    source: str = "builtin"
    json_schema: dict[str, Any] | None = Field(default=None, alias="schema")
    example: dict[str, Any] | None = None
    version: int | None = None
    archived: bool = False
    created_at: datetime | None = None
    updated_at: datetime | None = None
