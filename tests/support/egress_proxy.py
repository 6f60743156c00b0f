"""A small forwarding HTTP proxy for tests, on 127.0.0.1: ``CONNECT host:port`` tunnels, and
absolute-form requests (``POST http://host:port/path``) forwarded in origin form. Test support
code, pure asyncio streams; the product never runs it.

    async with EgressProxy(credentials=("hook", "s3cret")) as proxy:
        ...  # HOOKLINE_DELIVERY_PROXY=proxy.url("hook", "s3cret")
        [seen] = proxy.requests  # what it was asked: method, target, headers

It connects only to 127.0.0.1: a target that is 127.0.0.1 (or, with ``names``, a name mapped
to it: the proxy's own DNS) is reached there; with ``internet_at_loopback`` any target address
is reached at 127.0.0.1 on the target's port, a stand-in for the public address asked for.
Anything else is answered 502. With ``credentials`` a request without the matching
``Proxy-Authorization`` gets 407. ``Proxy-Authorization`` and ``Proxy-Connection`` are taken
off what it forwards; a forwarded request is sent with ``Connection: close``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
from dataclasses import dataclass, field

HOST = "127.0.0.1"
_MAX_HEAD = 64 * 1024
_HOP_BY_HOP = {"proxy-authorization", "proxy-connection", "connection", "keep-alive"}

log = logging.getLogger("tests.egress_proxy")


@dataclass
class ProxyRequest:
    method: str
    target: str  # as asked: "127.0.0.1:443" for CONNECT, "http://127.0.0.1:80/hook" otherwise
    headers: dict[str, str]  # lower-case names


@dataclass
class EgressProxy:
    credentials: tuple[str, str] | None = None
    names: dict[str, str] = field(default_factory=dict)
    internet_at_loopback: bool = False
    requests: list[ProxyRequest] = field(default_factory=list)
    connections: int = 0  # accepted from clients
    port: int = 0  # 0: any free port (set when it listens)

    def url(self, user: str | None = None, password: str | None = None) -> str:
        auth = f"{user}:{password}@" if user is not None else ""
        return f"http://{auth}{HOST}:{self.port}"

    async def __aenter__(self) -> EgressProxy:
        self._tasks: set[asyncio.Task] = set()
        self._server = await asyncio.start_server(self._track, HOST, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *_: object) -> None:
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    async def _track(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.connections += 1
        try:
            await self._serve(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            self._tasks.discard(task)
            with contextlib.suppress(ConnectionError, OSError, RuntimeError):
                writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        if len(head) > _MAX_HEAD:
            return await _answer(writer, 431, "Request Header Fields Too Large")
        request_line, *lines = head.decode("latin-1").split("\r\n")[:-2]
        method, target, version = request_line.split(" ")
        headers = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        self.requests.append(ProxyRequest(method, target, headers))
        log.info("proxy asked: %s %s", method, target)
        if self.credentials is not None and headers.get("proxy-authorization") != _basic(
            *self.credentials
        ):
            extra = 'Proxy-Authenticate: Basic realm="egress"\r\n'
            return await _answer(writer, 407, "Proxy Authentication Required", extra)
        if method == "CONNECT":
            host, _, port = target.rpartition(":")
            path = ""
        else:
            if not target.startswith("http://"):
                return await _answer(writer, 400, "Bad Request")
            authority, slash, rest = target.removeprefix("http://").partition("/")
            host, _, port = authority.rpartition(":")
            port = port or "80"
            path = slash + rest or "/"
        address = self._route(host.removeprefix("[").removesuffix("]"))
        if address is None or not port.isdigit():
            return await _answer(writer, 502, "Bad Gateway")
        try:
            up_reader, up_writer = await asyncio.open_connection(address, int(port))
        except OSError:
            return await _answer(writer, 502, "Bad Gateway")
        if method == "CONNECT":
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await writer.drain()
        else:
            kept = [line for line in lines if line.partition(":")[0].lower() not in _HOP_BY_HOP]
            forwarded = [f"{method} {path} {version}", *kept, "Connection: close", "", ""]
            up_writer.write("\r\n".join(forwarded).encode("latin-1"))
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))

    def _route(self, host: str) -> str | None:
        if host == HOST:
            return HOST
        if host in self.names:
            return self.names[host]
        if self.internet_at_loopback and (":" in host or host.replace(".", "").isdigit()):
            return HOST
        return None


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


async def _answer(writer: asyncio.StreamWriter, status: int, reason: str, extra: str = "") -> None:
    head = f"HTTP/1.1 {status} {reason}\r\n{extra}Content-Length: 0\r\nConnection: close\r\n\r\n"
    writer.write(head.encode("latin-1"))
    await writer.drain()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError, OSError):
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
    with contextlib.suppress(ConnectionError, OSError, RuntimeError):
        writer.close()
