"""Bulk work as durable jobs: the inputs, outputs and signal of RedeliveryJobWorkflow and its
activities (one model each), and the job's id.

A job is one workflow: it pages through the store's events in (created, id) order with a
keyset cursor and signals each event's workflow `redeliver`, at a bounded rate. Two kinds:
`redeliver` (the failed deliveries matching some filters, `POST /events/redeliver`) and
`replay` (every delivery of one webhook since a time, failed or not).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from enum import StrEnum

from pydantic import BaseModel, Field, field_validator

from hookline.core.ids import new_id

JOB_PREFIX = "job_"


class JobKind(StrEnum):
    REDELIVER = "redeliver"  # the failed deliveries matching the filters
    REPLAY = "replay"  # every delivery of one webhook since a time


class JobState(StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


# Why an event was not signalled (the counts' keys).
SKIPPED_EXPIRED = "expired"  # its workflow has closed: its retention is over
SKIPPED_MISSING_KEY = "missing_key"  # its history needs an encryption key no longer configured
# Replayed while its delivery was still in flight (attempt 1, or retries), or redelivered by
# another request a moment before: its workflow would leave it to the series it is in, so it
# is not counted as scheduled.
SKIPPED_IN_FLIGHT = "in_flight"
# A bulk redelivery's deliveries, all delivered since its page was read (by another request).
SKIPPED_DELIVERED = "delivered"


def tenant_prefix(tenant_id: str) -> str:
    """Every job id of a tenant starts with this: the API answers 404 for any other."""
    return f"{JOB_PREFIX}{tenant_id}_"


def job_id(tenant_id: str, kind: JobKind, key: str | None = None) -> str:
    """Derived from tenant, kind and idempotency key (the same request twice is one job),
    random without a key. The tenant is in the id: it is checked before anything is read."""
    if key is None:
        return tenant_prefix(tenant_id) + new_id(kind.value)
    digest = hashlib.sha256(f"{tenant_id}\x00{kind.value}\x00{key}".encode()).hexdigest()
    return f"{tenant_prefix(tenant_id)}{kind.value}_{digest[:32]}"


def owned_by(job: str, tenant_id: str) -> bool:
    return job.startswith(tenant_prefix(tenant_id))


def _aware(value: datetime | None) -> datetime | None:
    """A time without a zone is UTC (the store refuses naive datetimes)."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


class JobQuery(BaseModel):
    """Which events a job goes through: the tenant's live events created in [since, until)
    with a delivery matching the filters (failed ones for `redeliver`). `until` is fixed when
    the job starts, so a job ends and never chases live traffic."""

    tenant_id: str
    kind: JobKind
    webhook_id: str | None = None
    type: str | None = None
    since: datetime | None = None
    until: datetime

    @field_validator("since", "until")
    @classmethod
    def _zone(cls, value: datetime | None) -> datetime | None:
        return _aware(value)


class JobCursor(BaseModel):
    """The last event a job went through: the next page starts after (created, event_id)."""

    created: datetime
    event_id: str


class JobCounts(BaseModel):
    """What a batch (or the whole job) did, in events (and the deliveries they asked for)."""

    scheduled: int = 0  # events signalled `redeliver`
    deliveries: int = 0  # deliveries those signals named
    skipped: dict[str, int] = Field(default_factory=dict)  # reason -> events
    failed: int = 0  # events whose signal failed for another reason
    errors: list[str] = Field(default_factory=list)  # the first few failures' messages

    def add(self, other: JobCounts) -> None:
        self.scheduled += other.scheduled
        self.deliveries += other.deliveries
        for reason, n in other.skipped.items():
            self.skipped[reason] = self.skipped.get(reason, 0) + n
        self.failed += other.failed
        self.errors = (self.errors + other.errors)[:MAX_ERRORS]

    @property
    def processed(self) -> int:
        return self.scheduled + sum(self.skipped.values()) + self.failed


MAX_ERRORS = 5


class JobProgress(JobCounts):
    """A job's state, carried across continue-as-new."""

    state: JobState = JobState.RUNNING
    total: int | None = None  # events matching when the job started
    cursor: JobCursor | None = None
    batches: int = 0
    runs: int = 1  # this run's number: 1 + continue-as-new so far
    started_at: datetime | None = None
    finished_at: datetime | None = None
    cancel_reason: str | None = None


class RedeliveryJobInput(BaseModel):
    job_id: str
    query: JobQuery
    rate: float = Field(gt=0)  # events signalled per second at most
    page_size: int = Field(ge=1)  # events per batch
    batches_per_run: int = Field(ge=1)  # then continue-as-new
    progress: JobProgress | None = None  # set by continue-as-new


class JobView(BaseModel):
    """What the `progress` query answers."""

    job_id: str
    query: JobQuery
    rate: float
    progress: JobProgress


class JobCountInput(BaseModel):
    query: JobQuery


class JobCountOutput(BaseModel):
    total: int


class JobPageInput(BaseModel):
    query: JobQuery
    cursor: JobCursor | None = None
    limit: int


class JobItem(BaseModel):
    event_id: str
    created: datetime
    # The webhooks its signal names; None: every failed one of a large event (more than
    # CHUNK_SIZE: its chunks each take their own, `deliveries` of them in all).
    webhook_ids: list[str] | None
    deliveries: int = 0
    in_flight: bool = False  # a replay's delivery still in its series when the page was read
    # A bulk redelivery's: each named delivery is signalled only if still undelivered then.
    undelivered_only: bool = False

    @property
    def size(self) -> int:
        """The deliveries its signal concerns."""
        return len(self.webhook_ids) if self.webhook_ids is not None else self.deliveries


class JobPage(BaseModel):
    items: list[JobItem] = Field(default_factory=list)
    cursor: JobCursor | None = None  # the last event read (the next page starts after it)
    last: bool  # no event after these


class JobSignalInput(BaseModel):
    job_id: str
    items: list[JobItem]
    rate: float = Field(gt=0)


class JobSignalOutput(JobCounts):
    done: int = 0  # items gone through, in order
    cancelled: bool = False  # the job was cancelled before the batch's end


class CancelJobSignal(BaseModel):
    reason: str | None = None
