"""The event type catalog: what webhooks can subscribe to and events can be published as."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from hookline.api.deps import CatalogDep, PrincipalDep
from hookline.api.schemas.common import ERRORS, Page, PaginationDep
from hookline.api.schemas.webhooks import EventTypeOut

router = APIRouter(prefix="/event-types", tags=["event-types"])


@router.get(
    "",
    response_model=Page[EventTypeOut],
    responses=ERRORS,
    summary="List event types",
    description="Sorted by name; any valid token may read it. Subscriptions also accept "
    "`category.*` and `*`.",
)
async def list_event_types(
    principal: PrincipalDep,
    catalog: CatalogDep,
    pagination: PaginationDep,
    category: Annotated[
        str | None, Query(min_length=1, max_length=100, description="e.g. `user`")
    ] = None,
) -> Page[EventTypeOut]:
    types = [t for t in catalog.all() if category is None or t.category == category]
    chunk = types[pagination.offset : pagination.offset + pagination.limit]
    return Page(
        data=[
            EventTypeOut(name=t.name, description=t.description, category=t.category) for t in chunk
        ],
        meta=pagination.meta(len(types)),
    )
