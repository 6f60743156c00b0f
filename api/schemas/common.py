"""Envelopes of the public contract: {"data": …}, {"data": [...], "meta": …}, {"success": …}."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Query
from pydantic import (
    AfterValidator,
    BaseModel,
    Field,
    StringConstraints,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
)

T = TypeVar("T")

MAX_LIMIT = 100


def utc_instant(value: datetime) -> datetime:
    """An instant the store can keep, in UTC; without a zone it is UTC. ValueError when it
    lies outside the years 1 to 9999 once in UTC (0001-01-01T00:00:00+14:00, say)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("the instant lies outside the years 1 to 9999 in UTC") from None


def no_nul(value: str) -> str:
    """Text the store keeps or looks up: PostgreSQL's text cannot hold NUL (U+0000)."""
    if "\x00" in value:
        raise ValueError("text must not contain the NUL character (U+0000)")
    return value


# A string of a body that goes into a text column or a WHERE clause.
StoreText = Annotated[str, AfterValidator(no_nul)]
# Characters that would make a label read other than it is written: controls (C0 but tab and
# line breaks, DEL, C1) and the bidirectional overrides and isolates.
_INVISIBLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_LINE_BREAK = re.compile("[\t\n\r\u2028\u2029]")


def visible(value: str) -> str:
    """Text shown to people as written: no control character nor bidirectional override."""
    found = _INVISIBLE.search(value)
    if found:
        raise ValueError(
            f"U+{ord(found.group()):04X} at character {found.start()}: no control characters "
            "or bidirectional overrides"
        )
    return value


def one_line(value: str) -> str:
    """Visible text on one line (no tab or line break either)."""
    found = _LINE_BREAK.search(visible(value))
    if found:
        raise ValueError(f"U+{ord(found.group()):04X} at character {found.start()}: one line")
    return value


# A description: its bound inside the type, so that an optional one is refused as text
# ("at most 1000 characters"), not as a value of unknown kind.
Description = Annotated[
    str, StringConstraints(max_length=1000), AfterValidator(no_nul), AfterValidator(visible)
]


_NUMBER = re.compile(r"\s*[-+]?[0-9]+(\.[0-9]*)?([eE][-+]?[0-9]+)?\s*")


def _readable_instant(value: Any, handler: ValidatorFunctionWrapHandler) -> datetime:
    """The parser's own words for a time out of range ("unexpected extra characters" for
    T24:00:00Z) do not say what is wrong: this does. A number (or its text) is refused, not
    read as seconds since 1970: milliseconds would land 50,000 years away. A date alone is
    its midnight, UTC."""
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if number or (isinstance(value, str) and _NUMBER.fullmatch(value)):
        raise ValueError(
            f"{str(value)[:40]!r} is a number, not a date-time such as 2026-01-31T23:59:59Z "
            "(RFC 3339)"
        )
    try:
        return handler(value)
    except ValidationError as exc:
        if not isinstance(value, str) or exc.errors()[0]["type"] != "datetime_from_date_parsing":
            raise
        raise ValueError(
            f"{value[:40]!r} is not a date-time such as 2026-01-31T23:59:59Z (RFC 3339: hours "
            "00 to 23, minutes and seconds 00 to 59, a zone or none for UTC)"
        ) from None


# A date and time a client sends (query parameters, bodies): refused with a 400/422, not a 500.
Instant = Annotated[datetime, WrapValidator(_readable_instant), AfterValidator(utc_instant)]


class Meta(BaseModel):
    total: int = Field(examples=[12])
    page: int = Field(examples=[1])
    limit: int = Field(examples=[20])
    pages: int = Field(examples=[1])


class Data(BaseModel, Generic[T]):
    data: T


class Page(BaseModel, Generic[T]):
    data: list[T]
    meta: Meta


class Success(BaseModel):
    success: bool = True
    message: str = Field(examples=["Webhook deleted successfully"])


class ErrorBody(BaseModel):
    code: str = Field(examples=["not_found"])
    message: str = Field(examples=["webhook wh_123 does not exist"])
    details: Any = None


class ErrorResponse(BaseModel):
    error: ErrorBody


class Pagination(BaseModel):
    page: int
    limit: int

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.limit

    def meta(self, total: int) -> Meta:
        pages = math.ceil(total / self.limit) if total else 0
        return Meta(total=total, page=self.page, limit=self.limit, pages=pages)


async def pagination(  # async: FastAPI would run a plain def in a thread
    page: Annotated[int, Query(ge=1, le=1_000_000, description="Page number (default 1)")] = 1,
    limit: Annotated[
        int,
        Query(ge=1, le=MAX_LIMIT, description="Results per page (default 20, max 100; 400 above)"),
    ] = 20,
) -> Pagination:
    return Pagination(page=page, limit=limit)


PaginationDep = Annotated[Pagination, Depends(pagination)]

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "Bad Request - Invalid parameters"},
    401: {"model": ErrorResponse, "description": "Unauthorized - Authentication required"},
    403: {"model": ErrorResponse, "description": "Forbidden - Insufficient permissions"},
    404: {"model": ErrorResponse, "description": "Not Found"},
    409: {
        "model": ErrorResponse,
        "description": "Conflict - e.g. an inactive webhook, an Idempotency-Key reused",
    },
    413: {"model": ErrorResponse, "description": "Content Too Large"},
    422: {"model": ErrorResponse, "description": "Unprocessable Entity"},
    429: {"model": ErrorResponse, "description": "Too Many Requests - Rate limit exceeded"},
    503: {
        "model": ErrorResponse,
        "description": "Service Unavailable - Temporal did not answer; retry after Retry-After",
    },
}
