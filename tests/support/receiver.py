"""A real HTTP/1.1 webhook receiver for tests: records what it gets, answers from a script.

Pure asyncio (``asyncio.start_server``) plus ``h11``; keep-alive, pipelining-safe, 127.0.0.1 only.

    async with Receiver() as rx:
        rx.script("/hook", [Reply(503), Reply(503), Reply(200)])  # then 200 forever
        ...                                                      # deliver to rx.url("/hook")
        first, second, third = await rx.wait_for(3, path="/hook")

Standalone, for out-of-process use (benchmarks, e2e):
``python -m tests.support.receiver --port 9000`` prints ``listening on 9000`` and answers 200;
with ``--verbose`` it prints each request's headers and body, and with ``--secret whsec_…`` (or
``WEBHOOK_SECRET``) whether each signature (``X-Webhook-Signature`` and Standard Webhooks'
``webhook-signature``) verifies.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json as jsonlib
import os
import signal
import socket
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import h11

HOST = "127.0.0.1"
_READ_SIZE = 65536
_MAX_HEADER_BYTES = 64 * 1024


@dataclass
class Reply:
    """One scripted answer. ``delay`` sleeps before answering; ``close`` drops the connection
    without any answer (the client sees "server disconnected without sending a response").

    ``raw`` replaces the HTTP reply with these bytes, written as they are (any status line,
    header bytes h11 would refuse: NUL, invalid UTF-8, 8 KiB values; a body cut short); the
    connection then stays open ``stall`` seconds (a reply that stalls) and is closed."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | str = b"ok"
    delay: float = 0.0
    close: bool = False
    raw: bytes | None = None
    stall: float = 0.0

    def __post_init__(self) -> None:
        if not 200 <= self.status <= 999:
            raise ValueError(f"Reply status must be a final status (200-999), not {self.status}")
        if self.delay < 0 or self.stall < 0:
            raise ValueError("Reply delay and stall must be >= 0")
        if self.stall and self.raw is None:
            raise ValueError("Reply stall is for raw replies")

    @classmethod
    def raw_reply(
        cls,
        status_line: bytes = b"HTTP/1.1 200 OK",
        headers: list[tuple[bytes, bytes]] | None = None,
        body: bytes = b"ok",
        *,
        length: int | None = None,
        stall: float = 0.0,
        delay: float = 0.0,
    ) -> Reply:
        """A raw reply from parts, with ``Connection: close`` (the receiver closes it: a client
        must not take it for a kept-alive one) and ``Content-Length`` ``length`` (default: the
        body's; a larger one with ``stall`` is a body that stops coming)."""
        head = [status_line]
        head += [name + b": " + value for name, value in headers or []]
        head.append(b"Connection: close")
        head.append(b"Content-Length: %d" % (len(body) if length is None else length))
        return cls(raw=b"\r\n".join(head) + b"\r\n\r\n" + body, stall=stall, delay=delay)

    @property
    def body_bytes(self) -> bytes:
        return self.body.encode() if isinstance(self.body, str) else bytes(self.body)


@dataclass
class Received:
    """One request as the receiver got it. ``headers`` keys are lowercase; repeated headers
    are joined with ", ". ``path`` excludes the query string (kept in ``query``)."""

    path: str
    method: str
    headers: dict[str, str]
    body: bytes
    at: float  # time.monotonic() when the request was complete
    wall: float  # time.time() at the same moment
    query: str = ""
    connection: int = 0  # 1-based id of the TCP connection it came on

    def json(self) -> Any:
        return jsonlib.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


class Receiver:
    """HTTP/1.1 server on 127.0.0.1 that records requests and answers scripted replies."""

    def __init__(self, *, record: bool = True) -> None:
        self.requests: list[Received] = []
        self.connections = 0  # TCP connections accepted so far
        self.total = 0  # requests received so far (counted even when record=False)
        self._record = record
        self._scripts: dict[str, list[Reply]] = {}
        self._served: dict[str, int] = {}
        self._default = Reply()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._changed = asyncio.Condition()
        self._port = 0

    # lifecycle

    async def start(self, port: int = 0) -> None:
        """Listen on 127.0.0.1:``port`` (0: a free port). Restartable after ``stop()``:
        ``await rx.start(rx.port)`` brings it back on the same port."""
        if self._server is not None:
            raise RuntimeError("receiver already started")
        self._server = await asyncio.start_server(
            self._serve_connection, HOST, port, reuse_address=True
        )
        self._port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening and drop every open connection (pending delayed replies included)."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()

    async def __aenter__(self) -> Receiver:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        if not self._port:
            raise RuntimeError("receiver not started")
        return self._port

    @property
    def running(self) -> bool:
        return self._server is not None

    def url(self, path: str = "/hook") -> str:
        if not path.startswith("/"):
            path = "/" + path
        return f"http://{HOST}:{self.port}{path}"

    # scripting

    def script(self, path: str, responses: list[Reply] | Reply) -> None:
        """Each request to ``path`` takes the next reply; the last one then repeats forever.
        Replaces any earlier script for ``path`` (and restarts it from the first reply)."""
        replies = [responses] if isinstance(responses, Reply) else list(responses)
        if not replies:
            raise ValueError("script needs at least one Reply")
        self._scripts[path] = replies
        self._served[path] = 0

    def default(self, reply: Reply) -> None:
        """The reply for paths without a script (initially 200 "ok")."""
        self._default = reply

    def clear(self) -> None:
        """Forget recorded requests, scripts and the default reply (connections stay open)."""
        self.requests.clear()
        self._scripts.clear()
        self._served.clear()
        self._default = Reply()
        self.total = 0

    def _reply_for(self, path: str) -> Reply:
        replies = self._scripts.get(path)
        if replies is None:
            return self._default
        index = self._served[path]
        self._served[path] = index + 1
        return replies[min(index, len(replies) - 1)]

    # inspection

    def for_path(self, path: str) -> list[Received]:
        return [r for r in self.requests if r.path == path]

    def json(self, i: int = -1, path: str | None = None) -> Any:
        """The JSON body of request ``i`` (of ``path`` if given; default: the last one)."""
        requests = self.requests if path is None else self.for_path(path)
        return requests[i].json()

    async def wait_for(
        self,
        count: int,
        path: str | None = None,
        timeout: float = 10,
    ) -> list[Received]:
        """Wait until ``count`` requests (to ``path``, or to any path) have arrived and return
        the first ``count`` of them. Raises ``TimeoutError`` saying how many did arrive."""

        def matching() -> list[Received]:
            return list(self.requests) if path is None else self.for_path(path)

        async with self._changed:
            try:
                async with asyncio.timeout(timeout):
                    await self._changed.wait_for(lambda: len(matching()) >= count)
            except TimeoutError:
                got = matching()
                where = f"to {path}" if path is not None else "in all"
                seen = ", ".join(f"{r.method} {r.path}" for r in self.requests[-10:])
                raise TimeoutError(
                    f"receiver: expected {count} request(s) {where} within {timeout}s, "
                    f"got {len(got)} (all paths: {len(self.requests)}; last: [{seen}])"
                ) from None
        return matching()[:count]

    # serving

    async def _serve_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            await self._converse(reader, writer)
        except asyncio.CancelledError:
            # stop() cancels open connections; this task belongs to the server and nobody
            # awaits it (Python 3.11's start_server logs an error for a cancelled callback).
            pass
        finally:
            if task is not None:
                self._tasks.discard(task)
            writer.close()

    async def _converse(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        connection_id = self.connections
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=_MAX_HEADER_BYTES)
        try:
            while True:
                event = await _next_event(conn, reader)
                if not isinstance(event, h11.Request):
                    return  # ConnectionClosed (client went away between requests)
                if conn.they_are_waiting_for_100_continue:
                    writer.write(conn.send(h11.InformationalResponse(status_code=100)))
                body = bytearray()
                while True:
                    part = await _next_event(conn, reader)
                    if isinstance(part, h11.Data):
                        body += part.data
                    elif isinstance(part, h11.EndOfMessage):
                        break
                    else:
                        return
                path = await self._record_request(event, bytes(body), connection_id)
                reply = self._reply_for(path)
                if reply.delay > 0:
                    await asyncio.sleep(reply.delay)
                if reply.close:
                    return  # finally closes the socket: no answer at all
                if reply.raw is not None:
                    writer.write(reply.raw)
                    await writer.drain()
                    await asyncio.sleep(reply.stall)
                    return  # its framing is not ours to know: the connection ends with it
                await _send_reply(conn, writer, event.method, reply)
                if h11.MUST_CLOSE in (conn.our_state, conn.their_state):
                    return
                conn.start_next_cycle()
        except h11.RemoteProtocolError as exc:
            if conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
                with contextlib.suppress(Exception):
                    reply = Reply(exc.error_status_hint, body=f"bad request: {exc}\n")
                    await _send_reply(conn, writer, b"GET", reply)
        except (ConnectionError, OSError, h11.LocalProtocolError):
            pass

    async def _record_request(self, request: h11.Request, body: bytes, connection: int) -> str:
        target = request.target.decode("latin-1")
        path, _, query = target.partition("?")
        self.total += 1
        if self._record:
            headers: dict[str, str] = {}
            for name, value in request.headers:
                key = name.decode("latin-1").lower()
                text = value.decode("latin-1")
                headers[key] = f"{headers[key]}, {text}" if key in headers else text
            self.requests.append(
                Received(
                    path=path,
                    method=request.method.decode("ascii"),
                    headers=headers,
                    body=body,
                    at=time.monotonic(),
                    wall=time.time(),
                    query=query,
                    connection=connection,
                )
            )
        async with self._changed:
            self._changed.notify_all()
        return path


async def _next_event(conn: h11.Connection, reader: asyncio.StreamReader) -> Any:
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            conn.receive_data(await reader.read(_READ_SIZE))  # b"" means EOF
            continue
        return event


async def _send_reply(
    conn: h11.Connection, writer: asyncio.StreamWriter, method: bytes, reply: Reply
) -> None:
    body = reply.body_bytes
    headers = list(reply.headers.items())
    names = {name.lower() for name in reply.headers}
    no_body = method == b"HEAD" or reply.status in (204, 304)
    framed = {"content-length", "transfer-encoding"} & names
    if not framed and reply.status not in (204, 304):
        headers.append(("content-length", str(len(body))))
    if "content-type" not in names and body and not no_body:
        headers.append(("content-type", "text/plain; charset=utf-8"))
    data = conn.send(h11.Response(status_code=reply.status, headers=headers))
    if not no_body and body:
        data += conn.send(h11.Data(data=body))
    data += conn.send(h11.EndOfMessage())
    writer.write(data)
    await writer.drain()


async def refused_port() -> int:
    """A 127.0.0.1 port nothing listens on (bound then closed): connecting gets refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def signature_report(request: Received, secret: str | None) -> list[str]:
    """One line per signature scheme: whether the request's signature verifies with ``secret``
    (hookline's hex ``X-Webhook-Signature``, Standard Webhooks' ``webhook-signature``)."""
    from hookline.core import signing

    if not secret:
        return ["signatures: not checked (pass --secret whsec_… or set WEBHOOK_SECRET)"]
    lines = []
    for name in (signing.HEADER_SIGNATURE, signing.HEADER_SIGNATURE_PREVIOUS):
        given = request.headers.get(name.lower())
        if given is not None:
            ok = signing.verify_hex(secret, request.body, given)
            lines.append(f"{name}: {'valid' if ok else 'INVALID'}")
    given = request.headers.get(signing.HEADER_STANDARD_SIGNATURE)
    msg_id = request.headers.get(signing.HEADER_ID, "")
    timestamp = request.headers.get(signing.HEADER_TIMESTAMP, "")
    if given is not None:
        try:
            expected = signing.sign_standard(secret, msg_id, int(timestamp), request.body)
        except ValueError as exc:  # no timestamp, or a secret that is not whsec_ + base64
            lines.append(f"{signing.HEADER_STANDARD_SIGNATURE}: not checked ({exc})")
        else:
            ok = expected in given.split()
            lines.append(f"{signing.HEADER_STANDARD_SIGNATURE}: {'valid' if ok else 'INVALID'}")
    if not lines:
        lines.append("signatures: none in the request")
    return lines


def _print_request(request: Received, status: int, secret: str | None) -> None:
    print(f"{request.method} {request.path} {len(request.body)}B -> {status}")
    for name, value in request.headers.items():
        print(f"  {name}: {value}")
    print(f"  body: {request.text}")
    for line in signature_report(request, secret):
        print(f"  {line}")
    print(flush=True)


async def _serve_forever(port: int, status: int, verbose: bool, secret: str | None = None) -> None:
    receiver = Receiver(record=verbose)
    receiver.default(Reply(status))
    await receiver.start(port)
    print(f"listening on {receiver.port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(0.2):
                await stop.wait()
        for r in receiver.requests:
            _print_request(r, status, secret)
        receiver.requests.clear()
    await receiver.stop()
    print(f"stopped after {receiver.total} request(s)", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m tests.support.receiver",
        description="Webhook receiver on 127.0.0.1 answering every request with one status.",
    )
    parser.add_argument("--port", type=int, default=0, help="port (0: pick a free one)")
    parser.add_argument("--status", type=int, default=200, help="status to answer (200)")
    parser.add_argument(
        "--verbose", action="store_true", help="print each request: headers, body, signatures"
    )
    parser.add_argument(
        "--secret",
        default=os.environ.get("WEBHOOK_SECRET"),
        help="the webhook's secret (whsec_…; default: WEBHOOK_SECRET): check the signatures",
    )
    args = parser.parse_args(argv)
    asyncio.run(_serve_forever(args.port, args.status, args.verbose, args.secret))


if __name__ == "__main__":
    main()
