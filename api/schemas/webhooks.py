"""Schemas of webhooks: create, update, read, the circuit, secret rotation."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from hookline.api.schemas.common import Description, one_line
from hookline.core import retry
from hookline.core.headers import MASKED_VALUE

MASKED_SECRET = "whsec_" + "•" * 30
MASKED_HEADER = MASKED_VALUE  # a header value as reads show it; in a PUT: keep the value it has
MAX_EVENTS = 100
MAX_METADATA_KEYS = 20
MAX_METADATA_KEY = 40
MAX_METADATA_VALUE = 500
MAX_GRACE_SECONDS = 7 * 24 * 3600

EventPattern = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
]
WebhookStatus = Literal["active", "inactive"]
# "fifo": the webhook's events are delivered one at a time, in publish order, each after the
# previous one succeeded or failed for good (store/ordering.py). "none": as they come.
Ordering = Literal["none", "fifo"]
MetadataKey = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_METADATA_KEY, pattern=r"^[A-Za-z0-9_.:-]+$"),
]
MetadataValue = Annotated[
    str, StringConstraints(max_length=MAX_METADATA_VALUE), AfterValidator(one_line)
]
Metadata = Annotated[
    dict[MetadataKey, MetadataValue],
    Field(
        max_length=MAX_METADATA_KEYS,
        description=f"Your own labels: at most {MAX_METADATA_KEYS} keys of 1-{MAX_METADATA_KEY} "
        f"letters, digits, `_.:-`, values of at most {MAX_METADATA_VALUE} characters. "
        "Filter the list with `?metadata[key]=value`.",
        examples=[{"team": "billing", "env": "prod"}],
    ),
]
Headers = Annotated[
    dict[str, str],
    Field(
        description="Sent with every delivery and test send. Reserved names (signatures, "
        "Standard Webhooks, `X-Webhook-*`, `Content-Type`, `Content-Length`, `Content-Encoding`, "
        "`Transfer-Encoding`, `Host`, `User-Agent`, trace context, "
        "hop-by-hop) and values with control characters are a 422. Values are masked on read.",
        examples=[{"Authorization": "Bearer s3cr3t", "X-Tenant": "acme"}],
    ),
]


def _dedupe(events: list[str] | None) -> list[str] | None:
    return list(dict.fromkeys(events)) if events is not None else None


class RetryPolicy(BaseModel):
    """A webhook's own retry policy; unset fields follow the server's settings.

    Field names are those of `hookline.core.retry.RetrySpec`, and so are the bounds
    (`retry.BOUNDS`); durations are in seconds.
    """

    # Strict: `true` or "3" for a count is a mistake to report, not a value to guess.
    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={"examples": [{"max_attempts": 8, "initial_interval": 10}]},
    )

    max_attempts: int | None = Field(
        default=None,
        ge=retry.BOUNDS["max_attempts"].low,
        le=retry.BOUNDS["max_attempts"].high,
        description="Attempts in all for transient failures (5xx...).",
    )
    client_error_max_attempts: int | None = Field(
        default=None,
        ge=retry.BOUNDS["client_error_max_attempts"].low,
        le=retry.BOUNDS["client_error_max_attempts"].high,
        description="Attempts in all for 3xx, 4xx (but 408/425/429), 501.",
    )
    initial_interval: float | None = Field(
        default=None,
        ge=retry.BOUNDS["initial_interval"].low,
        le=retry.BOUNDS["initial_interval"].high,
        description="Seconds before the first retry.",
    )
    backoff: float | None = Field(
        default=None,
        ge=retry.BOUNDS["backoff"].low,
        le=retry.BOUNDS["backoff"].high,
        description="Multiplier of the interval after each attempt.",
    )
    max_interval: float | None = Field(
        default=None,
        ge=retry.BOUNDS["max_interval"].low,
        le=retry.BOUNDS["max_interval"].high,
        description="Upper bound of one interval, in seconds.",
    )

    @model_validator(mode="after")
    def _intervals(self) -> RetryPolicy:
        if (
            self.initial_interval is not None
            and self.max_interval is not None
            and self.max_interval < self.initial_interval
        ):
            raise ValueError("max_interval must be at least initial_interval")
        return self

    def stored(self) -> dict[str, Any] | None:
        """What `Webhook.retry_policy` keeps: only the fields that were given."""
        values = self.model_dump(exclude_unset=True, exclude_none=True)
        return values or None


# Admission (store/admission.py), as a webhook's create and update take it.
MaxInFlight = Annotated[
    int | None,
    Field(
        strict=True,
        ge=1,
        le=1000,
        description="Deliveries POSTing to this webhook at once, across every worker; more "
        "wait, throttled, without using up retries. null: the server's default "
        "(HOOKLINE_MAX_IN_FLIGHT_PER_WEBHOOK, 10).",
    ),
]
RateLimit = Annotated[
    int | None,
    Field(
        strict=True,
        ge=1,
        le=10_000,
        description="Deliveries per second at most, across every worker; more wait, "
        "throttled, without using up retries. null: no limit.",
    ),
]


class WebhookCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "url": "https://example.com/webhooks/data-events",
                    "events": ["data.created", "data.updated", "data.deleted"],
                    "description": "Data events webhook for analytics platform",
                }
            ]
        },
    )

    url: str = Field(min_length=1, max_length=2048)
    events: list[EventPattern] = Field(
        min_length=1,
        max_length=MAX_EVENTS,
        description="Event types: exact names, `category.*` or `*`.",
    )
    description: Description | None = None
    filter: dict[str, Any] | None = Field(
        default=None,
        description="Optional MongoDB-style query over {type, data, tenant}.",
        examples=[{"data.changed": {"$in": ["email", "password"]}}],
    )
    retry_policy: RetryPolicy | None = None
    headers: Headers | None = None
    metadata: Metadata | None = None
    max_in_flight: MaxInFlight = None
    rate_limit: RateLimit = None
    ordering: Ordering = Field(
        default="none",
        description="`fifo`: events delivered one at a time, in publish order, each after the "
        "previous one succeeded or failed for good.",
    )

    @model_validator(mode="after")
    def _dedupe_events(self) -> WebhookCreate:
        self.events = _dedupe(self.events) or []
        return self


class WebhookUpdate(BaseModel):
    """Partial update: only the given fields change; `null` clears description, filter,
    retry_policy, headers and metadata. `headers` and `metadata` replace the whole map; a
    header value given as the mask (`••••••••`, as reads show it) keeps its current value."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "events": ["data.created", "data.updated"],
                    "status": "inactive",
                    "description": "Data creation and update events only",
                }
            ]
        },
    )

    url: str | None = Field(default=None, min_length=1, max_length=2048)
    events: list[EventPattern] | None = Field(default=None, min_length=1, max_length=MAX_EVENTS)
    status: WebhookStatus | None = None
    description: Description | None = None
    filter: dict[str, Any] | None = None
    retry_policy: RetryPolicy | None = None
    headers: Headers | None = None
    metadata: Metadata | None = None
    max_in_flight: MaxInFlight = None
    rate_limit: RateLimit = None
    ordering: Ordering | None = None

    @model_validator(mode="after")
    def _not_null(self) -> WebhookUpdate:
        for name in ("url", "events", "status", "ordering"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        self.events = _dedupe(self.events)
        return self


class CircuitChange(BaseModel):
    at: datetime
    event: str


class Circuit(BaseModel):
    """The webhook's circuit breaker: `open` while its recent attempts mostly failed (its
    deliveries wait, no POST); `half-open` while one probe attempt decides; else `closed`."""

    state: str = Field(default="closed", examples=["closed"])
    until: datetime | None = Field(
        default=None, description="Open: when the next probe may go. Half-open: the probe's."
    )
    history: list[CircuitChange] = Field(default_factory=list, description="Last changes.")


class WebhookOut(BaseModel):
    id: str = Field(examples=["wh_123456"])
    url: str = Field(examples=["https://example.com/webhooks/user-events"])
    events: list[str] = Field(examples=[["user.created", "user.updated", "user.deleted"]])
    status: WebhookStatus = Field(examples=["active"])
    status_reason: str | None = Field(
        default=None, description="Why the webhook is inactive when hookline deactivated it."
    )
    description: str | None = Field(
        default=None, examples=["User events webhook for CRM integration"]
    )
    filter: dict[str, Any] | None = None
    retry_policy: dict[str, Any] | None = None
    headers: dict[str, str] = Field(
        default_factory=dict,
        description="Custom headers, values masked.",
        examples=[{"Authorization": MASKED_HEADER}],
    )
    metadata: dict[str, str] = Field(default_factory=dict, examples=[{"team": "billing"}])
    max_in_flight: int | None = Field(
        default=None, description="Deliveries in flight at once; null: the server's default."
    )
    rate_limit: int | None = Field(default=None, description="Deliveries per second at most.")
    ordering: Ordering = Field(default="none", description="`fifo`: one at a time, in order.")
    circuit: Circuit = Field(default_factory=lambda: Circuit())
    created_at: datetime
    updated_at: datetime
    last_triggered: datetime | None = None


class WebhookDetail(WebhookOut):
    secret: str = Field(default=MASKED_SECRET, examples=[MASKED_SECRET])


class WebhookCreated(WebhookOut):
    secret: str = Field(
        description="The signing secret, shown in full this once.",
        examples=["whsec_abcdefghijklmnopqrstuvwxyz1234"],
    )


class RotateRequest(BaseModel):
    # Strict, as the retry policy's counts: "60" or true is a mistake to report, not a guess.
    model_config = ConfigDict(extra="forbid", strict=True)

    grace_period: int | None = Field(
        default=None,
        ge=0,
        le=MAX_GRACE_SECONDS,
        description="Seconds the old secret keeps signing (default: the server's setting).",
    )


class RotatedSecret(BaseModel):
    id: str
    secret: str = Field(description="The new signing secret, shown in full this once.")
    previous_secret_expires_at: datetime | None = Field(
        default=None, description="Until then deliveries are signed with both secrets."
    )
