"""HTTP/1.1 connections of the delivery pool, parsed by llhttp (httptools).

httpcore's own connection parses with h11 (pure Python) behind a lock, a state machine and an
anyio cancellation shield per request: 445-514 µs of CPU per POST under our pool, against
193-271 µs with this connection (`python -m bench.post_cost`). Deliveries need much less than
it offers: one request at a time per connection, a head and a body, a reply read as it
comes. This connection does that on our asyncio streams, under the same pool
(`DeliveryPool.create_connection`), and raises httpcore's exceptions, which httpx maps as it
always did (`ConnectError`, `ReadTimeout`, `RemoteProtocolError`...).

The reply's framing (Content-Length, chunked, or until close), interim 1xx replies and
keep-alive (`Connection: close`, HTTP/1.0) are llhttp's; like h11, it accepts bare LF line
ends and odd bytes in header values. A connection is reused only after a reply read to its
end that allows it; a reply abandoned part-way (a receiver's large body, of which `send()`
keeps an excerpt) closes the connection, as with httpcore.
"""

from __future__ import annotations

import re
import ssl
import time
from collections.abc import AsyncIterator

import httpcore
import httptools

READ_SIZE = 64 * 1024
MAX_HEAD = 64 * 1024  # bytes before the reply's head is complete
_NEW, _ACTIVE, _IDLE, _CLOSED = "NEW", "ACTIVE", "IDLE", "CLOSED"
_FORBIDDEN_IN_HEADER = re.compile(rb"[\r\n\0]")  # no header injection through a value


class _Reply:
    """llhttp's callbacks: the final reply's head and body (interim 1xx replies dropped)."""

    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        # As forgiving as h11 was of a receiver's sloppy reply (bare LF line ends, odd bytes
        # in a header value): a reply read is an attempt that is not made again. The framing
        # checks (Content-Length, chunks) stay strict.
        self.parser.set_dangerous_leniencies(
            lenient_headers=True, lenient_optional_cr_before_lf=True
        )
        self.status = 0
        self.reason = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.body: list[bytes] = []
        self.head_done = False  # the final reply's head
        self.complete = False
        self.keep_alive = False
        self.extra = False  # bytes after the reply: the connection is not reusable

    def on_message_begin(self) -> None:
        if self.head_done:  # a second reply nobody asked for: ignored, connection not reused
            self.extra = True
        else:  # the first reply, or the one after an interim 1xx
            self.headers, self.body, self.reason = [], [], b""

    def on_status(self, reason: bytes) -> None:
        if not self.head_done:
            self.reason += reason

    def on_header(self, name: bytes, value: bytes) -> None:
        if not self.head_done:
            self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        if not 100 <= status < 200 and not self.head_done:
            self.status, self.head_done = status, True

    def on_body(self, body: bytes) -> None:
        if not self.extra:
            self.body.append(body)

    def on_message_complete(self) -> None:
        if self.head_done and not self.complete and not self.extra:
            self.complete = True
            self.keep_alive = self.parser.should_keep_alive()

    def feed(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade as exc:
            raise httpcore.RemoteProtocolError("the receiver switched protocols") from exc
        except httptools.HttpParserError as exc:
            raise httpcore.RemoteProtocolError(f"malformed reply: {exc}") from exc

    def ends_at_close(self) -> bool:
        """A body with neither Content-Length nor chunked coding: it ends when the peer
        closes (RFC 9112 6.3)."""
        names = {name.lower() for name, _ in self.headers}
        return b"content-length" not in names and b"transfer-encoding" not in names


class LeanHTTP11Connection(httpcore.AsyncConnectionInterface):
    def __init__(
        self,
        origin: httpcore.Origin,
        network_backend: httpcore.AsyncNetworkBackend,
        ssl_context: ssl.SSLContext | None,
        keepalive_expiry: float | None,
    ) -> None:
        self._origin = origin
        self._backend = network_backend
        self._ssl_context = ssl_context
        self._keepalive_expiry = keepalive_expiry
        self._stream: httpcore.AsyncNetworkStream | None = None
        self._state = _NEW
        self._idle_since = 0.0
        self._requests = 0

    async def handle_async_request(self, request: httpcore.Request) -> httpcore.Response:
        if self._state not in (_NEW, _IDLE):
            raise httpcore.ConnectionNotAvailable()
        if request.method == b"HEAD":  # llhttp cannot tell that such a reply has no body
            raise httpcore.UnsupportedProtocol("HEAD is not a delivery")
        self._state = _ACTIVE
        timeouts = request.extensions.get("timeout", {})
        read_timeout = timeouts.get("read")
        try:
            if self._stream is None:
                self._stream = await self._connect(request, timeouts.get("connect"))
            await self._stream.write(await _serialize(request), timeouts.get("write"))
            self._requests += 1
            reply = _Reply()
            received = 0
            while not reply.head_done:
                data = await self._stream.read(READ_SIZE, read_timeout)
                if not data:
                    raise httpcore.RemoteProtocolError(
                        "Server disconnected without sending a response."
                        if not received
                        else "the receiver closed the connection mid-head"
                    )
                received += len(data)
                reply.feed(data)
                if received > MAX_HEAD and not reply.head_done:
                    raise httpcore.RemoteProtocolError("reply head over 64 KB")
        except BaseException:
            await self.aclose()
            raise
        return httpcore.Response(
            status=reply.status,
            headers=reply.headers,
            content=_Body(self, reply, read_timeout),
            extensions={
                "http_version": b"HTTP/1.1",
                "reason_phrase": reply.reason,
                "network_stream": self._stream,
            },
        )

    async def _connect(
        self, request: httpcore.Request, timeout: float | None
    ) -> httpcore.AsyncNetworkStream:
        host = self._origin.host.decode("ascii")
        stream = await self._backend.connect_tcp(host, self._origin.port, timeout=timeout)
        if self._origin.scheme == b"https":
            context = self._ssl_context or httpcore.default_ssl_context()
            context.set_alpn_protocols(["http/1.1"])
            server_hostname = request.extensions.get("sni_hostname") or host
            stream = await stream.start_tls(context, server_hostname, timeout)
        return stream

    def _release(self) -> None:
        self._state, self._idle_since = _IDLE, time.monotonic()

    def can_handle_request(self, origin: httpcore.Origin) -> bool:
        return origin == self._origin

    def is_available(self) -> bool:
        return self._state == _IDLE

    def has_expired(self) -> bool:
        if self._state == _CLOSED:
            return True
        if self._state != _IDLE or self._stream is None:
            return False
        expiry = self._keepalive_expiry
        if expiry is not None and time.monotonic() > self._idle_since + expiry:
            return True
        # Readable while idle: the receiver closed it, or sent what nobody asked for.
        return bool(self._stream.get_extra_info("is_readable"))

    def is_idle(self) -> bool:
        return self._state == _IDLE

    def is_closed(self) -> bool:
        return self._state == _CLOSED

    async def aclose(self) -> None:
        self._state = _CLOSED
        stream, self._stream = self._stream, None
        if stream is not None:
            await stream.aclose()

    def info(self) -> str:
        return f"HTTP/1.1, {self._state}, Request Count: {self._requests}"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} [{self.info()}]>"


class _Body:
    """The reply's body as it arrives; closing it frees the connection for the next request
    only if the reply was read to its end and allows keep-alive."""

    def __init__(self, connection: LeanHTTP11Connection, reply: _Reply, timeout: float | None):
        self._connection = connection
        self._reply = reply
        self._timeout = timeout
        self._closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        # On any error the pool's stream around this one closes it (httpcore's PoolByteStream).
        reply = self._reply
        while True:
            if reply.body:
                chunks, reply.body = reply.body, []
                for chunk in chunks:
                    yield chunk
            if reply.complete or self._closed:
                return
            stream = self._connection._stream
            if stream is None:
                raise httpcore.ReadError("the connection was closed")
            data = await stream.read(READ_SIZE, self._timeout)
            if data:
                reply.feed(data)
            elif reply.ends_at_close():
                reply.complete, reply.keep_alive = True, False
            else:
                raise httpcore.RemoteProtocolError(
                    "peer closed connection without sending complete message body"
                )

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        reply = self._reply
        if reply.complete and reply.keep_alive and not reply.extra:
            self._connection._release()
        else:
            await self._connection.aclose()


async def _serialize(request: httpcore.Request) -> bytes:
    body = b"".join([chunk async for chunk in request.stream])  # type: ignore[union-attr]
    parts = [request.method, b" ", request.url.target, b" HTTP/1.1\r\n"]
    has_length = False
    for name, value in request.headers:
        if _FORBIDDEN_IN_HEADER.search(name) or _FORBIDDEN_IN_HEADER.search(value):
            raise httpcore.LocalProtocolError(f"illegal character in header {name!r}")
        has_length = has_length or name.lower() == b"content-length"
        parts += (name, b": ", value, b"\r\n")
    if not has_length and body:
        parts.append(b"Content-Length: %d\r\n" % len(body))
    parts += (b"\r\n", body)
    return b"".join(parts)
