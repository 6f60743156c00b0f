"""Schemas of redelivery jobs: bulk redelivery and a webhook's replay, as durable jobs."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from hookline.api.schemas.common import Instant
from hookline.core.jobs import JobKind


class ReplayRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"since": "2025-01-01T12:00:00Z"}]}
    )

    since: Instant = Field(description="Every event of the webhook created at or after this")
    until: Instant | None = Field(default=None, description="...and before this (default: now)")


class JobRequestOut(BaseModel):
    """What the job goes through: the tenant's live events created in [since, until) with a
    delivery matching the filters (failed ones for `redeliver`, any for `replay`)."""

    webhook_id: str | None = None
    type: str | None = None
    since: datetime | None = None
    until: datetime | None = None


class JobLinks(BaseModel):
    self: str
    cancel: str


class JobOut(BaseModel):
    id: str = Field(examples=["job_ten_…_redeliver_…"])
    kind: JobKind
    status: str = Field(
        description="running, completed, cancelled; failed or terminated if the job's workflow "
        "was ended from outside"
    )
    request: JobRequestOut | None = None
    total: int | None = Field(default=None, description="Events matching when the job started")
    processed: int = Field(default=0, description="Events gone through so far")
    scheduled: int = Field(default=0, description="Events signalled to redeliver")
    deliveries: int = Field(default=0, description="Deliveries those signals named")
    skipped: dict[str, int] = Field(
        default_factory=dict,
        description="Events not signalled, by reason: expired (retention over), missing_key",
    )
    failed: int = Field(default=0, description="Events whose signal failed")
    errors: list[str] = Field(default_factory=list, description="The first failures' messages")
    rate: float | None = Field(default=None, description="Events signalled per second at most")
    runs: int = Field(default=1, description="Workflow runs so far (continue-as-new)")
    started_at: datetime | None = None
    finished_at: datetime | None = None
    cancel_reason: str | None = None
    links: JobLinks
    # Answered for a request its Idempotency-Key made before: the `Idempotent-Replayed`
    # header, not a field of the job.
    replayed: bool = Field(default=False, exclude=True)


class CancelJobRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(default=None, max_length=200)
