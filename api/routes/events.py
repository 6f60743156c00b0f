"""Events: publish (one or a batch), read the event history, redeliver (one event at once, in
bulk as a job: api/services/jobs.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request, Response

from hookline.api.deps import (
    CatalogDep,
    EventsPublish,
    EventsRead,
    EventsRedeliver,
    SessionDep,
    SettingsDep,
    StoreDep,
    TemporalDep,
    query_params,
)
from hookline.api.errors import ApiError
from hookline.api.json_body import LimitedJsonRoute
from hookline.api.schemas.common import ERRORS, Data, Instant, Page, PaginationDep
from hookline.api.schemas.events import (
    BatchEventOut,
    BulkRedeliverRequest,
    EventDetail,
    EventOut,
    PublishBatch,
    PublishEvent,
    RedeliverRequest,
    RedeliverResponse,
)
from hookline.api.schemas.jobs import JobOut
from hookline.api.services import (
    deliveries,
    event_search,
    event_type_checks,
    events,
    jobs,
)
from hookline.core.jobs import JobKind
from hookline.core.models import EventStatus

router = APIRouter(tags=["events"], route_class=LimitedJsonRoute)

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=200,
        pattern=r"^[A-Za-z0-9_.:\-]+$",
        description="Publishing twice with the same key delivers once.",
    ),
]


@router.post(
    "/events",
    status_code=202,
    response_model=Data[EventOut],
    responses=ERRORS | {413: ERRORS[422] | {"description": "Payload over 256 KiB"}},
    summary="Publish an event",
)
async def publish_event(
    body: PublishEvent,
    response: Response,
    principal: EventsPublish,
    store: StoreDep,
    settings: SettingsDep,
    temporal: TemporalDep,
    catalog: CatalogDep,
    idempotency_key: IdempotencyKey = None,
) -> Data[EventOut]:
    """Accepted for delivery to every matching webhook. The same `id` (or `Idempotency-Key`)
    published again delivers once and answers with the same event."""
    out, replayed = await events.publish_event(
        store, temporal, settings, catalog, principal.tenant_id, body, body.id or idempotency_key
    )
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return Data(data=out)


@router.post(
    "/events/batch",
    status_code=202,
    response_model=Data[list[BatchEventOut]],
    responses=ERRORS,
    summary="Publish up to 100 events",
)
async def publish_batch(
    body: PublishBatch,
    principal: EventsPublish,
    store: StoreDep,
    settings: SettingsDep,
    temporal: TemporalDep,
    catalog: CatalogDep,
    idempotency_key: IdempotencyKey = None,
) -> Data[list[BatchEventOut]]:
    """All-or-nothing validation first; then every event starts (each idempotent by its id:
    `replayed` says which were published before)."""
    if idempotency_key is not None:  # taken silently, a retried batch would deliver twice
        raise ApiError(
            400,
            "Idempotency-Key names one event: in a batch, each event's `id` is its key",
            details={"header": "Idempotency-Key"},
        )
    published = await events.publish_batch(
        store, temporal, settings, catalog, principal.tenant_id, body.events
    )
    return Data(data=published)


_FILTERS = ("status", "type", "webhook_id", "since", "until", "q", "starting_after")


@router.get(
    "/events",
    response_model=Page[EventOut],
    responses=ERRORS,
    summary="List and search events",
    dependencies=[Depends(query_params(*_FILTERS, prefix=event_search.DATA_PREFIX))],
    description="Newest first. Search: `q` is an event id or an idempotency key (exact); "
    "`data.<key>[.<key>...]=<value>` (up to 3, e.g. `data.user.id=usr_1`) keeps the events "
    "whose `data` has that string, number or boolean (`true`, `false`; never `1`, `0`) at "
    "that path. A payload search reads the "
    "tenant's events within `since`/`until` (at most the 7 days kept): narrow it with them.",
)
async def list_events(
    request: Request,
    principal: EventsRead,
    session: SessionDep,
    pages: PaginationDep,
    status: Annotated[EventStatus | None, Query()] = None,
    type: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    webhook_id: Annotated[str | None, Query(min_length=1, max_length=40)] = None,
    since: Annotated[Instant | None, Query()] = None,
    until: Annotated[Instant | None, Query()] = None,
    q: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    starting_after: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=40,
            description="An event id, the last of the page before: the events after it (older), "
            "however many were published since. `meta` then counts from it; `page` stays 1.",
        ),
    ] = None,
) -> Page[EventOut]:
    params = list(request.query_params.multi_items())
    if status == EventStatus.EXPIRED:
        raise ApiError(400, "expired events are not kept: no event is listed as expired")
    if since is not None and until is not None and since >= until:
        raise ApiError(400, "since must be before until")
    if starting_after is not None and pages.page != 1:
        raise ApiError(400, "starting_after pages by itself: leave page at 1")
    try:
        data = event_search.data_matches(params)
    except ValueError as exc:
        raise ApiError(400, f"invalid parameters: {exc}") from None
    return await events.list_events(
        session, principal.tenant_id, pages, status, type, webhook_id, since, until, q, data,
        starting_after=starting_after,
    )  # fmt: skip


@router.get(
    "/events/{event_id}",
    response_model=Data[EventDetail],
    responses=ERRORS,
    summary="An event with its stages, deliveries and every attempt",
)
async def get_event(event_id: str, principal: EventsRead, session: SessionDep) -> Data[EventDetail]:
    return Data(data=await events.get_event(session, principal.tenant_id, event_id))


@router.post(
    "/events/{event_id}/redeliver",
    response_model=RedeliverResponse,
    responses=ERRORS,
    summary="Redeliver an event's failed (or named) deliveries",
)
async def redeliver_event(
    event_id: str,
    principal: EventsRedeliver,
    session: SessionDep,
    temporal: TemporalDep,
    body: RedeliverRequest | None = None,
) -> RedeliverResponse:
    webhook_ids = body.webhook_ids if body else None
    return await deliveries.redeliver(session, temporal, principal.tenant_id, event_id, webhook_ids)


def job_accepted(response: Response, job: JobOut) -> Data[JobOut]:
    """A job's 202: where to follow it, and whether its key had started it before."""
    response.headers["Location"] = job.links.self
    if job.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return Data(data=job)


@router.post(
    "/events/redeliver",
    status_code=202,
    response_model=Data[JobOut],
    responses=ERRORS,
    summary="Redeliver every failed delivery matching the filters, as a job",
)
async def bulk_redeliver(
    body: BulkRedeliverRequest,
    response: Response,
    principal: EventsRedeliver,
    session: SessionDep,
    settings: SettingsDep,
    temporal: TemporalDep,
    catalog: CatalogDep,
    idempotency_key: IdempotencyKey = None,
) -> Data[JobOut]:
    """Every failed delivery of the tenant's live events in the window (created before now
    when `until` is not given), redelivered by a job at most HOOKLINE_REDELIVERY_JOB_RATE
    events a second. Answers at once with the job (`GET /jobs/{id}` for its progress); the
    same `Idempotency-Key` again answers the same job, never a second one. A `webhook_id`
    the tenant does not have is a 404, as on every other route; one not active, a 409. A
    `type` is one event type, built-in or the tenant's (archived ones too): a pattern or a
    misspelt name would make a job that finds nothing, answered as if nothing had failed."""
    if body.type is not None:
        await event_type_checks.check_event_type(session, catalog, principal.tenant_id, body.type)
    webhook = None
    if body.webhook_id is not None:
        found = await jobs.webhook_or_its_job(
            session,
            temporal,
            principal.tenant_id,
            body.webhook_id,
            JobKind.REDELIVER,
            idempotency_key,
            body.model_dump(mode="json"),
        )
        if isinstance(found, JobOut):  # its webhook deleted since the key started it
            return job_accepted(response, found)
        webhook = found
    job = await jobs.start_redelivery(
        temporal, settings, principal.tenant_id, body, idempotency_key, webhook
    )
    return job_accepted(response, job)
