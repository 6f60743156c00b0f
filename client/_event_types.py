"""The client's operations on event types: the catalog and the tenant's own types."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hookline.client._http import (
    UNSET,
    _adapter,
    _Call,
    _Client,
    _given,
    _operation,
    _parse,
    _segment,
)
from hookline.client.models import EventType, Page


class _EventTypeOperations(_Client):
    """The built-in event types and the tenant's own."""

    # ----------------------------------------------------------------------- event types

    @_operation
    def list_event_types(
        self,
        *,
        category: str | None = None,
        include_archived: bool = False,
        page: int = 1,
        limit: int = 20,
    ) -> _Call[Page[EventType]]:
        """The built-in catalog and the tenant's own types, sorted by name."""
        return (
            yield from self._get(
                "/event-types",
                _adapter(Page[EventType]),
                None,
                category=category,
                include_archived="true" if include_archived else None,
                page=page,
                limit=limit,
            )
        )

    @_operation
    def get_event_type(self, name: str) -> _Call[EventType]:
        return (yield from self._get(f"/event-types/{_segment(name)}", _adapter(EventType)))

    @_operation
    def create_event_type(
        self,
        name: str,
        *,
        description: str = "",
        schema: Mapping[str, Any] | None = None,
        example: Mapping[str, Any] | None = None,
    ) -> _Call[EventType]:
        """A type of the tenant's own, with an optional JSON Schema (2020-12) of its data."""
        body: dict[str, Any] = {"name": name, "description": description}
        if schema is not None:
            body["schema"] = schema
        if example is not None:
            body["example"] = example
        response = yield from self._request("POST", "/event-types", json=body)
        return _parse(response, _adapter(EventType))

    @_operation
    def update_event_type(
        self,
        name: str,
        *,
        description: str = UNSET,
        schema: Mapping[str, Any] | None = UNSET,
        example: Mapping[str, Any] | None = UNSET,
    ) -> _Call[EventType]:
        """Change the fields given (``None`` clears schema or example); ``version`` + 1."""
        body = _given(description=description, schema=schema, example=example)
        response = yield from self._request("PUT", f"/event-types/{_segment(name)}", json=body)
        return _parse(response, _adapter(EventType))

    @_operation
    def archive_event_type(self, name: str) -> _Call[None]:
        """Archive a type: no new subscription, no publish; its events keep their history."""
        yield from self._request("DELETE", f"/event-types/{_segment(name)}")

    @_operation
    def restore_event_type(self, name: str) -> _Call[EventType]:
        """Bring an archived type back."""
        response = yield from self._request(
            "PUT", f"/event-types/{_segment(name)}", json={"archived": False}
        )
        return _parse(response, _adapter(EventType))
