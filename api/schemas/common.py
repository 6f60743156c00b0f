"""Envelopes of the public contract: {"data": …}, {"data": [...], "meta": …}, {"success": …}."""

from __future__ import annotations

import math
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel, Field

T = TypeVar("T")

MAX_LIMIT = 100


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
    422: {"model": ErrorResponse, "description": "Unprocessable Entity"},
    429: {"model": ErrorResponse, "description": "Too Many Requests - Rate limit exceeded"},
}
