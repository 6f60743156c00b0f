"""Redelivery jobs: a webhook's replay since a time; a job's progress; cancel it. (Bulk
redelivery, `POST /events/redeliver`, starts the same kind of job: api/routes/events.py.)"""

from __future__ import annotations

from fastapi import APIRouter, Response

from hookline.api.deps import EventsRead, EventsRedeliver, SessionDep, SettingsDep, TemporalDep
from hookline.api.json_body import LimitedJsonRoute
from hookline.api.routes.events import IdempotencyKey
from hookline.api.routes.events import job_accepted as accepted
from hookline.api.schemas.common import ERRORS, Data
from hookline.api.schemas.jobs import CancelJobRequest, JobOut, ReplayRequest
from hookline.api.services import jobs
from hookline.core.jobs import JobKind

router = APIRouter(tags=["jobs"], route_class=LimitedJsonRoute)


@router.post(
    "/webhooks/{webhook_id}/replay",
    status_code=202,
    response_model=Data[JobOut],
    responses=ERRORS,
    summary="Replay every event of a webhook since a time, as a job",
)
async def replay_webhook(
    webhook_id: str,
    body: ReplayRequest,
    response: Response,
    principal: EventsRedeliver,
    session: SessionDep,
    settings: SettingsDep,
    temporal: TemporalDep,
    idempotency_key: IdempotencyKey = None,
) -> Data[JobOut]:
    """Every live event of the webhook created since `since` (and before `until`, default
    now), failed or not, is delivered to it again: a new manual series each, at most
    HOOKLINE_REDELIVERY_JOB_RATE events a second. Answers at once with the job; the same
    `Idempotency-Key` again answers the same job, also once the webhook is deleted."""
    request = jobs.replay_request(webhook_id, body)
    found = await jobs.webhook_or_its_job(
        session, temporal, principal.tenant_id, webhook_id, JobKind.REPLAY, idempotency_key, request
    )
    if isinstance(found, JobOut):
        return accepted(response, found)
    job = await jobs.start_replay(temporal, settings, found, body, idempotency_key)
    return accepted(response, job)


@router.get(
    "/jobs/{job_id}", response_model=Data[JobOut], responses=ERRORS, summary="A job's progress"
)
async def get_job(job_id: str, principal: EventsRead, temporal: TemporalDep) -> Data[JobOut]:
    return Data(data=await jobs.get_job(temporal, principal.tenant_id, job_id))


@router.post(
    "/jobs/{job_id}/cancel",
    status_code=202,
    response_model=Data[JobOut],
    responses=ERRORS,
    summary="Cancel a job",
)
async def cancel_job(
    job_id: str,
    principal: EventsRedeliver,
    temporal: TemporalDep,
    body: CancelJobRequest | None = None,
) -> Data[JobOut]:
    """The job stops at its next event; events already signalled are redelivered. A job
    already cancelled is answered as it is; one that completed (or failed) is a 409."""
    reason = body.reason if body else None
    return Data(data=await jobs.cancel_job(temporal, principal.tenant_id, job_id, reason))
