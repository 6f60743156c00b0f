"""The checks publishing, subscribing and test sends make against event types (built-in, or
the tenant's own: services/event_types.py).

A tenant type may carry a JSON Schema of its events' `data` (core/event_schemas.py): every
publish of it is validated (422 listing each error with its JSON pointer). Built-in types have
no schema, and publishing one reads nothing from the store: the hot path is unchanged for them.
A tenant type costs one indexed lookup per publish (its version and whether it is archived);
its compiled validator is kept per (tenant, type, version) in the process.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hookline.api.errors import ApiError
from hookline.api.publish import check_event
from hookline.api.schemas.trials import sample_data
from hookline.api.services.event_types import invalid_data, json_size, tenant_row
from hookline.core import event_schemas
from hookline.core.catalog import Catalog, closest
from hookline.infra.config import Settings
from hookline.store.event_types import active_names, find_types, type_schema
from hookline.store.tables import EventType
from hookline.store.transactions import Store

# Data larger than this is validated off the event loop (a schema's work grows with the data).
VALIDATE_INLINE_BYTES = 32 * 1024

validators = event_schemas.ValidatorCache(size=1024)
_NO_SCHEMA = False  # cached for a version without a schema


async def tenant_names(session: AsyncSession, tenant_id: str) -> list[str]:
    """The tenant's types that take subscriptions and publishes (not archived)."""
    return await session.run_sync(lambda sync: active_names(sync.connection(), tenant_id))


async def _tenant_types(session: AsyncSession, tenant_id: str) -> tuple[list[str], list[str]]:
    """The tenant's type names, in one read: those not archived, and those archived."""
    active: list[str] = []
    archived: list[str] = []
    rows = await session.execute(
        select(EventType.name, EventType.archived_at.is_not(None)).where(
            EventType.tenant_id == tenant_id
        )
    )
    for name, shelved in rows:
        (archived if shelved else active).append(name)
    return active, archived


async def check_patterns(
    session: AsyncSession,
    catalog: Catalog,
    tenant_id: str,
    patterns: list[str],
    kept: list[str] | None = None,
    allow_archived: bool = False,
) -> None:
    """Every subscription pattern matches a type that exists now (built-in or the tenant's,
    not archived): an exact name, `prefix.*` matching one, or `*`. `kept`: patterns a webhook
    already has, accepted as they are (a type archived since does not block an edit).
    `allow_archived`: archived types count too (a search of the webhooks subscribed to one)."""
    new = [p for p in patterns if p not in (kept or [])]
    if not new:
        return
    own: list[str] = []
    archived: list[str] = []
    if catalog.unknown(new):  # only then is the store read
        own, archived = await _tenant_types(session, tenant_id)
        if allow_archived:
            own += archived
    unknown = catalog.unknown(new, own)
    if not unknown:
        return
    shelved = [p for p in unknown if not catalog.unknown([p], archived)]
    if shelved and shelved == unknown:
        raise ApiError(
            400,
            f"event type(s) archived: {', '.join(shelved)}; restore one "
            '(PUT /event-types/{name} {"archived": false}) to subscribe to it',
            details={"archived": shelved},
            code="archived_event_type",
        )
    # The closest names (or `category.*` for a wildcard), not the whole catalog.
    did_you_mean = closest(unknown, [*catalog.names(), *own])
    hint = f"; did you mean {', '.join(did_you_mean)}?" if did_you_mean else ""
    raise ApiError(
        400,
        f"unknown event type(s): {', '.join(unknown)}{hint}",
        details={"unknown": unknown, "did_you_mean": did_you_mean, "archived": shelved},
        code="unknown_event_type",
    )


async def check_event_type(
    session: AsyncSession, catalog: Catalog, tenant_id: str, name: str
) -> None:
    """`name` is one event type the tenant's events may have: built-in, or the tenant's own,
    archived ones too (their events are still kept). A pattern is refused: it names none."""
    if name in catalog:
        return
    active, archived = await _tenant_types(session, tenant_id)
    if name not in active and name not in archived:
        raise _unknown(catalog, name, active)


def _unknown(
    catalog: Catalog, name: str, own: list[str] | None = None, archived: bool = False
) -> ApiError:
    """The 400 for a type that cannot be published or tested; `own`: the tenant's types that
    can, offered beside the built-in ones."""
    names = [*catalog.names(), *(own or [])]
    if archived:
        return ApiError(
            400,
            f"event type {name!r} is archived",
            details={"type": name},
            code="archived_event_type",
        )
    if "*" in name:  # a pattern subscribes; an event (or a test of one) has one type
        prefix = name.rstrip("*")
        did_you_mean = [n for n in names if n.startswith(prefix)][:3]
        return ApiError(
            400,
            f"{name!r} is a pattern: an event has one type"
            + (f", such as {', '.join(map(repr, did_you_mean))}" if did_you_mean else ""),
            details={"did_you_mean": did_you_mean},
            code="unknown_event_type",
        )
    did_you_mean = closest([name], names)
    hint = f"; did you mean {', '.join(map(repr, did_you_mean))}?" if did_you_mean else ""
    return ApiError(
        400,
        f"unknown event type {name!r}{hint}",
        details={"did_you_mean": did_you_mean},
        code="unknown_event_type",
    )


def _checkjson_size(settings: Settings, data: dict[str, Any]) -> int:
    size = json_size(data)
    if size > settings.max_payload_bytes:
        raise ApiError(
            413, f"event data is {size} bytes; the limit is {settings.max_payload_bytes}"
        )
    return size


async def _validate(validator: Any, name: str, data: dict[str, Any], size: int) -> None:
    if size > VALIDATE_INLINE_BYTES:
        errors, truncated = await asyncio.to_thread(
            event_schemas.errors, validator, data, ("data",), size
        )
    else:
        errors, truncated = event_schemas.errors(validator, data, ("data",), size)
    if errors:
        raise invalid_data(name, errors, truncated)


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
    if found is None:
        raise _unknown(catalog, type_, await store.transaction(active_names, tenant_id))
    if found.archived_at is not None:
        raise _unknown(catalog, type_, archived=True)
    size = _checkjson_size(settings, data)
    key = (tenant_id, type_, found.version)
    validator = validators.get(key)
    if validator is None:
        version, schema = await store.transaction(type_schema, tenant_id, type_)
        validator = event_schemas.compile_schema(schema) if schema is not None else _NO_SCHEMA
        key = (tenant_id, type_, version)
        validators.put(key, validator)
    if validator is not _NO_SCHEMA:
        await _validate(validator, type_, data, size)


async def _activetenant_row(
    session: AsyncSession, catalog: Catalog, tenant_id: str, name: str
) -> EventType:
    row = await tenant_row(session, tenant_id, name)
    if row is None:
        raise _unknown(catalog, name, await tenant_names(session, tenant_id))
    if row.archived_at is not None:
        raise _unknown(catalog, name, archived=True)
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
    await _activetenant_row(session, catalog, tenant_id, type_)
    _checkjson_size(settings, data)


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
    row = await _activetenant_row(session, catalog, tenant_id, type_)
    if data is not None:
        chosen = data
    elif row.example is not None:
        chosen = row.example
    else:
        chosen = sample_data(type_, now)
    size = _checkjson_size(settings, chosen)
    validator = _row_validator(row)
    if validator is not _NO_SCHEMA:
        try:
            await _validate(validator, type_, chosen, size)
        except ApiError as error:
            if data is None and row.example is None:  # hookline's sample, not the caller's
                error.message = (
                    f"{type_} has a schema but no example, and a generic sample does not fit "
                    "it: set the type's example, or send the test's data"
                )
            raise
    return chosen
