"""Console pages of redelivery jobs: start a webhook's replay from its page, watch the job's
progress (the page refreshes itself while it runs), cancel it. The same services as the API
(api/services/jobs.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from hookline.api.console.auth import FormUserDep, UserDep, UserWebhook
from hookline.api.console.render import page, redirect
from hookline.api.deps import SettingsDep, TemporalDep
from hookline.api.errors import ApiError
from hookline.api.schemas.jobs import ReplayRequest
from hookline.api.services import jobs

router = APIRouter(prefix="/console", include_in_schema=False)


def _since(value: str) -> datetime:
    """A `datetime-local` field (or ISO 8601), read as UTC when it names no zone."""
    try:
        since = datetime.fromisoformat(value.strip())
    except ValueError as exc:
        raise ApiError(422, "since: a date and time, e.g. 2025-01-31T09:00") from exc
    return since if since.tzinfo else since.replace(tzinfo=UTC)


@router.post("/webhooks/{webhook_id}/replay")
async def replay(
    request: Request,
    user: FormUserDep,
    webhook: UserWebhook,
    settings: SettingsDep,
    temporal: TemporalDep,
    since: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    user.require("events:redeliver")
    job = await jobs.start_replay(
        temporal, settings, webhook, ReplayRequest(since=_since(since)), None
    )
    return redirect(request, f"/console/jobs/{job.id}")


@router.get("/jobs/{job_id}")
async def job_page(request: Request, job_id: str, user: UserDep, temporal: TemporalDep) -> Response:
    user.require("events:read")
    job = await jobs.get_job(temporal, user.tenant_id, job_id)
    return page(
        request,
        "job.html",
        {
            "nav": "webhooks",
            "job": job,
            "running": job.status == "running",
            "page_url": f"/console/jobs/{job.id}",
            "can_cancel": user.can("events:redeliver"),
        },
    )


@router.post("/jobs/{job_id}/cancel")
async def cancel(
    request: Request, job_id: str, user: FormUserDep, temporal: TemporalDep
) -> Response:
    user.require("events:redeliver")
    try:
        await jobs.cancel_job(temporal, user.tenant_id, job_id, "cancelled in the console")
    except ApiError as error:
        if error.status != 409:
            raise
        # Ended before the click reached it: its page says how.
    return redirect(request, f"/console/jobs/{job_id}")
