"""The store: SQLAlchemy 2 tables for Tenant, Token, Webhook, Event, Delivery, Attempt, the
tenants' event types, and the console's sessions."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from hookline.core.json_equality import same_json


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware in and out, on SQLite (which drops the zone) as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class StoredJSON(TypeDecorator[Any]):
    """JSON whose change the ORM sees as JSON has it. SQLAlchemy's JSON compares the old and
    new values with Python's `==`, where `1 == True` and `0 == False`: a PUT from `1` to `true`
    would be left out of the UPDATE, and answered as saved. For the columns an update writes."""

    impl = JSON
    cache_ok = True

    def compare_values(self, x: Any, y: Any) -> bool:
        return same_json(x, y)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON, list[str]: JSON}


class Tenant(Base):
    __tablename__ = "tenants"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Token(Base):
    __tablename__ = "tokens"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    # SHA-256 of the token: tokens are 256-bit random, so a fast hash is enough.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    scopes: Mapped[list[str]] = mapped_column(default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)


class Webhook(Base):
    __tablename__ = "webhooks"
    __table_args__ = (Index("ix_webhooks_tenant_created", "tenant_id", "created_at", "id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(Text)
    events: Mapped[list[str]] = mapped_column(default=list)
    description: Mapped[str | None] = mapped_column(Text, default=None)
    filter: Mapped[dict[str, Any] | None] = mapped_column(StoredJSON, default=None)
    retry_policy: Mapped[dict[str, Any] | None] = mapped_column(StoredJSON, default=None)
    status: Mapped[str] = mapped_column(String(16), default="active")
    status_reason: Mapped[str | None] = mapped_column(Text, default=None)
    # Secrets at rest: encrypted with HOOKLINE_ENCRYPTION_KEY when set (core/secrets.py).
    secret: Mapped[str] = mapped_column(Text)
    previous_secret: Mapped[str | None] = mapped_column(Text, default=None)
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    last_triggered: Mapped[datetime | None] = mapped_column(default=None)
    failing_since: Mapped[datetime | None] = mapped_column(default=None)
    # Custom headers sent with every delivery: {name: value}, each value sealed as the secret
    # is (values may be credentials; names are not secret). None: no headers.
    headers: Mapped[dict[str, Any] | None] = mapped_column(StoredJSON, default=None)
    # The tenant's own labels {key: value} (`metadata` is SQLAlchemy's name for the schema).
    metadata_: Mapped[dict[str, Any] | None] = mapped_column("metadata", StoredJSON, default=None)
    # Deliveries in flight to this webhook at once, across every process; None: the setting
    # HOOKLINE_MAX_IN_FLIGHT_PER_WEBHOOK. More wait durably (store/admission.py).
    max_in_flight: Mapped[int | None] = mapped_column(Integer, default=None)
    # Deliveries per second at most, across every process (None: no limit); `rate_tat` is
    # the limiter's state (GCRA: when the next delivery is due).
    rate_limit: Mapped[int | None] = mapped_column(Integer, default=None)
    rate_tat: Mapped[datetime | None] = mapped_column(default=None)
    # The same over the deliveries actually admitted, with a second's worth of burst: booked
    # slots whose timers fire late together pass at most that at once.
    rate_burst_tat: Mapped[datetime | None] = mapped_column(default=None)
    # The circuit breaker (store/admission.py): its state, until when it stays open, the
    # recent attempts it counts, and its last transitions.
    breaker_state: Mapped[str] = mapped_column(String(16), default="closed")
    breaker_until: Mapped[datetime | None] = mapped_column(default=None)
    breaker_opened: Mapped[int] = mapped_column(Integer, default=0)  # times in a row
    window_start: Mapped[datetime | None] = mapped_column(default=None)
    window_attempts: Mapped[int] = mapped_column(Integer, default=0)
    window_failures: Mapped[int] = mapped_column(Integer, default=0)
    breaker_history: Mapped[list[Any] | None] = mapped_column(StoredJSON, default=None)
    # The moving average of its attempts' durations (ms; None: none yet): whether admission
    # lets it have the default cap's burst (store/admission.py).
    latency_ms: Mapped[int | None] = mapped_column(Integer, default=None)
    # "fifo": its deliveries go one at a time in publish order (store/ordering.py); "none".
    ordering: Mapped[str] = mapped_column(String(8), default="none", server_default="none")

    # Bumped by every change through the API (not by deliveries' bookkeeping, which writes
    # other columns): a change is written only over the version it read (StaleDataError
    # otherwise), so two concurrent PUTs or rotations never mix or lose one another.
    version: Mapped[int] = mapped_column(Integer, default=1, server_default=text("1"))

    __mapper_args__ = {"version_id_col": version}


class DeliveryLease(Base):
    """A delivery POSTing now (store/admission.py): held from admission to the recording of
    its attempt, or until `expires_at` (its process died mid-POST)."""

    __tablename__ = "delivery_leases"
    __table_args__ = (Index("ix_delivery_leases_webhook", "webhook_id", "expires_at"),)

    delivery_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    webhook_id: Mapped[str] = mapped_column(String(40))
    expires_at: Mapped[datetime] = mapped_column()


class EventType(Base):
    """A tenant's own event type, beside the built-in catalog (core/catalog.py). Archived
    types stay (events keep their history) but take no new subscription nor publish."""

    __tablename__ = "event_types"
    __table_args__ = (UniqueConstraint("tenant_id", "name", name="uq_event_types_tenant_name"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    # JSON Schema draft 2020-12 of the events' `data`; None: any object.
    json_schema: Mapped[dict[str, Any] | None] = mapped_column("schema", StoredJSON, default=None)
    example: Mapped[dict[str, Any] | None] = mapped_column(StoredJSON, default=None)
    # Bumped by every change: compiled validators are cached per (tenant, name, version). The
    # ORM writes a change only over the version it read (StaleDataError otherwise), so two
    # concurrent changes never share a version, nor does one undo the other.
    version: Mapped[int] = mapped_column(Integer, default=1)
    archived_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    __mapper_args__ = {"version_id_col": version, "version_id_generator": False}


class Event(Base):
    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_tenant_created", "tenant_id", "created", "id"),
        Index("ix_events_status", "status"),  # the open-events gauge
        Index("ix_events_expires_at", "expires_at"),  # the expiry sweep (store/retention.py)
        # Searching a tenant's events by idempotency key (the console's and the API's `q`).
        Index("ix_events_tenant_idempotency_key", "tenant_id", "idempotency_key"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(200))
    data: Mapped[dict[str, Any]] = mapped_column()
    idempotency_key: Mapped[str | None] = mapped_column(String(200), default=None)
    created: Mapped[datetime] = mapped_column()
    status: Mapped[str] = mapped_column(String(32), default="awaiting-executing")
    # Stages of the event history (seed 003): [{"stage", "at", "detail"}].
    stages: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    expires_at: Mapped[datetime] = mapped_column()


class Delivery(Base):
    __tablename__ = "deliveries"
    __table_args__ = (
        # Covering: the console's and the stats' counts by status read only the index.
        Index("ix_deliveries_webhook_created_status", "webhook_id", "created_at", "status"),
        Index("ix_deliveries_tenant_status", "tenant_id", "status"),
        # Ordered delivery's lookups (store/ordering.py): a webhook's pending deliveries in
        # publish order, however many ended ones its 7 days hold.
        Index(
            "ix_deliveries_pending_by_webhook",
            "webhook_id",
            "created_at",
            "id",
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
        # The parked ones (waiting for a slot or a turn), woken oldest first.
        Index(
            "ix_deliveries_parked_by_webhook",
            "webhook_id",
            "created_at",
            "id",
            sqlite_where=text("status = 'pending' AND parked IS 1"),
            postgresql_where=text("status = 'pending' AND parked IS true"),
        ),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(40))
    event_id: Mapped[str] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    # No FK: deliveries outlive a deleted webhook for their 7 days of history.
    webhook_id: Mapped[str] = mapped_column(String(40))
    event_type: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_status_code: Mapped[int | None] = mapped_column(default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    # A redelivery asked for and not attempted yet (store/claims.py).
    redelivery_requested_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(default=None)
    # When the retry an attempt asked for is due (now + the decision's delay, the one the
    # workflow's timer or Temporal's RetryPolicy waits); None once the delivery has ended.
    next_attempt_at: Mapped[datetime | None] = mapped_column(default=None)
    # Not admitted for want of a slot (its webhook's deliveries in flight) or of its turn
    # (fifo): it waits on a long timer, and the delivery that frees the slot wakes it
    # (store/ordering.py). False once woken or attempted.
    parked: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class Attempt(Base):
    __tablename__ = "attempts"
    __table_args__ = (
        Index("ix_attempts_delivery_started", "delivery_id", "started_at"),
        # Covering: a webhook's stats and the console's sparklines read only the index.
        Index(
            "ix_attempts_webhook_started",
            "webhook_id",
            "started_at",
            "status_code",
            "duration_ms",
        ),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(40))
    delivery_id: Mapped[str] = mapped_column(ForeignKey("deliveries.id", ondelete="CASCADE"))
    event_id: Mapped[str] = mapped_column(String(40), index=True)
    webhook_id: Mapped[str] = mapped_column(String(40))
    number: Mapped[int] = mapped_column(Integer)  # 1-based within its series
    series: Mapped[int] = mapped_column(Integer, default=0)  # 0 = scheduled, n = nth redelivery
    trigger: Mapped[str] = mapped_column(String(16))  # scheduled | manual
    url: Mapped[str] = mapped_column(Text)
    status_code: Mapped[int | None] = mapped_column(default=None)
    response_body: Mapped[str | None] = mapped_column(Text, default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    outcome: Mapped[str] = mapped_column(String(16))  # success | retry | fail
    duration_ms: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column()
    # The request's headers as sent (hookline's own, signatures included: HMACs, never the
    # secret; the webhook's custom header values masked) and the response's, bounded
    # (delivery/send.py). None: recorded before 0009, or no request was made.
    request_headers: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    response_headers: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)


class ConsoleSession(Base):
    """A console sign-in of one tenant (api/console/): a single-use login link, then a session
    cookie. Only SHA-256 hashes of the two tokens are kept."""

    __tablename__ = "console_sessions"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    # The token that asked for it: revoked, the link no longer signs in and the session ends.
    token_id: Mapped[str | None] = mapped_column(
        ForeignKey("tokens.id", ondelete="CASCADE"), index=True, default=None
    )
    # The scopes of the token that asked for it: a session never grants more.
    scopes: Mapped[list[str]] = mapped_column(default=list)
    login_hash: Mapped[str] = mapped_column(String(64), unique=True)
    login_expires_at: Mapped[datetime] = mapped_column()
    used_at: Mapped[datetime | None] = mapped_column(default=None)
    session_hash: Mapped[str | None] = mapped_column(String(64), unique=True, default=None)
    expires_at: Mapped[datetime | None] = mapped_column(default=None)
    ended_at: Mapped[datetime | None] = mapped_column(default=None)  # signed out
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
