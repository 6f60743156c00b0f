"""Redelivery jobs: start one (bulk redelivery of failed deliveries, or a webhook's replay
since a time), read its progress, cancel it. A job is a RedeliveryJobWorkflow whose id
carries the tenant (core/jobs.py): another tenant's job answers 404 before anything is read."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from hookline.api.errors import ApiError
from hookline.api.publish import temporal_reached
from hookline.api.schemas.events import BulkRedeliverRequest
from hookline.api.schemas.jobs import JobLinks, JobOut, JobRequestOut, ReplayRequest
from hookline.api.services import webhooks
from hookline.core import search_attributes as sa
from hookline.core.ids import new_id
from hookline.core.jobs import (
    CancelJobSignal,
    JobKind,
    JobProgress,
    JobQuery,
    JobState,
    JobView,
    RedeliveryJobInput,
    job_id,
    owned_by,
)
from hookline.infra.config import Settings
from hookline.store.tables import Webhook
from hookline.workflows.redelivery_job import RedeliveryJobWorkflow

_CLOSED = {
    WorkflowExecutionStatus.FAILED: "failed",
    WorkflowExecutionStatus.TERMINATED: "terminated",
    WorkflowExecutionStatus.TIMED_OUT: "failed",
    WorkflowExecutionStatus.CANCELED: JobState.CANCELLED.value,
}


def links(job: str) -> JobLinks:
    return JobLinks(self=f"/api/v1/jobs/{job}", cancel=f"/api/v1/jobs/{job}/cancel")


def _out(job: str, kind: JobKind, status: str, view: JobView | None) -> JobOut:
    if view is None:
        return JobOut(id=job, kind=kind, status=status, links=links(job))
    p, q = view.progress, view.query
    return JobOut(
        id=job,
        kind=q.kind,
        status=status,
        request=JobRequestOut(webhook_id=q.webhook_id, type=q.type, since=q.since, until=q.until),
        total=p.total,
        processed=p.processed,
        scheduled=p.scheduled,
        deliveries=p.deliveries,
        skipped=p.skipped,
        failed=p.failed,
        errors=p.errors,
        rate=view.rate,
        runs=p.runs,
        started_at=p.started_at,
        finished_at=p.finished_at,
        cancel_reason=p.cancel_reason,
        links=links(job),
    )


def _kind_of(job: str, tenant_id: str) -> JobKind:
    rest = job.removeprefix(f"job_{tenant_id}_")
    return JobKind.REPLAY if rest.startswith(JobKind.REPLAY.value) else JobKind.REDELIVER


# In a keyed job's memo: the request as its caller sent it, and who started it.
REQUEST, STARTED_BY = "request", "started_by"


async def start(
    temporal: Client, settings: Settings, query: JobQuery, key: str | None, request: dict
) -> JobOut:
    """Starts the job, or finds the one this request already started (same tenant, kind and
    idempotency key; `request`, the body as sent, the same too: else 409), answered at once,
    before any event is read."""
    job = job_id(query.tenant_id, query.kind, key)
    input = RedeliveryJobInput(
        job_id=job,
        query=query,
        rate=settings.redelivery_job_rate,
        page_size=settings.redelivery_job_page_size,
        batches_per_run=settings.redelivery_job_batches_per_run,
    )
    nonce = new_id("req") if key is not None else None
    try:
        async with temporal_reached():
            handle = await temporal.start_workflow(
                RedeliveryJobWorkflow.run,
                input,
                id=job,
                task_queue=settings.task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                search_attributes=TypedSearchAttributes(
                    [
                        SearchAttributePair(sa.TENANT, query.tenant_id),
                        SearchAttributePair(sa.STATUS, JobState.RUNNING.value),
                    ]
                ),
                memo={REQUEST: request, STARTED_BY: nonce} if key is not None else None,
                static_summary=f"{query.kind.value} job",
            )
    except WorkflowAlreadyStartedError:  # that key's job has ended
        return await _keyed_job(temporal, query.tenant_id, job, request)
    # The same key may have started it already (and it still runs): then it is that job.
    if key is not None and (await _memo(handle)).get(STARTED_BY) != nonce:
        return await _keyed_job(temporal, query.tenant_id, job, request)
    view = JobView(job_id=job, query=query, rate=input.rate, progress=JobProgress())
    return _out(job, query.kind, JobState.RUNNING.value, view)


async def _memo(handle: WorkflowHandle) -> dict:
    """The job's memo (RPCError NOT_FOUND: no such job; 503 while Temporal is away)."""
    async with temporal_reached():
        return await (await handle.describe()).memo()


async def _keyed_job(temporal: Client, tenant_id: str, job: str, request: dict) -> JobOut:
    """The job an idempotency key already started, if this request is the one it started
    with; 409 if the key was used for another request (the key names one job, one request)."""
    started_with = (await _memo(temporal.get_workflow_handle(job))).get(REQUEST)
    if started_with is not None and started_with != request:
        raise ApiError(
            409,
            "this Idempotency-Key started a job for another request: send that request "
            "again, or use a new key",
            details={"job_id": job, "request": started_with},
        )
    return (await get_job(temporal, tenant_id, job)).model_copy(update={"replayed": True})


async def existing_keyed_job(
    temporal: Client, tenant_id: str, kind: JobKind, key: str | None, request: dict
) -> JobOut | None:
    """The job this key started with this request, if any (None: no such job yet)."""
    if key is None:
        return None
    try:
        return await _keyed_job(temporal, tenant_id, job_id(tenant_id, kind, key), request)
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return None
        raise


async def webhook_or_its_job(
    session: AsyncSession,
    temporal: Client,
    tenant_id: str,
    webhook_id: str,
    kind: JobKind,
    key: str | None,
    request: dict,
) -> Webhook | JobOut:
    """The tenant's webhook a job request names; once it is deleted, the job this key
    started with this request (a retry answers that job, not a 404); else the 404."""
    try:
        return await webhooks.owned(session, tenant_id, webhook_id)
    except ApiError:
        job = await existing_keyed_job(temporal, tenant_id, kind, key, request)
        if job is None:
            raise
        return job


def replay_request(webhook_id: str, body: ReplayRequest) -> dict:
    """A replay's request as its job keeps it (what a key's retry is compared with)."""
    return {"webhook_id": webhook_id, **body.model_dump(mode="json")}


def _until(until: datetime | None) -> datetime:
    """The job's end: the request's `until`, never later than now (a job never chases live
    traffic: events published after it started are delivered as they come)."""
    now = datetime.now(UTC)
    if until is None:
        return now
    until = until if until.tzinfo else until.replace(tzinfo=UTC)
    return min(until, now)


async def start_redelivery(
    temporal: Client,
    settings: Settings,
    tenant_id: str,
    body: BulkRedeliverRequest,
    key: str | None,
    webhook: Webhook | None = None,
) -> JobOut:
    """Every failed delivery of the tenant matching the filters, as a job (`webhook`: the one
    `body.webhook_id` names, the tenant's, which must be active)."""
    request = body.model_dump(mode="json")
    if webhook is not None and webhook.status != "active":
        return await _started_or_refused(temporal, webhook, JobKind.REDELIVER, key, request)
    query = JobQuery(
        tenant_id=tenant_id,
        kind=JobKind.REDELIVER,
        webhook_id=body.webhook_id,
        type=body.type,
        since=body.since,
        until=_until(body.until),
    )
    _check_window(query)
    return await start(temporal, settings, query, key, request)


async def start_replay(
    temporal: Client, settings: Settings, webhook: Webhook, body: ReplayRequest, key: str | None
) -> JobOut:
    """Every event of the webhook since `since`, failed or not, delivered to it again."""
    request = replay_request(webhook.id, body)
    if webhook.status != "active":
        return await _started_or_refused(temporal, webhook, JobKind.REPLAY, key, request)
    query = JobQuery(
        tenant_id=webhook.tenant_id,
        kind=JobKind.REPLAY,
        webhook_id=webhook.id,
        since=body.since,
        until=_until(body.until),
    )
    _check_window(query)
    return await start(temporal, settings, query, key, request)


async def _started_or_refused(
    temporal: Client, webhook: Webhook, kind: JobKind, key: str | None, request: dict
) -> JobOut:
    """For a webhook not active: the job this key already started with this request (the
    webhook deactivated since; a retry of that request is that job), else 409."""
    found = await existing_keyed_job(temporal, webhook.tenant_id, kind, key, request)
    if found is None:
        raise _inactive(webhook)
    return found


def _inactive(webhook: Webhook) -> ApiError:
    """A job for a webhook that is not active would only skip its deliveries: refused, not
    started (409), so that a 202 is not a promise the job cannot keep."""
    return ApiError(
        409,
        f"webhook {webhook.id} is {webhook.status}: activate it, then redeliver",
        details={"webhook_id": webhook.id, "status": webhook.status},
    )


def _check_window(query: JobQuery) -> None:
    if query.since is not None and query.until is not None and query.since >= query.until:
        raise ApiError(422, "since must be before until (and before now)")


async def _handle(temporal: Client, tenant_id: str, job: str) -> WorkflowHandle:
    if not owned_by(job, tenant_id):
        raise ApiError(404, f"job {job} does not exist")
    return temporal.get_workflow_handle(job)


async def get_job(temporal: Client, tenant_id: str, job: str) -> JobOut:
    """The job's status and counts: its `progress` query (the latest run's, which carries the
    counts of the runs before it)."""
    handle = await _handle(temporal, tenant_id, job)
    try:
        async with temporal_reached():
            described = await handle.describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise ApiError(404, f"job {job} does not exist") from exc
        raise
    view: JobView | None
    try:
        view = await handle.query(RedeliveryJobWorkflow.progress)
    except Exception:  # not answered yet (no first task), or no worker to replay it
        view = None
    status = _CLOSED.get(described.status) if described.status else None
    if status is None:
        status = view.progress.state.value if view else JobState.RUNNING.value
    return _out(job, _kind_of(job, tenant_id), status, view)


async def cancel_job(temporal: Client, tenant_id: str, job: str, reason: str | None) -> JobOut:
    """Asks the job to stop: its batch in flight stops at its next event. A job already
    cancelled is answered as it is (a retried cancel); one that ended otherwise (completed,
    failed, terminated) has nothing left to cancel: 409."""
    handle = await _handle(temporal, tenant_id, job)
    try:
        async with temporal_reached():
            await handle.signal(RedeliveryJobWorkflow.cancel, CancelJobSignal(reason=reason))
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:  # ended, or no such job: read below
            raise
    return _refuse_ended(await get_job(temporal, tenant_id, job))


def _refuse_ended(out: JobOut) -> JobOut:
    if out.status in (JobState.RUNNING.value, JobState.CANCELLED.value):
        return out
    raise ApiError(
        409,
        f"job {out.id} has ended ({out.status}): there is nothing left to cancel",
        details={"job_id": out.id, "status": out.status},
    )
