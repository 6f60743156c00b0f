"""A tenant's event types on the publish path: one indexed lookup by (tenant, name), the
schema read only when the process has no validator for that version yet."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Row, bindparam, select

from hookline.store.tables import EventType

_TYPES = EventType.__table__
_BY_NAME = select(_TYPES.c.version, _TYPES.c.archived_at).where(
    _TYPES.c.tenant_id == bindparam("tenant"), _TYPES.c.name == bindparam("name")
)
_SCHEMA = select(_TYPES.c.version, _TYPES.c.schema).where(
    _TYPES.c.tenant_id == bindparam("tenant"), _TYPES.c.name == bindparam("name")
)


def find_types(connection: Connection, tenant_id: str, names: list[str]) -> dict[str, Row[Any]]:
    """The tenant's types of these names (archived ones too): version and archived_at."""
    return {
        name: row
        for name in dict.fromkeys(names)
        if (row := connection.execute(_BY_NAME, {"tenant": tenant_id, "name": name}).first())
    }


def type_schema(
    connection: Connection, tenant_id: str, name: str
) -> tuple[int, dict[str, Any] | None]:
    """The type's current version and its schema (None: the type has none)."""
    row = connection.execute(_SCHEMA, {"tenant": tenant_id, "name": name}).one()
    return row.version, row.schema


def active_names(connection: Connection, tenant_id: str) -> list[str]:
    """The tenant's types not archived, by name: what a refused publish may suggest."""
    query = select(_TYPES.c.name).where(
        _TYPES.c.tenant_id == tenant_id, _TYPES.c.archived_at.is_(None)
    )
    return list(connection.scalars(query.order_by(_TYPES.c.name)))
