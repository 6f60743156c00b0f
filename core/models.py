"""Inputs and outputs of the workflow, its activities and signals: one model each, so fields
can be added without breaking running workflows. Nothing secret ever goes in here."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from hookline.core.ids import event_id as new_event_id
from hookline.core.ids import tenant_scoped_event_id
from hookline.core.retry import RetrySpec  # the schedule's owner; re-exported for the models


@dataclass
class SendResult:
    """What one HTTP attempt got: a status code, or an error text (never both missing)."""

    status_code: int | None
    body: str | None
    error: str | None
    duration_ms: int
    retry_after: str | None
    started_at: datetime
    # The attempt inspector's (stored with the attempt, never in a workflow payload): the
    # request's headers as sent, custom header values masked; the response's headers.
    request_headers: dict[str, str] | None = None
    response_headers: dict[str, str] | None = None
    # False: the request never got one of its process's connections, so it tells nothing of
    # the receiver (its breaker, latency and auto-disable clock do not count it).
    sent: bool = True


# The most kept of a response body and of an error text (send() keeps as much or less).
RESPONSE_BODY_CHARS = 4096
ERROR_CHARS = 1024
# The most kept of an attempt's headers (each way): names, values, all of them together.
HEADERS_KEPT = 64
HEADER_NAME_CHARS = 128
HEADER_VALUE_CHARS = 1024
HEADERS_CHARS = 16 * 1024
# NUL: PostgreSQL's text cannot hold it; lone surrogates: not UTF-8, no driver encodes them.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def utc_text(moment: datetime, timespec: str = "auto") -> str:
    """An instant as hookline writes it in text: RFC 3339, in UTC, the zone as `Z`."""
    return moment.astimezone(UTC).isoformat(timespec=timespec).replace("+00:00", "Z")


def storable_text(text: str | None, limit: int) -> str | None:
    """`text` bounded, each NUL and lone surrogate made U+FFFD: what a receiver sent, made
    storable (in SQLite and PostgreSQL text, and in workflow payloads)."""
    if text is None:
        return None
    return _UNSTORABLE.sub("\ufffd", str(text)[:limit])


def storable_headers(headers: Any) -> dict[str, str] | None:
    """Headers (a mapping or (name, value) pairs) as kept with an attempt: each name and value
    bounded and storable, a repeated name's values joined with ", " (RFC 9110 5.3) under its
    first spelling, at most HEADERS_KEPT names and HEADERS_CHARS characters in all (the rest
    is left out). None stays None."""
    if headers is None:
        return None
    pairs = headers.items() if hasattr(headers, "items") else headers
    kept: dict[str, str] = {}
    spelled: dict[str, str] = {}
    size = 0
    for raw_name, raw_value in pairs:
        name = storable_text(str(raw_name), HEADER_NAME_CHARS) or ""
        value = storable_text(str(raw_value), HEADER_VALUE_CHARS) or ""
        key = spelled.get(name.lower())
        if key is None and len(kept) >= HEADERS_KEPT:
            continue
        added = len(value) + (2 if key is not None else len(name))
        if size + added > HEADERS_CHARS:
            continue
        size += added
        if key is None:
            spelled[name.lower()] = name
            kept[name] = value
        else:
            kept[key] = storable_text(f"{kept[key]}, {value}", HEADERS_CHARS) or ""
    return kept


def storable_result(result: SendResult) -> SendResult:
    """`result` with its body excerpt, error text and headers storable (itself when they are)."""
    body = storable_text(result.body, RESPONSE_BODY_CHARS)
    error = storable_text(result.error, ERROR_CHARS)
    sent = storable_headers(result.request_headers)
    answered = storable_headers(result.response_headers)
    if (
        body == result.body
        and error == result.error
        and sent == result.request_headers
        and answered == result.response_headers
    ):
        return result
    return replace(result, body=body, error=error, request_headers=sent, response_headers=answered)


class EventStatus(StrEnum):
    AWAITING = "awaiting-executing"
    EXECUTING = "executing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    EXPIRED = "expired"


def accepted_stage(created: datetime) -> dict[str, str]:
    """An event's first stage, stamped with its creation: the API records it before its 202,
    and accept_event writes the same one when it finds no row yet."""
    return {"stage": EventStatus.AWAITING, "at": created.isoformat(), "detail": "accepted"}


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"


class Trigger(StrEnum):
    SCHEDULED = "scheduled"
    MANUAL = "manual"


class EventWorkflowInput(BaseModel):
    event_id: str
    tenant_id: str
    type: str
    data: dict[str, Any]
    created: datetime
    expires_at: datetime
    idempotency_key: str | None = None
    # Read, never set: the previous release's publishers set it to choose the one-timer
    # window. Versions are now decided by the worker (workflows/event.py, `workflow.patched`);
    # a run recorded with it set keeps the path it took.
    window_timer: bool = False
    # Set by the run that continued as new: accepted already, resume the window with it.
    carried: CarriedState | None = None
    # Set only by the reconciler (infra/reconcile.py) when it starts a fresh run for an event
    # whose run closed without finishing it: why. That run's accept_event records the event
    # failed and reads its deliveries instead of matching and POSTing (attempt 1 is not made
    # again), and the run waits for redeliveries; the reason is in its start (input and
    # static summary/details).
    repair_reason: str | None = None

    @classmethod
    def publish(
        cls,
        tenant_id: str,
        type_: str,
        data: dict[str, Any],
        created: datetime,
        retention: timedelta,
        key: str | None = None,
    ) -> EventWorkflowInput:
        """A new event: its id derived from tenant and idempotency key (random without one),
        its window from its creation."""
        return cls(
            event_id=tenant_scoped_event_id(tenant_id, key) if key else new_event_id(),
            tenant_id=tenant_id,
            type=type_,
            data=data,
            created=created,
            expires_at=created + retention,
            idempotency_key=key,
        )


class AcceptInput(EventWorkflowInput):
    """record_event + match_webhooks: the event as published (its own model, so fields can be
    added for the activity alone)."""

    # Also make attempt 1 to every match, in the same local activity (the happy path).
    attempt_first: bool = False
    # More matches than this: the event is large; the result names how many, not which, and
    # chunk workflows load and deliver them (None: no bound, the runs before chunking).
    chunk_size: int | None = None


class MatchedWebhook(BaseModel):
    webhook_id: str
    delivery_id: str
    retry: RetrySpec


class DeliverInput(BaseModel):
    event_id: str
    tenant_id: str
    webhook_id: str
    delivery_id: str
    retry: RetrySpec
    series: int = 0  # 0: the scheduled series; n: the nth redelivery
    trigger: Trigger = Trigger.SCHEDULED
    attempt_offset: int = 0  # attempts of this series already made before this activity
    refusals: int = 0  # times in a row this delivery was throttled (its next wait grows)
    rate_booked: bool = False  # it comes at a slot of its webhook's rate limit booked for it

    @classmethod
    def of(
        cls,
        target: MatchedWebhook,
        event_id: str,
        tenant_id: str,
        *,
        series: int = 0,
        trigger: Trigger = Trigger.SCHEDULED,
        attempt_offset: int = 0,
        refusals: int = 0,
        rate_booked: bool = False,
    ) -> DeliverInput:
        """The delivery of one matched webhook, in a series."""
        return cls(
            event_id=event_id,
            tenant_id=tenant_id,
            webhook_id=target.webhook_id,
            delivery_id=target.delivery_id,
            retry=target.retry,
            series=series,
            trigger=trigger,
            attempt_offset=attempt_offset,
            refusals=refusals,
            rate_booked=rate_booked,
        )


class WebhookDisabled(BaseModel):
    """A webhook an attempt auto-disabled (it failed every attempt since `failing_since`): the
    workflow tells the tenant with a system.alert event."""

    webhook_id: str
    url: str
    failing_since: datetime
    reason: str


class DeliverOutput(BaseModel):
    delivery_id: str
    webhook_id: str
    status: DeliveryStatus  # PENDING: the first attempt asks for a retry after `retry_delay`
    attempts: int = 0
    status_code: int | None = None
    error: str | None = None
    retry_delay: float | None = None
    disabled: WebhookDisabled | None = None  # set when this attempt disabled the webhook
    # Not admitted (its webhook has `max_in_flight` deliveries POSTing): no attempt made;
    # ask again after `retry_delay` (PENDING, `attempts` those made before).
    throttled: bool = False
    rate_booked: bool = False  # throttled by the rate limit, a slot booked `retry_delay` on
    # Throttled behind an earlier event of a `fifo` webhook: a `turn` signal may end the wait
    # before `retry_delay` (store/ordering.py).
    awaits_turn: bool = False

    @classmethod
    def ended(
        cls,
        target: MatchedWebhook | DeliverInput,
        status: DeliveryStatus,
        error: str,
        attempts: int,
    ) -> DeliverOutput:
        """A delivery that ends without (another) HTTP answer: skipped, or failed for good."""
        return cls(
            delivery_id=target.delivery_id,
            webhook_id=target.webhook_id,
            status=status,
            attempts=attempts,
            error=error,
        )


class FirstAttemptsInput(BaseModel):
    """Attempt 1 of a series, for all its targets at once (one store transaction)."""

    event_id: str
    tenant_id: str
    targets: list[MatchedWebhook]
    series: int = 0
    trigger: Trigger = Trigger.SCHEDULED
    # The event's stage if every target is settled by this attempt; None: a chunk of a large
    # event, which its workflow settles once every chunk is done.
    stage: str | None = "delivered"


class FirstAttemptsOutput(BaseModel):
    outcomes: list[DeliverOutput]
    event_status: EventStatus | None = None  # set when the series settled the event


class MatchOutput(BaseModel):
    webhooks: list[MatchedWebhook] = Field(default_factory=list)
    first: FirstAttemptsOutput | None = None  # attempt 1 when `attempt_first` was asked
    # A large event: how many webhooks matched (`webhooks` is then empty).
    chunked_total: int | None = None


# An event matched by more webhooks than this is large: chunk workflows of this many deliver
# it, so no payload, history or pending-activity count grows with the event (docs/DESIGN.md).
# A redelivery naming webhooks runs as one chunk, so it names at most this many; "every
# failed one" of a large event names none and goes chunk by chunk.
CHUNK_SIZE = 500


class ChunkInput(BaseModel):
    """One chunk of a large event's deliveries, in one series: the deliveries of the event
    ordered by webhook id, `offset` to `offset + limit`; of those, only the failed ones
    (`only_failed`) or the named ones (`webhook_ids`), never one in flight, when redelivering."""

    event_id: str
    tenant_id: str
    type: str
    created: datetime
    expires_at: datetime
    series: int = 0
    offset: int = 0
    limit: int = 0
    only_failed: bool = False
    webhook_ids: list[str] | None = None


class ChunkOutput(BaseModel):
    """How a chunk's deliveries ended: counts by status."""

    counts: dict[str, int] = Field(default_factory=dict)


class SettleInput(BaseModel):
    event_id: str
    outcomes: list[DeliverOutput]
    stage: str = "delivered"
    detail: str | None = None  # the stage's detail, when not counted from `outcomes`


class SettleOutput(BaseModel):
    status: EventStatus


class ExpireInput(BaseModel):
    event_id: str


class CarriedState(BaseModel):
    """What a run hands to the next when its history grows long (continue-as-new): no
    delivery is in flight then, so the outcomes and the requests not yet served are all."""

    matched: list[MatchedWebhook] = Field(default_factory=list)
    outcomes: dict[str, DeliveryStatus] = Field(default_factory=dict)
    requests: list[RedeliverSignal] = Field(default_factory=list)
    series: int = 0
    status: EventStatus = EventStatus.EXECUTING
    chunked_total: int | None = None
    runs: int = 1  # runs of this event so far, this one included


class RedeliverSignal(BaseModel):
    """Redeliver the named webhooks' deliveries; none named: every failed one."""

    webhook_ids: list[str] | None = None
    requested_at: datetime | None = None


class TurnSignal(BaseModel):
    """The delivery of an earlier event to this `fifo` webhook has ended: this event's may go."""

    webhook_id: str


class EventProgress(BaseModel):
    """What the `progress` query answers (for operators and tests)."""

    status: EventStatus
    deliveries: dict[str, DeliveryStatus]  # empty for a large event (its chunks know them)
    series: int
    in_flight: list[str]
    chunked_total: int | None = None  # a large event: how many webhooks matched
    runs: int = 1  # runs of the event's workflow so far (continue-as-new)


# Models above that name models defined after them.
for _model in (EventWorkflowInput, AcceptInput, CarriedState):
    _model.model_rebuild()
