"""The delivery pool (activities/pool.py) and its network layer on plain asyncio
(activities/asyncio_backend.py): errors and timeouts surface as httpx's, keep-alive
connections are reused, a connection the receiver closed while idle is replaced instead of
failing the next delivery, requests beyond the pool's size wait their turn. (TLS, SNI and
certificate checks: tests/unit/test_send_pinning.py.)"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from hookline.activities.deps import delivery_transport
from hookline.activities.pinning import PinningTransport
from hookline.activities.pool import DeliveryPool
from hookline.core.config import Settings

HOST = "127.0.0.1"
REPLY = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok"


class Receiver:
    """Answers each request on a connection; `mode` says how."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.connections = 0
        self.writers: list[asyncio.StreamWriter] = []

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.writers.append(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length")
                )
                await reader.readexactly(length)
                if self.mode == "silent":
                    await asyncio.sleep(30)
                writer.write(REPLY)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@pytest.fixture
async def transport() -> AsyncIterator[httpx.AsyncBaseTransport]:
    http = delivery_transport(Settings(allow_private_urls=True))
    yield http
    await http.aclose()


async def serve(mode: str) -> tuple[Receiver, asyncio.Server, int]:
    receiver = Receiver(mode)
    server = await asyncio.start_server(receiver.serve, HOST, 0)
    return receiver, server, server.sockets[0].getsockname()[1]


async def post(
    http: httpx.AsyncBaseTransport, port: int, timeout: float = 5, body: bytes = b"{}"
) -> httpx.Response:
    request = httpx.Request(
        "POST",
        f"http://{HOST}:{port}/hook",
        content=body,
        extensions={"timeout": dict.fromkeys(("connect", "read", "write", "pool"), timeout)},
    )
    response = await http.handle_async_request(request)
    await response.aread()
    await response.aclose()
    return response


async def test_keep_alive_connections_are_reused(transport) -> None:
    receiver, server, port = await serve("answer")
    async with server:
        statuses = [(await post(transport, port)).status_code for _ in range(5)]
    assert statuses == [200] * 5
    assert receiver.connections == 1


async def test_bodies_larger_than_the_write_buffer_arrive_whole(transport) -> None:
    receiver, server, port = await serve("answer")
    async with server:
        for size in (10, 64 * 1024, 300 * 1024):  # the receiver reads exactly Content-Length
            assert (await post(transport, port, body=b"x" * size)).status_code == 200
    assert receiver.connections == 1


async def test_a_connection_closed_while_idle_is_replaced(transport) -> None:
    receiver, server, port = await serve("answer")
    async with server:
        assert (await post(transport, port)).status_code == 200
        for writer in receiver.writers:  # the receiver drops its idle keep-alive connection
            writer.close()
        await asyncio.sleep(0.1)
        assert (await post(transport, port)).status_code == 200
    assert receiver.connections == 2


async def test_a_receiver_that_never_answers_is_a_read_timeout(transport) -> None:
    _, server, port = await serve("silent")
    async with server:
        with pytest.raises(httpx.ReadTimeout):
            await post(transport, port, timeout=0.3)


async def test_a_refused_connection_is_a_connect_error(transport) -> None:
    _, server, port = await serve("answer")
    server.close()
    await server.wait_closed()
    with pytest.raises(httpx.ConnectError):
        await post(transport, port)


async def test_more_requests_than_connections_queue_and_all_complete() -> None:
    receiver, server, port = await serve("answer")
    http = PinningTransport(limits=httpx.Limits(max_connections=3, max_keepalive_connections=3))
    try:
        async with server:
            responses = await asyncio.gather(*(post(http, port) for _ in range(20)))
        assert [r.status_code for r in responses] == [200] * 20
        assert receiver.connections <= 3
        assert isinstance(http._pool, DeliveryPool)  # httpx still builds the pool we adjust
    finally:
        await http.aclose()


async def test_idle_connections_beyond_the_keep_alive_limit_are_closed() -> None:
    receiver, server, port = await serve("answer")
    http = PinningTransport(limits=httpx.Limits(max_connections=8, max_keepalive_connections=2))
    try:
        async with server:
            await asyncio.gather(*(post(http, port) for _ in range(8)))
            await post(http, port)  # its bookkeeping closes the surplus idle connections
            assert len(http._pool.connections) <= 2
            assert (await post(http, port)).status_code == 200
    finally:
        await http.aclose()
    assert receiver.connections >= 3  # the burst did open more than two
