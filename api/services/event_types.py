"""Event types: the built-in catalog (core/catalog.py, with the operator's HOOKLINE_EVENT_TYPES)
and each tenant's own types beside it; list, read, create, change, archive. The checks
publishing, subscribing and test sends make against them are in `event_type_checks`.

A tenant type may carry a JSON Schema of its events' `data` (core/event_schemas.py), compiled
and tried on the type's example here when it is saved; every publish of it is validated
against it (`event_type_checks`). Built-in types have no schema.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from hookline.api.errors import ApiError
from hookline.api.schemas.common import Page, Pagination
from hookline.api.schemas.event_types import EventTypeCreate, EventTypeOut, EventTypeUpdate
from hookline.api.schemas.trials import SAMPLES
from hookline.core import event_schemas, ids
from hookline.core.catalog import Catalog, category_of
from hookline.core.catalog import EventType as CatalogType
from hookline.core.json_equality import same_json
from hookline.store.tables import EventType, Tenant

MAX_SCHEMA_BYTES = 64 * 1024
MAX_EXAMPLE_BYTES = 64 * 1024
MAX_TYPES_PER_TENANT = 1000


# --------------------------------------------------------------------------- views


def builtin_out(event_type: CatalogType) -> EventTypeOut:
    return EventTypeOut(
        name=event_type.name,
        description=event_type.description,
        category=event_type.category,
        source=event_type.source,
        example=SAMPLES.get(event_type.category),
    )


def tenant_out(row: EventType) -> EventTypeOut:
    return EventTypeOut(
        name=row.name,
        description=row.description,
        category=category_of(row.name),
        source="tenant",
        json_schema=row.json_schema,
        example=row.example,
        version=row.version,
        archived=row.archived_at is not None,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


async def tenant_types(
    session: AsyncSession, tenant_id: str, include_archived: bool = False
) -> list[EventType]:
    query = select(EventType).where(EventType.tenant_id == tenant_id)
    if not include_archived:
        query = query.where(EventType.archived_at.is_(None))
    return list(await session.scalars(query.order_by(EventType.name)))


async def list_types(
    session: AsyncSession,
    catalog: Catalog,
    tenant_id: str,
    pagination: Pagination,
    category: str | None = None,
    include_archived: bool = False,
) -> Page[EventTypeOut]:
    """The built-in catalog and the tenant's types, sorted by name."""
    types = [builtin_out(t) for t in catalog.all()]
    types += [tenant_out(row) for row in await tenant_types(session, tenant_id, include_archived)]
    types = sorted(
        (t for t in types if category is None or t.category == category), key=lambda t: t.name
    )
    chunk = types[pagination.offset : pagination.offset + pagination.limit]
    return Page(data=chunk, meta=pagination.meta(len(types)))


async def tenant_row(session: AsyncSession, tenant_id: str, name: str) -> EventType | None:
    return await session.scalar(
        select(EventType).where(EventType.tenant_id == tenant_id, EventType.name == name)
    )


def _not_found(name: str) -> ApiError:
    return ApiError(404, f"event type {name} does not exist")


async def get_type(
    session: AsyncSession, catalog: Catalog, tenant_id: str, name: str
) -> EventTypeOut:
    builtin = catalog.get(name)
    if builtin is not None:
        return builtin_out(builtin)
    row = await tenant_row(session, tenant_id, name)
    if row is None:
        raise _not_found(name)
    return tenant_out(row)


# --------------------------------------------------------------------------- changes


def json_size(value: Any) -> int:
    return len(orjson.dumps(value))


def invalid_data(name: str, errors: list[event_schemas.DataError], truncated: bool) -> ApiError:
    return ApiError(
        422,
        f"event data does not match the schema of {name} "
        f"({len(errors)}{'+' if truncated else ''} error(s))",
        details={"type": name, "errors": [e.as_dict() for e in errors], "truncated": truncated},
        code="invalid_event_data",
    )


def check_definition(
    name: str, schema: dict[str, Any] | None, example: dict[str, Any] | None
) -> Any:
    """The schema compiled (None without one), the example valid under it; or a 422."""
    if schema is not None and json_size(schema) > MAX_SCHEMA_BYTES:
        raise ApiError(
            422, f"schema is larger than {MAX_SCHEMA_BYTES} bytes", details={"field": "schema"}
        )
    if example is not None and json_size(example) > MAX_EXAMPLE_BYTES:
        raise ApiError(
            422, f"example is larger than {MAX_EXAMPLE_BYTES} bytes", details={"field": "example"}
        )
    if schema is None:
        return None
    try:
        validator = event_schemas.compile_schema(schema)
    except event_schemas.SchemaRefused as exc:
        raise ApiError(
            422,
            f"invalid schema at {exc.pointer or '/'}: {exc.message}",
            details={"field": "schema", "pointer": exc.pointer, "reason": exc.message},
            code="invalid_schema",
        ) from None
    if example is not None:
        errors, truncated = event_schemas.errors(
            validator, example, ("example",), json_size(example)
        )
        if errors:
            error = invalid_data(name, errors, truncated)
            error.message = f"example does not match the schema ({len(errors)} error(s))"
            error.code = "invalid_example"
            raise error
    return validator


def _refuse_builtin(catalog: Catalog, name: str) -> None:
    if name in catalog:
        raise ApiError(
            409,
            f"{name} is a built-in event type: built-in types cannot be defined or changed",
            code="builtin_event_type",
        )


async def _refuse_lookalike(
    session: AsyncSession, catalog: Catalog, tenant_id: str, name: str
) -> None:
    """A name that differs from a built-in type or one of the tenant's own (archived too)
    only in case (`Order.Created`, `entitycreated`): a subscriber or a publisher would take
    one for the other, and a misspelling would no longer be a 400."""
    folded = name.casefold()
    similar = [other for other in catalog.names() if other.casefold() == folded]
    if not similar:
        similar = list(
            await session.scalars(
                select(EventType.name).where(
                    EventType.tenant_id == tenant_id, func.lower(EventType.name) == name.lower()
                )
            )
        )
    if similar:
        raise ApiError(
            409,
            f"event type {name} differs from {similar[0]!r} only in case: pick a name apart",
            details={"existing": similar[0]},
            code="event_type_exists",
        )


async def create_type(
    session: AsyncSession, catalog: Catalog, tenant_id: str, body: EventTypeCreate
) -> EventTypeOut:
    _refuse_builtin(catalog, body.name)
    check_definition(body.name, body.json_schema, body.example)
    # The tenant's row locked first (PostgreSQL): creates of one tenant take turns, so the
    # count below sees every type the others added (SQLite: the insert holds the write lock).
    await session.execute(select(Tenant.id).where(Tenant.id == tenant_id).with_for_update())
    if await tenant_row(session, tenant_id, body.name) is not None:
        raise ApiError(409, f"event type {body.name} exists", code="event_type_exists")
    await _refuse_lookalike(session, catalog, tenant_id, body.name)
    now = datetime.now(UTC)
    row = EventType(
        id=ids.new_id("et"),
        tenant_id=tenant_id,
        name=body.name,
        description=body.description,
        json_schema=body.json_schema,
        example=body.example,
        version=1,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    try:
        await session.flush()
        # Counted after the insert, in its transaction: two creates at once cannot both pass.
        count = await session.scalar(
            select(func.count()).select_from(EventType).where(EventType.tenant_id == tenant_id)
        )
        if (count or 0) > MAX_TYPES_PER_TENANT:
            await session.rollback()
            raise ApiError(409, f"a tenant has at most {MAX_TYPES_PER_TENANT} event types")
        await session.commit()
    except IntegrityError:  # the same name created at the same time
        await session.rollback()
        raise ApiError(409, f"event type {body.name} exists", code="event_type_exists") from None
    return tenant_out(row)


# Concurrent changes of one type: each is tried over the version it read, again on a
# conflict (a few times, then 409: the caller sends it again).
CHANGE_TRIES = 8


async def _change(
    session: AsyncSession, tenant_id: str, name: str, change: Callable[[EventType], bool]
) -> EventType:
    """The type changed by `change` (False: nothing to change) and written with a new version,
    over the version read: tried again on top of another change written meanwhile."""
    for _ in range(CHANGE_TRIES):
        row = await tenant_row(session, tenant_id, name)
        if row is None:
            raise _not_found(name)
        if not change(row):
            return row
        row.version += 1
        row.updated_at = datetime.now(UTC)
        try:
            await session.commit()
        except StaleDataError:  # another change was written since the read: on top of it
            await session.rollback()
            continue
        return row
    raise ApiError(
        409, f"event type {name} was changed by other requests meanwhile; send this one again"
    )


async def update_type(
    session: AsyncSession, catalog: Catalog, tenant_id: str, name: str, body: EventTypeUpdate
) -> EventTypeOut:
    """Only the fields given change; the new schema and example are checked together, against
    the type as it is when the change is written. A change that changes nothing keeps the
    version."""
    _refuse_builtin(catalog, name)
    given = body.model_fields_set

    def change(row: EventType) -> bool:
        schema = body.json_schema if "json_schema" in given else row.json_schema
        example = body.example if "example" in given else row.example
        description = body.description if body.description is not None else row.description
        restore = body.archived is False and row.archived_at is not None
        # As JSON has it: Python's == would take a change from 1 to true for none.
        changed = description != row.description or not (
            same_json(schema, row.json_schema) and same_json(example, row.example)
        )
        if not changed and not restore:
            return False
        check_definition(name, schema, example)
        row.description, row.json_schema, row.example = description, schema, example
        if restore:
            row.archived_at = None
        return True

    return tenant_out(await _change(session, tenant_id, name, change))


async def archive_type(session: AsyncSession, catalog: Catalog, tenant_id: str, name: str) -> None:
    """Hidden from new subscriptions and publishes; events of it keep their history, and
    webhooks subscribed to it keep the subscription."""
    _refuse_builtin(catalog, name)

    def archive(row: EventType) -> bool:
        if row.archived_at is not None:
            return False
        row.archived_at = datetime.now(UTC)
        return True

    await _change(session, tenant_id, name, archive)
