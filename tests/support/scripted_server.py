"""Receivers scripted byte by byte on 127.0.0.1, for the delivery client's tests: what each
request is answered with, whether the connection stays open, requests held until released."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from hookline.core.models import SendResult
from hookline.delivery.transport import DeliveryTransport
from tests.support.send import post

Serve = Callable[["Scripted"], Awaitable[int]]


class Scripted:
    """Reads each request whole, then writes `reply(n)` for the nth request (0-based) on the
    server; closes after a reply when `close_after(n)` says so. Counts connections and
    requests in flight; a request waits for `release` when `hold` is set."""

    def __init__(
        self,
        reply: Callable[[int], bytes],
        close_after: Callable[[int], bool] = lambda n: False,
        hold: bool = False,
    ) -> None:
        self.reply = reply
        self.close_after = close_after
        self.connections = 0
        self.requests: list[bytes] = []
        self.served = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.hold = hold
        self.release = asyncio.Event()
        self.arrived = asyncio.Condition()
        self.writers: list[asyncio.StreamWriter] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.writers.append(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                self.requests.append(head + await reader.readexactly(length))
                n, self.served = self.served, self.served + 1
                self.in_flight += 1
                self.max_in_flight = max(self.max_in_flight, self.in_flight)
                async with self.arrived:
                    self.arrived.notify_all()
                if self.hold:
                    await self.release.wait()
                self.in_flight -= 1
                writer.write(self.reply(n))
                await writer.drain()
                if self.close_after(n):
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def wait_in_flight(self, count: int) -> None:
        async with self.arrived:
            await asyncio.wait_for(self.arrived.wait_for(lambda: self.in_flight >= count), 10)


@asynccontextmanager
async def scripted_servers() -> AsyncIterator[Serve]:
    """`start(scripted)` serves it on a port of 127.0.0.1 (returned) until the block ends."""
    servers: list[asyncio.Server] = []

    async def start(scripted: Scripted) -> int:
        server = await asyncio.start_server(scripted.handle, "127.0.0.1", 0)
        servers.append(server)
        return server.sockets[0].getsockname()[1]

    try:
        yield start
    finally:
        for server in servers:
            server.close()


def ok(body: bytes = b"ok", extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n%s" % (len(body), extra, body)


async def send_to(http: DeliveryTransport, port: int, **kwargs: float) -> SendResult:
    return await post(http, f"http://127.0.0.1:{port}/hook", body=b'{"id":"evt_1"}', **kwargs)
