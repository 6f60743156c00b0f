"""The benchmark's lean publisher against a scripted HTTP/1.1 server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json

import pytest

from bench.publisher import Connection, PublishError


class Scripted:
    """Answers each request with the next reply; counts connections and keeps the requests."""

    def __init__(self, replies: list[bytes], close_after_each: bool = False) -> None:
        self.replies = replies
        self.close_after_each = close_after_each
        self.connections = 0
        self.requests: list[tuple[bytes, bytes]] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while self.replies:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                self.requests.append((head, await reader.readexactly(length)))
                writer.write(self.replies.pop(0))
                await writer.drain()
                if self.close_after_each:
                    break
        except asyncio.IncompleteReadError:
            pass
        finally:
            writer.close()


def reply(status: str, document: dict, extra: str = "") -> bytes:
    body = json.dumps(document).encode()
    return f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\n{extra}\r\n".encode() + body


async def serve(scripted: Scripted) -> tuple[asyncio.Server, int]:
    server = await asyncio.start_server(scripted.handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def test_posts_on_one_keep_alive_connection() -> None:
    scripted = Scripted([reply("202 Accepted", {"data": {"id": f"evt_{i}"}}) for i in range(3)])
    server, port = await serve(scripted)
    connection = Connection("127.0.0.1", port, "tok_secret")
    try:
        ids = [
            (await connection.post_json({"type": "user.created", "n": i}))["data"]["id"]
            for i in range(3)
        ]
    finally:
        await connection.aclose()
        server.close()
    assert ids == ["evt_0", "evt_1", "evt_2"]
    assert scripted.connections == 1
    head, body = scripted.requests[1]
    assert head.startswith(b"POST /api/v1/events HTTP/1.1\r\n")
    assert b"Authorization: Bearer tok_secret\r\n" in head
    assert json.loads(body) == {"type": "user.created", "n": 1}


async def test_reconnects_when_the_server_closed_the_connection() -> None:
    scripted = Scripted(
        [reply("202 Accepted", {"data": {"id": "evt_a"}}), reply("202 Accepted", {"id": 2})],
        close_after_each=True,
    )
    server, port = await serve(scripted)
    connection = Connection("127.0.0.1", port, "tok")
    try:
        await connection.post_json({"n": 1})
        await asyncio.sleep(0.05)  # the server has closed its end by now
        assert await connection.post_json({"n": 2}) == {"id": 2}
    finally:
        await connection.aclose()
        server.close()
    assert scripted.connections == 2
    assert len(scripted.requests) == 2  # each request was sent once


async def test_an_error_status_raises_with_the_reply() -> None:
    scripted = Scripted([reply("429 Too Many Requests", {"error": {"code": "rate_limited"}})])
    server, port = await serve(scripted)
    connection = Connection("127.0.0.1", port, "tok")
    try:
        with pytest.raises(PublishError, match=r"429.*rate_limited"):
            await connection.post_json({"n": 1})
    finally:
        await connection.aclose()
        server.close()
