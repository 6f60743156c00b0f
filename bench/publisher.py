"""The benchmark's publisher: POSTs events to the API over plain HTTP/1.1 keep-alive.

The publisher stands for the customers' applications, which run on their own machines. Here it
shares the 2 cores with what is measured, so it is kept lean, as the receiver is: one
connection per lane, a request written in one `write`, the reply read by Content-Length: a
fraction of the CPU per event that `httpx.AsyncClient` costs (docs/PERFORMANCE.md; the
"bench" CPU of each scenario in `hookline bench --output`).

It speaks only what uvicorn answers on 127.0.0.1: a status line, headers and a
Content-Length body. Anything else raises, and so does a status other than 2xx.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

_MAX_HEAD = 64 * 1024


class PublishError(RuntimeError):
    pass


class Connection:
    """One keep-alive connection; reopened when the server closed it between requests."""

    def __init__(self, host: str, port: int, token: str) -> None:
        self.host, self.port = host, port
        self._head = (
            f"POST /api/v1/events HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
        ).encode("ascii")
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def post_json(self, document: Any, timeout: float = 30) -> dict:
        body = json.dumps(document, separators=(",", ":")).encode()
        request = self._head + b"Content-Length: %d\r\n\r\n" % len(body) + body
        async with asyncio.timeout(timeout):
            for retry in (False, True):
                if self._writer is None:
                    self._reader, self._writer = await asyncio.open_connection(
                        self.host, self.port, limit=_MAX_HEAD
                    )
                assert self._reader is not None
                try:
                    self._writer.write(request)
                    status, close, payload = await self._read_reply(self._reader)
                    break
                except (ConnectionError, asyncio.IncompleteReadError):
                    await self.aclose()
                    if retry:
                        raise
        if close:
            await self.aclose()
        if not 200 <= status < 300:
            raise PublishError(f"POST /api/v1/events -> {status}: {payload[:200]!r}")
        return json.loads(payload)

    @staticmethod
    async def _read_reply(reader: asyncio.StreamReader) -> tuple[int, bool, bytes]:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        version, _, rest = head[0].partition(" ")
        if not version.startswith("HTTP/1."):
            raise PublishError(f"not an HTTP/1.x reply: {head[0]!r}")
        status = int(rest.split(" ", 1)[0])
        length, close = None, version == "HTTP/1.0"
        for line in head[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "connection":
                close = value.strip().lower() == "close"
            elif name == "transfer-encoding":
                raise PublishError("chunked replies are not expected from the API")
        if length is None:
            raise PublishError("reply without Content-Length")
        return status, close, await reader.readexactly(length)

    async def aclose(self) -> None:
        writer, self._reader, self._writer = self._writer, None, None
        if writer is not None:
            writer.close()
            try:
                await writer.wait_closed()
            except ConnectionError:
                pass
