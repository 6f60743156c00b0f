"""The delivery pool's HTTP/1.1 connection (activities/http11.py) against scripted receivers on
127.0.0.1: reply framing, interim replies, keep-alive and its refusals, broken replies."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from hookline.activities.deps import delivery_transport
from hookline.core.config import Settings

PHASES = ("connect", "read", "write", "pool")


class Scripted:
    """Reads each request whole, then writes `reply(n)` for the nth request (0-based) on the
    connection; closes after a reply when `close_after` says so. Counts connections."""

    def __init__(
        self, reply: Callable[[int], bytes], close_after: Callable[[int], bool] = lambda n: False
    ) -> None:
        self.reply = reply
        self.close_after = close_after
        self.connections = 0
        self.requests: list[bytes] = []
        self.served = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                self.requests.append(head + await reader.readexactly(length))
                n, self.served = self.served, self.served + 1
                writer.write(self.reply(n))
                await writer.drain()
                if self.close_after(n):
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Scripted], asyncio.Future]]:
    servers: list[asyncio.Server] = []

    async def start(scripted: Scripted) -> int:
        server = await asyncio.start_server(scripted.handle, "127.0.0.1", 0)
        servers.append(server)
        return server.sockets[0].getsockname()[1]

    yield start
    for server in servers:
        server.close()


async def post(http: httpx.AsyncBaseTransport, port: int, **headers: str) -> httpx.Response:
    request = httpx.Request(
        "POST",
        f"http://127.0.0.1:{port}/hook",
        content=b'{"id":"evt_1"}',
        headers=headers,
        extensions={"timeout": dict.fromkeys(PHASES, 5.0)},
    )
    reply = await http.handle_async_request(request)
    try:
        await reply.aread()
    finally:
        await reply.aclose()
    return reply


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncBaseTransport]:
    transport = delivery_transport(Settings(allow_private_urls=True))
    yield transport
    await transport.aclose()


def ok(body: bytes = b"ok", extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n%s" % (len(body), extra, body)


async def test_request_on_the_wire_and_keep_alive(serve, http) -> None:
    scripted = Scripted(lambda n: ok(b"ok %d" % n))
    port = await serve(scripted)
    bodies = [(await post(http, port, **{"X-Webhook-Attempt": "1"})).content for _ in range(3)]
    assert bodies == [b"ok 0", b"ok 1", b"ok 2"]
    assert scripted.connections == 1
    head, _, body = scripted.requests[0].partition(b"\r\n\r\n")
    assert head.startswith(b"POST /hook HTTP/1.1\r\n")
    assert b"\r\nHost: 127.0.0.1:%d" % port in head
    assert b"\r\nContent-Length: 14" in head
    assert b"\r\nX-Webhook-Attempt: 1" in head
    assert body == b'{"id":"evt_1"}'


async def test_chunked_reply_and_interim_replies(serve, http) -> None:
    chunked = (
        b"HTTP/1.1 100 Continue\r\n\r\n"
        b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
        b"HTTP/1.1 202 Accepted\r\nTransfer-Encoding: chunked\r\nX-Seen: yes\r\n\r\n"
        b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    )
    scripted = Scripted(lambda n: chunked)
    port = await serve(scripted)
    for _ in range(2):
        reply = await post(http, port)
        assert (reply.status_code, reply.content, reply.reason_phrase) == (
            202,
            b"hello world",
            "Accepted",
        )
        assert reply.headers["x-seen"] == "yes"
        assert "link" not in reply.headers  # the interim reply's header is not the reply's
    assert scripted.connections == 1


async def test_sloppy_replies_are_read_as_h11_read_them(serve, http) -> None:
    bare_lf = b"HTTP/1.1 201 Created\nContent-Length: 2\nX-Note: a\x01b\n\nok"
    scripted = Scripted(lambda n: bare_lf)
    port = await serve(scripted)
    reply = await post(http, port)
    assert (reply.status_code, reply.content) == (201, b"ok")
    assert reply.headers["x-note"] == "a\x01b"


@pytest.mark.parametrize(
    ("reply", "why"),
    [
        (ok(extra=b"Connection: close\r\n"), "Connection: close"),
        (b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", "HTTP/1.0 without keep-alive"),
        (ok() + b"HTTP/1.1 200 OK\r\n", "bytes after the reply"),
    ],
)
async def test_no_reuse_when_the_reply_does_not_allow_it(serve, http, reply, why) -> None:
    scripted = Scripted(lambda n: reply)
    port = await serve(scripted)
    for _ in range(2):
        assert (await post(http, port)).content == b"ok", why
    assert scripted.connections == 2, why


async def test_a_body_that_ends_at_close(serve, http) -> None:
    scripted = Scripted(lambda n: b"HTTP/1.1 500 Oops\r\n\r\nno length", close_after=lambda n: True)
    port = await serve(scripted)
    for _ in range(2):
        reply = await post(http, port)
        assert (reply.status_code, reply.content) == (500, b"no length")
    assert scripted.connections == 2


async def test_a_large_reply_abandoned_part_way_closes_the_connection(serve, http) -> None:
    big = b"x" * 1_000_000
    scripted = Scripted(lambda n: ok(big))
    port = await serve(scripted)
    request = httpx.Request(
        "POST", f"http://127.0.0.1:{port}/", content=b"{}",
        extensions={"timeout": dict.fromkeys(PHASES, 5.0)},
    )  # fmt: skip
    reply = await http.handle_async_request(request)
    async for chunk in reply.aiter_raw():  # an excerpt, as send() keeps
        assert chunk
        break
    await reply.aclose()
    assert (await post(http, port)).content == big  # a new connection, a whole reply
    assert scripted.connections == 2


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (b"", "Server disconnected without sending a response"),
        (b"HTTP/1.1 200 OK\r\nContent-Len", "closed the connection mid-head"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", "without sending complete"),
        (b"HTTP/1.1 2x0 OK\r\n\r\n", "malformed reply"),
        (b"SMTP ready\r\n\r\n", "malformed reply"),
    ],
)
async def test_broken_replies_are_protocol_errors(serve, http, reply, error) -> None:
    scripted = Scripted(lambda n: reply, close_after=lambda n: True)
    port = await serve(scripted)
    with pytest.raises(httpx.RemoteProtocolError, match=error):
        await post(http, port)
    scripted.reply = lambda n: ok()
    assert (await post(http, port)).content == b"ok"  # the pool goes on with a new connection


async def test_a_reply_head_without_end_is_refused(serve, http) -> None:
    scripted = Scripted(lambda n: b"HTTP/1.1 200 OK\r\n" + b"X-Pad: y\r\n" * 8000)
    port = await serve(scripted)
    with pytest.raises(httpx.RemoteProtocolError, match="over 64 KB"):
        await post(http, port)


async def test_no_header_injection(serve, http) -> None:
    scripted = Scripted(lambda n: ok())
    port = await serve(scripted)
    with pytest.raises(httpx.LocalProtocolError, match="illegal character"):
        await post(http, port, **{"X-Webhook-Event": "user.created\r\nX-Evil: 1"})
    assert scripted.requests == []
