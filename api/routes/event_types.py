"""Event types: the built-in catalog and the tenant's own types (with a JSON Schema and an
example each), what webhooks subscribe to and events are published as."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from hookline.api.deps import CatalogDep, PrincipalDep, SessionDep, WebhooksWrite, query_params
from hookline.api.json_body import LimitedJsonRoute
from hookline.api.schemas.common import ERRORS, Data, Page, PaginationDep, Success
from hookline.api.schemas.event_types import EventTypeCreate, EventTypeOut, EventTypeUpdate
from hookline.api.services import event_types

router = APIRouter(prefix="/event-types", tags=["event-types"], route_class=LimitedJsonRoute)

NamePath = Annotated[str, Path(min_length=1, max_length=200, examples=["order.created"])]
WITH_CONFLICT = {**ERRORS, 409: ERRORS[422] | {"description": "Conflict"}}


@router.get(
    "",
    response_model=Page[EventTypeOut],
    responses=ERRORS,
    summary="List event types",
    dependencies=[Depends(query_params("category", "include_archived"))],
    description="The built-in catalog and the tenant's own types, sorted by name; any valid "
    "token may read it. Subscriptions also accept `prefix.*` (matching at least one type that "
    "exists) and `*`.",
)
async def list_event_types(
    principal: PrincipalDep,
    session: SessionDep,
    catalog: CatalogDep,
    pagination: PaginationDep,
    category: Annotated[
        str | None, Query(min_length=1, max_length=200, description="e.g. `user`")
    ] = None,
    include_archived: Annotated[
        bool, Query(description="Also the tenant's archived types")
    ] = False,
) -> Page[EventTypeOut]:
    return await event_types.list_types(
        session, catalog, principal.tenant_id, pagination, category, include_archived
    )


@router.get(
    "/{name}",
    response_model=Data[EventTypeOut],
    responses=ERRORS,
    summary="Get an event type",
    description="A built-in type or one of the tenant's (archived ones too).",
)
async def get_event_type(
    name: NamePath, principal: PrincipalDep, session: SessionDep, catalog: CatalogDep
) -> Data[EventTypeOut]:
    return Data(data=await event_types.get_type(session, catalog, principal.tenant_id, name))


@router.post(
    "",
    status_code=201,
    response_model=Data[EventTypeOut],
    responses=WITH_CONFLICT,
    summary="Create an event type",
    description="A type of the tenant's own. With a `schema` (JSON Schema draft 2020-12), "
    "every event published as it is validated: a 422 lists each error with its JSON pointer. "
    "A schema that cannot compile, or an `example` it refuses, is a 422; a built-in name or "
    "one the tenant has (archived too) is a 409.",
)
async def create_event_type(
    body: EventTypeCreate, principal: WebhooksWrite, session: SessionDep, catalog: CatalogDep
) -> Data[EventTypeOut]:
    return Data(data=await event_types.create_type(session, catalog, principal.tenant_id, body))


@router.put(
    "/{name}",
    response_model=Data[EventTypeOut],
    responses=WITH_CONFLICT,
    summary="Update an event type",
    description="Only the fields given change; `null` clears `schema` or `example`; "
    '`"archived": false` brings an archived type back. Each change bumps `version`; '
    "publishes from then on are checked against the new schema.",
)
async def update_event_type(
    name: NamePath,
    body: EventTypeUpdate,
    principal: WebhooksWrite,
    session: SessionDep,
    catalog: CatalogDep,
) -> Data[EventTypeOut]:
    return Data(
        data=await event_types.update_type(session, catalog, principal.tenant_id, name, body)
    )


@router.delete(
    "/{name}",
    response_model=Success,
    responses=WITH_CONFLICT,
    summary="Archive an event type",
    description="Archived: no new subscription (webhooks that have it keep it) and no "
    "publish (400 `archived_event_type`); its events keep their history. `PUT` with "
    '`"archived": false` restores it.',
)
async def archive_event_type(
    name: NamePath, principal: WebhooksWrite, session: SessionDep, catalog: CatalogDep
) -> Success:
    await event_types.archive_type(session, catalog, principal.tenant_id, name)
    return Success(success=True, message=f"Event type {name} archived")
