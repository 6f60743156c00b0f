"""One error format everywhere: {"error": {"code", "message", "details"}}."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from hookline.api.json_body import BodyRejected
from hookline.core import jsonlimits

log = logging.getLogger("hookline.api")

CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    410: "gone",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "unprocessable_entity",
    429: "rate_limited",
    500: "internal_error",
    503: "service_unavailable",
}


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        *,
        details: Any = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = details
        self.code = code or CODES.get(status, "error")
        self.headers = headers


def error_body(code: str, message: str, details: Any = None) -> dict:
    return {"error": {"code": code, "message": message, "details": details}}


def error_response(
    status: int, message: str, details: Any = None, headers: dict | None = None
) -> JSONResponse:
    return JSONResponse(
        error_body(CODES.get(status, "error"), message, details), status, headers=headers
    )


def not_found(what: str, ident: str) -> ApiError:
    return ApiError(404, f"{what} {ident} does not exist")


def without_trailing_slash(request: Request) -> str | None:
    """The request's path without its trailing slash(es), when a route answers that path
    and method: what a 404 suggests instead of redirecting."""
    path = request.url.path
    stripped = path.rstrip("/")
    if not stripped or stripped == path:
        return None
    scope = {**request.scope, "path": stripped}
    for route in request.app.router.routes:
        if route.matches(scope)[0] is Match.FULL:
            return stripped
    return None


def _validation_details(exc: RequestValidationError) -> list[dict]:
    return [
        {
            "loc": [str(part) for part in err.get("loc", ())],
            "message": err.get("msg", ""),
            "type": err.get("type", ""),
        }
        for err in exc.errors()
    ]


def _body_not_json(request: Request, details: list[dict]) -> str | None:
    """Why a route's JSON body was not read, when the whole body failed (not one of its
    fields): there was none, or it was not sent as JSON (FastAPI reads a body as JSON only
    with a JSON Content-Type). None when the body was JSON of the wrong shape: that is a 422."""
    whole = [d for d in details if d["loc"] == ["body"]]
    empty = request.headers.get("content-length", "0") == "0"  # not a JSON `null`
    if empty and any(d["type"] == "missing" for d in whole):
        return "this request needs a JSON body"
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    is_json = content_type == "application/json" or content_type.endswith("+json")
    if whole and not is_json:
        had = content_type or "none"
        return f"the body must be sent as JSON, Content-Type: application/json (this one had {had})"
    return None


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(
            error_body(exc.code, exc.message, exc.details), exc.status, headers=exc.headers
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        details = _validation_details(exc)
        if any(d["type"] == "json_invalid" for d in details):
            return error_response(400, "malformed JSON body", details)
        unread = _body_not_json(request, details)
        if unread is not None:
            rule = {"limit": jsonlimits.SYNTAX, "rule": jsonlimits.LIMITS[jsonlimits.SYNTAX]}
            return error_response(400, unread, rule)
        # Query, path and header parameters: 400, "Invalid parameters" (the public contract).
        if all(d["loc"] and d["loc"][0] in ("query", "path", "header") for d in details):
            return error_response(400, "invalid parameters", details)
        return error_response(422, "request body failed validation", details)

    @app.exception_handler(BodyRejected)
    async def _body(_: Request, exc: BodyRejected) -> JSONResponse:
        error = exc.error
        details = {"limit": error.limit, "rule": jsonlimits.LIMITS[error.limit]}
        if error.path:
            details["path"] = error.path
        return JSONResponse(error_body(CODES[400], error.message, details), 400)

    @app.exception_handler(PoolTimeout)
    async def _store_busy(request: Request, exc: PoolTimeout) -> JSONResponse:
        # Every connection of this process's pool stayed in use past its timeout: a burst,
        # not a bug and not the client's fault. Nothing was written by this request.
        log.warning("store pool exhausted on %s %s", request.method, request.url.path)
        return error_response(503, "the store is busy; retry shortly", headers={"Retry-After": "5"})

    @app.exception_handler(Exception)
    async def _last_resort(request: Request, exc: Exception) -> JSONResponse:
        # A bug, never the client's input: still the one error shape (Starlette re-raises the
        # exception after this answer, so the server logs it too).
        log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return error_response(500, "internal error; the server logged it")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404 and (stripped := without_trailing_slash(request)):
            message = f"no route at {request.url.path}; paths take no trailing slash: {stripped}"
            return error_response(404, message, {"did_you_mean": stripped})
        message = exc.detail if isinstance(exc.detail, str) else CODES.get(exc.status_code, "")
        return error_response(exc.status_code, message, headers=getattr(exc, "headers", None))
