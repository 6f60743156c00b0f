"""Event types: the built-in catalog (core/catalog.py, with the operator's HOOKLINE_EVENT_TYPES)
and each tenant's own types beside it; list, read, create, change, archive; and the checks
publishing, subscribing and test sends make against them.

A tenant type may carry a JSON Schema of its events' `data` (core/event_schemas.py): every
publish of it is validated (422 listing each error with its JSON pointer). Built-in types have
no schema, and publishing one reads nothing from the store: the hot path is unchanged for them.
A tenant type costs one indexed lookup per publish (its version and whether it is archived);
its compiled validator is kept per (tenant, type, version) in the process.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from hookline.api.errors import ApiError
from hookline.api.publish import check_event
from hookline.api.schemas.common import Page, Pagination
from hookline.api.schemas.event_types import EventTypeCreate, EventTypeOut, EventTypeUpdate
from hookline.api.schemas.webhooks import SAMPLES, sample_data
from hookline.core import event_schemas, ids
from hookline.core.catalog import Catalog, category_of, closest
from hookline.core.catalog import EventType as CatalogType
from hookline.infra.config import Settings
from hookline.store.event_types import find_types, type_schema
from hookline.store.tables import EventType
from hookline.store.transactions import Store

MAX_SCHEMA_BYTES = 64 * 1024
MAX_EXAMPLE_BYTES = 64 * 1024
MAX_TYPES_PER_TENANT = 1000
# Data larger than this is validated off the event loop (a schema's work grows with the data).
VALIDATE_INLINE_BYTES = 32 * 1024

validators = event_schemas.ValidatorCache(size=1024)
_NO_SCHEMA = False  # cached for a version without a schema


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


async def tenant_names(session: AsyncSession, tenant_id: str) -> list[str]:
    """The tenant's types that take subscriptions and publishes (not archived)."""
    rows = await session.scalars(
        select(EventType.name).where(
            EventType.tenant_id == tenant_id, EventType.archived_at.is_(None)
        )
    )
    return list(rows)


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


async def _row(session: AsyncSession, tenant_id: str, name: str) -> EventType | None:
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
    row = await _row(session, tenant_id, name)
    if row is None:
        raise _not_found(name)
    return tenant_out(row)


# --------------------------------------------------------------------------- changes


def _size(value: Any) -> int:
    return len(orjson.dumps(value))


def _invalid_data(name: str, errors: list[event_schemas.DataError], truncated: bool) -> ApiError:
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
    if schema is not None and _size(schema) > MAX_SCHEMA_BYTES:
        raise ApiError(
            422, f"schema is larger than {MAX_SCHEMA_BYTES} bytes", details={"field": "schema"}
        )
    if example is not None and _size(example) > MAX_EXAMPLE_BYTES:
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
        errors, truncated = event_schemas.errors(validator, example, ("example",))
        if errors:
            error = _invalid_data(name, errors, truncated)
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


async def create_type(
    session: AsyncSession, catalog: Catalog, tenant_id: str, body: EventTypeCreate
) -> EventTypeOut:
    _refuse_builtin(catalog, body.name)
    check_definition(body.name, body.json_schema, body.example)
    if await _row(session, tenant_id, body.name) is not None:
        raise ApiError(409, f"event type {body.name} exists", code="event_type_exists")
    count = await session.scalar(
        select(func.count()).select_from(EventType).where(EventType.tenant_id == tenant_id)
    )
    if (count or 0) >= MAX_TYPES_PER_TENANT:
        raise ApiError(409, f"a tenant has at most {MAX_TYPES_PER_TENANT} event types")
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
        await session.commit()
    except IntegrityError:  # the same name created at the same time
        await session.rollback()
        raise ApiError(409, f"event type {body.name} exists", code="event_type_exists") from None
    return tenant_out(row)


async def update_type(
    session: AsyncSession, catalog: Catalog, tenant_id: str, name: str, body: EventTypeUpdate
) -> EventTypeOut:
    """Only the fields given change; the new schema and example are checked together."""
    _refuse_builtin(catalog, name)
    row = await _row(session, tenant_id, name)
    if row is None:
        raise _not_found(name)
    given = body.model_fields_set
    schema = body.json_schema if "json_schema" in given else row.json_schema
    example = body.example if "example" in given else row.example
    check_definition(name, schema, example)
    if "description" in given and body.description is not None:
        row.description = body.description
    row.json_schema, row.example = schema, example
    if "archived" in given:
        row.archived_at = None
    row.version += 1
    row.updated_at = datetime.now(UTC)
    await session.commit()
    return tenant_out(row)


async def archive_type(session: AsyncSession, catalog: Catalog, tenant_id: str, name: str) -> None:
    """Hidden from new subscriptions and publishes; events of it keep their history, and
    webhooks subscribed to it keep the subscription."""
    _refuse_builtin(catalog, name)
    row = await _row(session, tenant_id, name)
    if row is None:
        raise _not_found(name)
    if row.archived_at is None:
        row.archived_at = datetime.now(UTC)
        row.version += 1
        await session.commit()


# --------------------------------------------------------------------------- checks


async def check_patterns(
    session: AsyncSession,
    catalog: Catalog,
    tenant_id: str,
    patterns: list[str],
    kept: list[str] | None = None,
) -> None:
    """Every subscription pattern matches a type that exists now (built-in or the tenant's,
    not archived): an exact name, `prefix.*` matching one, or `*`. `kept`: patterns a webhook
    already has, accepted as they are (a type archived since does not block an edit)."""
    new = [p for p in patterns if p not in (kept or [])]
    if not new:
        return
    own: list[str] = []
    if catalog.unknown(new):  # only then is the store read
        own = await tenant_names(session, tenant_id)
    unknown = catalog.unknown(new, own)
    if unknown:
        # The closest names (or `category.*` for a wildcard), not the whole catalog.
        did_you_mean = closest(unknown, [*catalog.names(), *own])
        hint = f"; did you mean {', '.join(did_you_mean)}?" if did_you_mean else ""
        raise ApiError(
            400,
            f"unknown event type(s): {', '.join(unknown)}{hint}",
            details={"unknown": unknown, "did_you_mean": did_you_mean},
            code="unknown_event_type",
        )


def _unknown(catalog: Catalog, name: str, archived: bool = False) -> ApiError:
    if archived:
        return ApiError(
            400,
            f"event type {name!r} is archived",
            details={"type": name},
            code="archived_event_type",
        )
    did_you_mean = closest([name], catalog.names())
    hint = f"; did you mean {', '.join(map(repr, did_you_mean))}?" if did_you_mean else ""
    return ApiError(
        400,
        f"unknown event type {name!r}{hint}",
        details={"did_you_mean": did_you_mean},
        code="unknown_event_type",
    )


def _check_size(settings: Settings, data: dict[str, Any]) -> int:
    size = _size(data)
    if size > settings.max_payload_bytes:
        raise ApiError(
            413, f"event data is {size} bytes; the limit is {settings.max_payload_bytes}"
        )
    return size


async def _validate(validator: Any, name: str, data: dict[str, Any], size: int) -> None:
    if size > VALIDATE_INLINE_BYTES:
        errors, truncated = await asyncio.to_thread(
            event_schemas.errors, validator, data, ("data",)
        )
    else:
        errors, truncated = event_schemas.errors(validator, data, ("data",))
    if errors:
        raise _invalid_data(name, errors, truncated)


async def check_published(
    store: Store,
    catalog: Catalog,
    settings: Settings,
    tenant_id: str,
    type_: str,
    data: dict[str, Any],
) -> None:
    """A publish's type exists (built-in, or the tenant's and not archived), its data is
    within the size limit and valid under the type's schema."""
    if type_ in catalog:
        check_event(catalog, settings, type_, data)  # no store read for a built-in type
        return
    found = (await store.transaction(find_types, tenant_id, [type_])).get(type_)
    if found is None or found.archived_at is not None:
        raise _unknown(catalog, type_, archived=found is not None)
    size = _check_size(settings, data)
    key = (tenant_id, type_, found.version)
    validator = validators.get(key)
    if validator is None:
        version, schema = await store.transaction(type_schema, tenant_id, type_)
        validator = event_schemas.compile_schema(schema) if schema is not None else _NO_SCHEMA
        key = (tenant_id, type_, version)
        validators.put(key, validator)
    if validator is not _NO_SCHEMA:
        await _validate(validator, type_, data, size)


async def _active_row(
    session: AsyncSession, catalog: Catalog, tenant_id: str, name: str
) -> EventType:
    row = await _row(session, tenant_id, name)
    if row is None or row.archived_at is not None:
        raise _unknown(catalog, name, archived=row is not None)
    return row


def _row_validator(row: EventType) -> Any:
    key = (row.tenant_id, row.name, row.version)
    validator = validators.get(key)
    if validator is None:
        schema = row.json_schema
        validator = event_schemas.compile_schema(schema) if schema is not None else _NO_SCHEMA
        validators.put(key, validator)
    return validator


async def check_known(
    session: AsyncSession,
    catalog: Catalog,
    settings: Settings,
    tenant_id: str,
    type_: str,
    data: dict[str, Any],
) -> None:
    """The type exists for this tenant and the data is within the size limit (a filter
    trial: the schema is not applied)."""
    if type_ in catalog:
        check_event(catalog, settings, type_, data)
        return
    await _active_row(session, catalog, tenant_id, type_)
    _check_size(settings, data)


async def test_data(
    session: AsyncSession,
    catalog: Catalog,
    settings: Settings,
    tenant_id: str,
    type_: str,
    data: dict[str, Any] | None,
    now: datetime,
) -> dict[str, Any]:
    """What a test send delivers: the given data, else the tenant type's example, else a
    sample; checked as a publish is (a tenant type's schema applies)."""
    if type_ in catalog:
        chosen = data if data is not None else sample_data(type_, now)
        check_event(catalog, settings, type_, chosen)
        return chosen
    row = await _active_row(session, catalog, tenant_id, type_)
    if data is not None:
        chosen = data
    elif row.example is not None:
        chosen = row.example
    else:
        chosen = sample_data(type_, now)
    size = _check_size(settings, chosen)
    validator = _row_validator(row)
    if validator is not _NO_SCHEMA:
        await _validate(validator, type_, chosen, size)
    return chosen
