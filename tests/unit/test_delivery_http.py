"""The delivery client (hookline.delivery) against scripted receivers on 127.0.0.1, through
`send()` as the activities and the test endpoint use it: the request on the wire, reply
framing, interim replies, keep-alive and when a connection is not reused, broken and sloppy
replies (recorded as the attempt's error, never raised), timeouts, redirects, the bounded
excerpt. (The connection limits: test_delivery_connections.py; SSRF, DNS rebinding, TLS and
SNI: test_send_pinning.py; cookies: test_delivery_client.py.)"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from hookline.delivery.send import send
from hookline.delivery.transport import DeliveryTransport, delivery_transport
from hookline.infra.config import Settings
from tests.support.scripted_server import Scripted, Serve, ok, scripted_servers, send_to
from tests.support.send import post


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    async with scripted_servers() as start:
        yield start


@pytest.fixture
async def http() -> AsyncIterator[DeliveryTransport]:
    async with delivery_transport(Settings(allow_private_urls=True)) as transport:
        yield transport


# --------------------------------------------------------------------------- the request


async def test_request_on_the_wire_and_keep_alive(serve: Serve, http: DeliveryTransport) -> None:
    scripted = Scripted(lambda n: ok(b"ok %d" % n))
    port = await serve(scripted)
    bodies = [(await send_to(http, port)).body for _ in range(3)]
    assert bodies == ["ok 0", "ok 1", "ok 2"]
    assert scripted.connections == 1
    head, _, body = scripted.requests[0].partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"POST /hook HTTP/1.1"
    fields = {line.split(b":")[0].lower(): line.split(b": ", 1)[1] for line in lines[1:]}
    assert fields[b"host"] == b"127.0.0.1:%d" % port
    assert fields[b"content-length"] == b"14" and fields[b"content-type"] == b"application/json"
    assert fields[b"x-webhook-attempt"] == b"1" and fields[b"user-agent"].startswith(b"hookline/")
    assert b"accept-encoding" not in fields  # the excerpt is what the receiver sent, as sent
    assert body == b'{"id":"evt_1"}'


async def test_no_header_injection(serve: Serve, http: DeliveryTransport) -> None:
    scripted = Scripted(lambda n: ok())
    port = await serve(scripted)
    result = await send(
        http,
        f"http://127.0.0.1:{port}/hook",
        b"{}",
        secrets=["whsec_" + "A" * 44],
        event_id="evt_1",
        event_type="user.created\r\nX-Evil: 1",
        delivery_id="dlv_1",
        attempt=1,
        timeout=5,
    )
    assert result.status_code is None and result.error is not None
    assert "header injection" in result.error
    assert scripted.requests == []


async def test_bodies_larger_than_the_write_buffer_arrive_whole(
    serve: Serve, http: DeliveryTransport
) -> None:
    scripted = Scripted(lambda n: ok())
    port = await serve(scripted)
    for size in (10, 64 * 1024, 300 * 1024):  # the receiver reads exactly Content-Length
        result = await post(http, f"http://127.0.0.1:{port}/", body=b"x" * size)
        assert result.status_code == 200
        assert scripted.requests[-1].endswith(b"\r\n\r\n" + b"x" * size)
    assert scripted.connections == 1


# --------------------------------------------------------------------------- replies


async def test_chunked_reply_and_interim_replies(serve: Serve, http: DeliveryTransport) -> None:
    chunked = (
        b"HTTP/1.1 100 Continue\r\n\r\n"
        b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
        b"HTTP/1.1 202 Accepted\r\nTransfer-Encoding: chunked\r\nRetry-After: 7\r\n\r\n"
        b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    )
    scripted = Scripted(lambda n: chunked)
    port = await serve(scripted)
    for _ in range(2):
        result = await send_to(http, port)
        assert (result.status_code, result.body, result.error) == (202, "hello world", None)
        assert result.retry_after == "7"
    assert scripted.connections == 1


@pytest.mark.parametrize(
    ("retry_after", "read_as"),
    [
        (b"a\x01b", "a\x01b"),  # control characters other than NUL
        (b"a\x7fb", "a\x7fb"),
        (b"caf\xc3\xa9", "caf\xc3\xa9"),  # obs-text: its bytes kept (compared as latin-1)
        (b"a\n b", "a b"),  # obs-fold: a continuation line
    ],
)
async def test_sloppy_replies_are_read_as_h11_read_them(
    serve: Serve, http: DeliveryTransport, retry_after: bytes, read_as: str
) -> None:
    # Bare LF line ends and odd bytes in a header value: llhttp's lenient reading of
    # replies, as h11's before it.
    bare_lf = b"HTTP/1.1 201 Created\nContent-Length: 2\nRetry-After:%s\n\nok" % retry_after
    scripted = Scripted(lambda n: bare_lf)
    port = await serve(scripted)
    result = await send_to(http, port)
    assert (result.status_code, result.body, result.error) == (201, "ok", None)
    assert result.retry_after is not None
    assert result.retry_after.encode("utf-8", "surrogateescape").decode("latin-1") == read_as


async def test_a_redirect_is_an_answer_not_followed(serve: Serve, http: DeliveryTransport) -> None:
    elsewhere = Scripted(lambda n: ok())
    other_port = await serve(elsewhere)
    moved = b"http://127.0.0.1:%d/elsewhere" % other_port
    found = b"HTTP/1.1 302 Found\r\nLocation: %s\r\nContent-Length: 5\r\n\r\nmoved" % moved
    scripted = Scripted(lambda n: found)
    port = await serve(scripted)
    result = await send_to(http, port)
    assert (result.status_code, result.body, result.error) == (302, "moved", None)
    assert elsewhere.requests == []


async def test_the_excerpt_is_bounded(serve: Serve, http: DeliveryTransport) -> None:
    big = bytes(range(97, 123)) * 40_000  # ~1 MB of a-z
    scripted = Scripted(lambda n: ok(big))
    port = await serve(scripted)
    result = await send_to(http, port)
    assert result.status_code == 200 and result.body == big[:4096].decode()
    # The rest was never read: the connection is dropped, the next attempt gets a new one.
    assert (await send_to(http, port)).status_code == 200
    assert scripted.connections == 2


@pytest.mark.parametrize(
    ("reply", "why"),
    [
        (ok(extra=b"Connection: close\r\n"), "Connection: close"),
        (b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", "HTTP/1.0 without keep-alive"),
        (ok() + ok(b"unasked"), "a second reply nobody asked for"),
    ],
)
async def test_no_reuse_when_the_reply_does_not_allow_it(
    serve: Serve, http: DeliveryTransport, reply: bytes, why: str
) -> None:
    scripted = Scripted(lambda n: reply)
    port = await serve(scripted)
    for _ in range(2):
        result = await send_to(http, port)
        assert (result.status_code, result.body) == (200, "ok"), why
    assert scripted.connections == 2, why


async def test_a_partial_head_after_the_reply_is_not_read_as_the_next_reply(
    serve: Serve, http: DeliveryTransport
) -> None:
    scripted = Scripted(lambda n: ok(b"first") + b"HTTP/1.1 299 Junk\r\n" if n == 0 else ok())
    port = await serve(scripted)
    bodies = [(await send_to(http, port)).body for _ in range(3)]
    assert bodies == ["first", "ok", "ok"]


async def test_a_body_that_ends_at_close(serve: Serve, http: DeliveryTransport) -> None:
    scripted = Scripted(lambda n: b"HTTP/1.1 500 Oops\r\n\r\nno length", close_after=lambda n: True)
    port = await serve(scripted)
    for _ in range(2):
        result = await send_to(http, port)
        assert (result.status_code, result.body, result.error) == (500, "no length", None)
    assert scripted.connections == 2


@pytest.mark.parametrize(
    ("reply", "status", "error"),
    [
        (b"", None, "connection error: the server disconnected"),
        (b"HTTP/1.1 200 OK\r\nContent-Len", None, "connection error: the server disconnected"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", 200, "Not enough data"),
        (b"HTTP/1.1 2x0 OK\r\n\r\n", None, "protocol error: Bad status line"),
        (b"SMTP ready\r\n\r\n", None, "protocol error: Bad status line"),
        # Stricter than h11 was: bytes after the reply in the same packet that cannot start a
        # reply spoil the reply itself (llhttp parses them at once).
        (ok() + b"garbage", None, "protocol error: Bad status line"),
        (b"HTTP/1.1 200 OK\r\n" + b"X-Pad: y\r\n" * 8000, None, "protocol error: Too many headers"),
        # As h11 refused them too: NUL in a value, a name that is not a token.
        (b"HTTP/1.1 200 OK\r\nX-Note: a\x00b\r\n\r\n", None, "protocol error: Invalid HTTP"),
        (b"HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n", None, "protocol error: Invalid header"),
        (b"HTTP/1.1 200 OK\r\nX-Note : x\r\n\r\n", None, "protocol error: Invalid header"),
        (b"HTTP/1.1 200 OK\r\nX-Long: " + b"y" * 70_000 + b"\r\n\r\n", None, "protocol error:"),
    ],
)
async def test_broken_replies_are_recorded_errors(
    serve: Serve, http: DeliveryTransport, reply: bytes, status: int | None, error: str
) -> None:
    scripted = Scripted(lambda n: reply, close_after=lambda n: True)
    port = await serve(scripted)
    result = await send_to(http, port)
    assert result.status_code == status
    assert result.error is not None and error in result.error, result.error
    scripted.reply = lambda n: ok()
    result = await send_to(http, port)  # the client goes on with a new connection
    assert (result.status_code, result.error) == (200, None)


# --------------------------------------------------------------------------- connections


async def test_a_connection_closed_while_idle_is_replaced(
    serve: Serve, http: DeliveryTransport
) -> None:
    scripted = Scripted(lambda n: ok())
    port = await serve(scripted)
    assert (await send_to(http, port)).status_code == 200
    for writer in scripted.writers:  # the receiver drops its idle keep-alive connection
        writer.close()
    await asyncio.sleep(0.1)  # lets the client see the close
    result = await send_to(http, port)
    assert (result.status_code, result.error) == (200, None)
    assert scripted.connections == 2


async def test_a_receiver_that_never_answers_is_a_timeout(
    serve: Serve, http: DeliveryTransport
) -> None:
    port = await serve(Scripted(lambda n: ok(), hold=True))
    result = await send_to(http, port, timeout=0.3)
    assert (result.status_code, result.error) == (None, "timeout after 0.3s")


async def test_the_timeout_covers_reading_the_excerpt(
    serve: Serve, http: DeliveryTransport
) -> None:
    scripted = Scripted(lambda n: b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nstart")
    port = await serve(scripted)  # the rest of the body never comes
    result = await send_to(http, port, timeout=0.3)
    assert (result.status_code, result.body) == (200, "start")  # what came is kept
    assert result.error == "the body did not end within 0.3s (kept: what came of it)"


async def test_a_refused_connection_is_a_connection_error(
    serve: Serve, http: DeliveryTransport
) -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    result = await send_to(http, port)
    assert result.status_code is None and result.error is not None
    assert result.error == (
        f"connection error: cannot connect to 127.0.0.1:{port}: "
        f"[Errno 111] Connect call failed ('127.0.0.1', {port})"
    )
