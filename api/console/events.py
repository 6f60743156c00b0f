"""Console pages of events: the filtered, keyset-paginated list, one event with its stages,
deliveries and attempts, and its "Redeliver" buttons; the event types (the built-in catalog and
the tenant's own, with the form that adds one)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from pydantic import ValidationError

from hookline.api.console import forms, queries
from hookline.api.console.auth import ConsoleUser, FormUserDep, UserDep
from hookline.api.console.render import page, redirect
from hookline.api.deps import CatalogDep, SessionDep, SettingsDep, TemporalDep
from hookline.api.errors import ApiError
from hookline.api.schemas.common import Pagination, utc_instant
from hookline.api.schemas.event_types import EventTypeCreate
from hookline.api.services import deliveries, event_search, event_types, events
from hookline.core.models import DeliveryStatus, EventStatus
from hookline.delivery.send import event_body
from hookline.store.settling import is_undelivered

router = APIRouter(prefix="/console", include_in_schema=False)

PAGE_SIZE = 50
SETTLED = {EventStatus.SUCCEEDED, EventStatus.FAILED, EventStatus.EXPIRED}
FILTERS = ("q", "field", "status", "type", "webhook_id", "since", "until")


def payload_field(text: str) -> event_search.DataMatch:
    """The search form's payload field, `user.id=usr_1` (or `data.user.id=usr_1`): the API's
    `data.user.id=usr_1` parameter (ValueError saying what is wrong)."""
    name, equals, value = text.partition("=")
    if not equals:
        raise ValueError(f"{text!r} is not path=value (e.g. user.id=usr_1)")
    name = name.strip()
    if not name.startswith(event_search.DATA_PREFIX):
        name = event_search.DATA_PREFIX + name
    return event_search.DataMatch.parse(name, value.strip())


def _instant(value: str) -> datetime:
    """A `datetime-local` value (or ISO 8601); without a zone it is UTC (ValueError if it is
    none, or lies outside what the store keeps)."""
    return utc_instant(datetime.fromisoformat(value))


@router.get("/events")
async def events_page(
    request: Request, user: UserDep, session: SessionDep, catalog: CatalogDep
) -> Response:
    user.require("events:read")
    params = request.query_params
    raw = {name: params.get(name, "").strip()[:200] for name in FILTERS}
    filters: dict = {}
    problems: list[str] = []
    if raw["status"]:
        if raw["status"] in set(EventStatus):
            filters["status"] = raw["status"]
        else:
            problems.append(f"unknown status {raw['status']!r}")
    for name in ("q", "type", "webhook_id"):
        if raw[name]:
            filters[name] = raw[name]
    if raw["field"]:
        try:
            filters["data"] = [payload_field(raw["field"])]
        except ValueError as exc:
            problems.append(f"payload field {exc}")
    for name in ("since", "until"):
        if raw[name]:
            try:
                filters[name] = _instant(raw[name])
            except ValueError:
                problems.append(f"{name} is not a date and time: {raw[name]!r}")
    before = queries.parse_cursor(params["before"]) if params.get("before") else None
    after = queries.parse_cursor(params["after"]) if params.get("after") else None
    if (params.get("before") and before is None) or (params.get("after") and after is None):
        problems.append("that page position is not valid; showing the newest events")
    result = await queries.events_page(
        session, user.tenant_id, filters, before=before, after=after, limit=PAGE_SIZE
    )
    tallies = await queries.delivery_tallies(session, [e.id for e in result.events])
    webhooks = await queries.webhook_names(session, user.tenant_id)
    applied = set(filters) | ({"field"} if "data" in filters else set())
    kept = {name: raw[name] for name in FILTERS if raw[name] and name in applied}
    return page(
        request,
        "events.html",
        {
            "nav": "events",
            "page": result,
            "tallies": tallies,
            "webhooks": list(webhooks.values()),
            "statuses": [str(s) for s in EventStatus],
            "event_types": catalog.names(),
            "filters": {k: v for k, v in raw.items() if k in applied},
            "raw": raw,
            "query": urlencode(kept),
            "filter_error": ("Ignored: " + "; ".join(problems) + ".") if problems else None,
        },
        400 if problems else 200,
    )


REFRESH, REFRESH_WAITING = 2, 60  # seconds


def refresh_seconds(deliveries: list, now: datetime) -> int:
    """How soon the page of an unsettled event reloads: every 2 s, unless every pending
    delivery waits for a retry due later (then when the soonest is due, at most a minute)."""
    pending = [d for d in deliveries if d.status == DeliveryStatus.PENDING]
    if not pending or any(d.next_attempt_at is None for d in pending):
        return REFRESH
    soonest = min(d.next_attempt_at for d in pending)
    return int(min(max((soonest - now).total_seconds() + 1, REFRESH), REFRESH_WAITING))


@router.get("/events/{event_id}")
async def event_page(
    event_id: str, request: Request, user: UserDep, session: SessionDep, settings: SettingsDep
) -> Response:
    user.require("events:read")
    event = await events.get_event(session, user.tenant_id, event_id)
    webhooks = await queries.webhook_names(session, user.tenant_id)
    # What "redeliver failed" takes.
    failed = sum(is_undelivered(d.status, d.webhook_id in webhooks) for d in event.deliveries)
    settling = event.status not in SETTLED or any(
        d.status == DeliveryStatus.PENDING for d in event.deliveries
    )
    refresh = refresh_seconds(event.deliveries, datetime.now(UTC))
    temporal_url = (
        f"{settings.temporal_ui_url.rstrip('/')}/namespaces/"
        f"{quote(settings.temporal_namespace, safe='')}/workflows/{quote(event.id, safe='')}"
    )
    notice = None
    if request.query_params.get("notice") == "redelivered":
        count = queries.count_param(request.query_params.get("count", "0"))
        notice = f"{count} {'delivery' if count == 1 else 'deliveries'} scheduled for redelivery."
        held = queries.count_param(request.query_params.get("held", "0"))
        if held:
            notice += (
                f" {held} not: still in flight, or {'its' if held == 1 else 'their'} webhook"
                " is inactive (enable it, then redeliver) or deleted."
            )
        settling = True  # the signal is on its way: watch the new attempts arrive
    elif request.query_params.get("notice") == "expired":
        notice = "This event's retention is over: nothing can be redelivered."
    # The bytes every attempt POSTs and signs (delivery/send.py), rebuilt from the event.
    sent = event_body(event.id, event.type, event.created, event.data, event.tenant)
    return page(
        request,
        "event.html",
        {
            "nav": "events",
            "event": event,
            "sent_body": sent.decode(),
            "sent_bytes": len(sent),
            "webhooks": webhooks,
            "failed": failed,
            "settling": settling,
            "refresh": refresh,
            "page_url": f"/console/events/{event.id}",
            "temporal_url": temporal_url,
            "can_redeliver": user.can("events:redeliver"),
            "notice": notice,
        },
    )


@router.post("/events/{event_id}/redeliver")
async def redeliver(
    event_id: str,
    request: Request,
    user: FormUserDep,
    session: SessionDep,
    temporal: TemporalDep,
    webhook_id: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    """The API's redelivery, as it is: a `redeliver` signal to the event's workflow."""
    user.require("events:redeliver")
    result = await deliveries.redeliver(
        session, temporal, user.tenant_id, event_id, [webhook_id] if webhook_id else None
    )
    if result.data.expired:
        target = f"/console/events/{event_id}?notice=expired"
    else:
        held = len(result.data.not_scheduled)  # in flight, or the webhook not active
        target = (
            f"/console/events/{event_id}?notice=redelivered&count={result.data.scheduled}"
            f"&held={held}"
        )
    return redirect(request, target)


async def _event_types_page(
    request: Request,
    user: ConsoleUser,
    session: SessionDep,
    catalog: CatalogDep,
    *,
    status_code: int = 200,
    **context: Any,
) -> Response:
    """The built-in catalog and the tenant's own types, each with its schema and example; the
    form that adds one."""
    listed = await event_types.list_types(
        session, catalog, user.tenant_id, Pagination(page=1, limit=100_000)
    )
    categories: dict[str, list] = {}
    for event_type in listed.data:
        categories.setdefault(event_type.category, []).append(event_type)
    context.setdefault("form", {})
    return page(
        request,
        "event_types.html",
        {"nav": "event-types", "categories": sorted(categories.items()), **context},
        status_code,
    )


@router.get("/event-types")
async def event_types_page(
    request: Request, user: UserDep, session: SessionDep, catalog: CatalogDep
) -> Response:
    notice = "Event type added." if request.query_params.get("notice") == "added" else None
    return await _event_types_page(request, user, session, catalog, notice=notice)


@router.post("/event-types")
async def add_event_type(
    request: Request,
    user: FormUserDep,
    session: SessionDep,
    catalog: CatalogDep,
    # The API model's limits, so that over one the form comes back with the input and a message.
    name: Annotated[str, Form()] = "",
    description: Annotated[str, Form()] = "",
    json_schema: Annotated[str, Form(alias="schema")] = "",
    example: Annotated[str, Form()] = "",
) -> Response:
    """The API's `POST /event-types`, from the form."""
    user.require("webhooks:write")
    form = {"name": name, "description": description, "schema": json_schema, "example": example}
    try:
        body = EventTypeCreate(
            name=name.strip(),
            description=description.strip(),
            schema=forms.json_object(json_schema, "schema"),
            example=forms.json_object(example, "example"),
        )
        await event_types.create_type(session, catalog, user.tenant_id, body)
    except (ValidationError, ApiError, forms.FormError) as exc:
        await session.rollback()
        return await _event_types_page(
            request,
            user,
            session,
            catalog,
            status_code=422,
            form=form,
            form_error_message=forms.message(exc),
        )
    target = f"/console/event-types?notice=added#type-{quote(body.name)}"
    return redirect(request, target)
