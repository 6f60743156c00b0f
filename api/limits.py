"""Request body limits: 413 before a large body is read into memory; 408 for a body that does
not arrive in time, and a connection closed after any answer given before its body was read."""

from __future__ import annotations

import asyncio
import json

from fastapi import Request
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hookline.api.errors import ApiError, error_body


async def no_nul_in_address(request: Request) -> None:
    """An app-wide dependency: a path or query parameter with NUL (%00) is a 400. Ids and
    filters are looked up in the store, and PostgreSQL's text cannot hold NUL."""
    if "\x00" in request.url.path or any(
        "\x00" in key or "\x00" in value for key, value in request.query_params.multi_items()
    ):
        raise ApiError(400, "the address must not contain the NUL character (%00)")


class BodySizeLimit:
    """A request head over `max_head_bytes` is a 400 (h11 bounds only a head still arriving:
    one that came whole in a single read was parsed, however large); a body over `max_bytes`
    a 413, before it is read."""

    def __init__(self, app: ASGIApp, *, max_bytes: int, max_head_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_head_bytes = max_head_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = scope.get("headers") or []
        # Each header line as sent: name, ": ", value, CRLF.
        head = len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"")
        head += sum(len(name) + len(value) + 4 for name, value in headers)
        if head > self.max_head_bytes:
            message = f"request head over {self.max_head_bytes} bytes (its line and headers)"
            await _answer(send, 400, error_body("bad_request", message))
            return
        declared = dict(headers).get(b"content-length")
        if (
            declared is not None
            and declared.isdigit()
            and (len(declared) > 18 or int(declared) > self.max_bytes)
        ):
            await self._reject(send)
            return
        seen = 0

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    # FastAPI turns other errors raised while it reads the body into 400s.
                    raise HTTPException(413, f"request body over {self.max_bytes} bytes")
            return message

        await self.app(scope, limited_receive, send)

    async def _reject(self, send: Send) -> None:
        message = f"request body over {self.max_bytes} bytes"
        await _answer(send, 413, error_body("payload_too_large", message))


async def _answer(send: Send, status: int, error: dict) -> None:
    body = json.dumps(error).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


CLOSE = (b"connection", b"close")


def _declares_body(scope: Scope) -> bool:
    headers = dict(scope.get("headers") or [])
    length = headers.get(b"content-length")
    return b"transfer-encoding" in headers or (length is not None and length.strip() != b"0")


class BodyReadTimeout:
    """The request's body must arrive whole within ``timeout`` seconds of the app's first read
    of it: else the answer is 408 with ``Connection: close``, whatever the app made of the
    cut-off read. An answer sent while the client still owes body bytes (a 401 before the body
    is read, say) carries ``Connection: close`` too, so a client cannot keep the connection by
    trickling a body nobody reads. (uvicorn has no timeout of its own for a request's head or
    body: README, "Connections".)"""

    def __init__(self, app: ASGIApp, *, timeout: float) -> None:
        self.app = app
        self.timeout = timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _declares_body(scope):
            await self.app(scope, receive, send)
            return
        deadline: float | None = None
        body_done = timed_out = replaced = False

        async def timed_receive() -> Message:
            nonlocal deadline, body_done, timed_out
            if body_done:
                return await receive()  # http.disconnect, when the app waits for it
            loop = asyncio.get_running_loop()
            if deadline is None:
                deadline = loop.time() + self.timeout
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                timed_out = True
                # Through FastAPI's body parsing as it is (it turns other errors into 400s);
                # the answer is replaced by ours below.
                raise HTTPException(408, "request body not received in time") from None
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_done = True
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal replaced
            if timed_out:
                if not replaced and message["type"] == "http.response.start":
                    replaced = True
                    await self._timeout_answer(send)
                return
            if message["type"] == "http.response.start" and not body_done:
                headers = list(message.get("headers") or [])
                if CLOSE not in headers:
                    message = {**message, "headers": [*headers, CLOSE]}
            await send(message)

        await self.app(scope, timed_receive, guarded_send)

    async def _timeout_answer(self, send: Send) -> None:
        message = f"request body not received within {self.timeout:g} s"
        body = json.dumps(error_body("request_timeout", message)).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 408,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    CLOSE,
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
