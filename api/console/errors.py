"""Errors under /console are HTML pages; everywhere else the API's JSON shape stays."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import RedirectResponse, Response

from hookline.api.console.auth import COOKIE_PATH, ConsoleError
from hookline.api.console.render import page
from hookline.api.errors import ApiError, without_trailing_slash

Handler = Callable[[Request, Exception], Awaitable[Response]]
TITLES = {
    400: "Bad request",
    401: "Not signed in",
    403: "Not allowed",
    404: "Not found",
    405: "Not allowed here",
    413: "Too large",
    422: "Not valid",
    429: "Too many requests",
    503: "Temporarily unavailable",
}


def is_console(request: Request) -> bool:
    path = request.url.path
    return path == COOKIE_PATH or path.startswith(COOKIE_PATH + "/")


def error_page(request: Request, status: int, title: str, message: str = "") -> Response:
    response = page(
        request,
        "error.html",
        {"status_code": status, "title": title, "message": message},
        status_code=status,
    )
    if status == 503:
        response.headers["Retry-After"] = "5"
    return response


def _console_error(request: Request, exc: Exception) -> Response:
    if isinstance(exc, ConsoleError):
        return error_page(request, exc.status, exc.title, exc.message)
    if isinstance(exc, ApiError):
        message = exc.message[:1].upper() + exc.message[1:] + "."
        return error_page(request, exc.status, TITLES.get(exc.status, "Error"), message)
    if isinstance(exc, RequestValidationError):
        return error_page(request, 400, "Bad request", "The form or the address is not valid.")
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    message = ""
    if status == 404:
        stripped = without_trailing_slash(request)
        if stripped and request.method in ("GET", "HEAD"):
            # A page typed with a slash: to its address, built from the path alone (never
            # from the Host header, as Starlette's own redirect would).
            query = f"?{request.url.query}" if request.url.query else ""
            return RedirectResponse(request.scope.get("root_path", "") + stripped + query, 307)
        message = "There is no such page in the console."
    return error_page(request, status, TITLES.get(status, "Error"), message)


def install(app: FastAPI) -> None:
    """After `api.errors.install`: wraps its handlers so /console paths get a page."""

    async def console_error(request: Request, exc: Exception) -> Response:
        return _console_error(request, exc)

    app.add_exception_handler(ConsoleError, console_error)
    for kind in (ApiError, RequestValidationError, StarletteHTTPException):
        previous: Handler = app.exception_handlers[kind]

        async def handler(request: Request, exc: Exception, previous: Handler = previous):
            if is_console(request):
                return _console_error(request, exc)
            return await previous(request, exc)

        app.add_exception_handler(kind, handler)
