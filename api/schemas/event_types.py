"""Schemas of event types: the built-in catalog and each tenant's own."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from hookline.api.schemas.common import Description
from hookline.core.catalog import NAME_MAX

TypeName = Annotated[
    str,
    StringConstraints(
        min_length=1, max_length=NAME_MAX, pattern=r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$"
    ),
]

ORDER_SCHEMA = {
    "type": "object",
    "required": ["id", "amount", "currency"],
    "properties": {
        "id": {"type": "string", "pattern": "^ord_"},
        "amount": {"type": "integer", "minimum": 0},
        "currency": {"type": "string", "enum": ["EUR", "USD"]},
    },
}
ORDER_EXAMPLE = {"id": "ord_123", "amount": 4200, "currency": "EUR"}


class EventTypeCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        json_schema_extra={
            "examples": [
                {
                    "name": "order.created",
                    "description": "An order was placed",
                    "schema": ORDER_SCHEMA,
                    "example": ORDER_EXAMPLE,
                }
            ]
        },
    )

    name: TypeName = Field(
        description="Dot-separated words of letters, digits, `_` and `-`; not a built-in name."
    )
    description: Description = ""
    json_schema: dict[str, Any] | None = Field(
        default=None,
        alias="schema",
        description="JSON Schema (draft 2020-12) of the events' `data`. Local `$ref` only; "
        "`pattern` is RE2; `format` is not asserted.",
    )
    example: dict[str, Any] | None = Field(
        default=None,
        description="Sample `data` (valid under the schema): what `POST /webhooks/{id}/test` "
        "sends for this type.",
    )


class EventTypeUpdate(BaseModel):
    """Only the fields given change (the version goes up by one); `null` clears `schema` and
    `example`; `"archived": false` brings an archived type back."""

    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        json_schema_extra={"examples": [{"description": "An order was placed or imported"}]},
    )

    description: Description | None = None
    json_schema: dict[str, Any] | None = Field(default=None, alias="schema")
    example: dict[str, Any] | None = None
    archived: Literal[False] | None = Field(default=None, description="`false`: unarchive.")

    @model_validator(mode="after")
    def _not_null(self) -> EventTypeUpdate:
        if "description" in self.model_fields_set and self.description is None:
            raise ValueError("description cannot be null")
        return self


class EventTypeOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    name: str = Field(examples=["user.created"])
    description: str = Field(examples=["A new user has been created"])
    category: str = Field(examples=["user"], description="The name's first word.")
    source: Literal["builtin", "operator", "tenant"] = Field(
        default="builtin",
        description="`builtin`: hookline's catalog; `operator`: HOOKLINE_EVENT_TYPES; "
        "`tenant`: the tenant's own.",
    )
    json_schema: dict[str, Any] | None = Field(default=None, alias="schema")
    example: dict[str, Any] | None = Field(
        default=None, description="The tenant's example, or the sample a test event sends."
    )
    version: int | None = Field(default=None, description="A tenant type's; +1 per change.")
    archived: bool = False
    created_at: datetime | None = None
    updated_at: datetime | None = None
