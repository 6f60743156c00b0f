"""Request bodies are read by one parser with one set of limits (core/jsonlimits.py).

FastAPI reads a JSON body with `await request.json()`; routes of these routers get a Request
whose `json()` is `jsonlimits.parse` (the documented "custom Request and APIRoute class").
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException

from hookline.core import jsonlimits


class BodyRejected(HTTPException):
    """A body outside hookline's JSON. An HTTPException so that FastAPI lets it through as
    it is (it turns any other error raised while reading a body into a bare 400)."""

    def __init__(self, error: jsonlimits.JsonLimitError) -> None:
        super().__init__(400, error.message)
        self.error = error


class LimitedJsonRequest(Request):
    async def json(self) -> Any:
        try:
            return jsonlimits.parse(await self.body())
        except jsonlimits.JsonLimitError as exc:
            raise BodyRejected(exc) from None


class LimitedJsonRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def limited(request: Request) -> Response:
            return await handler(LimitedJsonRequest(request.scope, request.receive))

        return limited
