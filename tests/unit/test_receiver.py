"""The test receiver (tests/support/receiver.py) against a real HTTP client."""

from __future__ import annotations

import asyncio
import os
import re
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.support.receiver import Receiver, Reply, refused_port

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def rx() -> AsyncIterator[Receiver]:
    async with Receiver() as receiver:
        yield receiver


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5) as c:
        yield c


async def test_records_requests_and_answers_200_by_default(
    rx: Receiver, client: httpx.AsyncClient
) -> None:
    assert rx.url() == f"http://127.0.0.1:{rx.port}/hook"
    before_wall, before = time.time(), time.monotonic()
    resp = await client.post(
        rx.url("/hook") + "?a=1",
        content=b'{"id": "evt_1"}',
        headers={"X-Webhook-Signature": "abc", "Content-Type": "application/json"},
    )
    assert resp.status_code == 200
    assert resp.text == "ok"

    [got] = rx.requests
    assert got.path == "/hook"
    assert got.query == "a=1"
    assert got.method == "POST"
    assert got.body == b'{"id": "evt_1"}'
    assert got.json() == {"id": "evt_1"}
    assert rx.json() == {"id": "evt_1"}
    assert got.headers["x-webhook-signature"] == "abc"
    assert got.headers["content-type"] == "application/json"
    assert all(k == k.lower() for k in got.headers)
    assert before <= got.at <= time.monotonic()
    assert before_wall - 1 <= got.wall <= time.time() + 1
    assert rx.for_path("/hook") == [got]
    assert rx.for_path("/other") == []


async def test_script_then_last_reply_repeats(rx: Receiver, client: httpx.AsyncClient) -> None:
    rx.script("/x", [Reply(500), Reply(503, body="busy"), Reply(200)])
    statuses = [(await client.post(rx.url("/x"), content=b"{}")).status_code for _ in range(5)]
    assert statuses == [500, 503, 200, 200, 200]
    assert len(rx.for_path("/x")) == 5

    # Other paths are unaffected; default() changes what they get.
    assert (await client.post(rx.url("/y"))).status_code == 200
    rx.default(Reply(404, body="nope"))
    resp = await client.post(rx.url("/y"))
    assert (resp.status_code, resp.text) == (404, "nope")
    assert (await client.post(rx.url("/x"))).status_code == 200

    # A new script for a path starts over.
    rx.script("/x", [Reply(410)])
    assert (await client.post(rx.url("/x"))).status_code == 410


async def test_reply_headers_and_bodies(rx: Receiver, client: httpx.AsyncClient) -> None:
    rx.script(
        "/h",
        [
            Reply(429, headers={"Retry-After": "7"}, body="slow down"),
            Reply(200, headers={"Content-Type": "application/json"}, body=b'{"ok":true}'),
            Reply(204, body=b""),
        ],
    )
    first = await client.post(rx.url("/h"))
    assert first.status_code == 429
    assert first.headers["retry-after"] == "7"
    assert first.text == "slow down"
    second = await client.post(rx.url("/h"))
    assert second.json() == {"ok": True}
    assert second.headers["content-type"] == "application/json"
    third = await client.post(rx.url("/h"))
    assert (third.status_code, third.content) == (204, b"")
    head = await client.head(rx.url("/elsewhere"))
    assert (head.status_code, head.content) == (200, b"")


async def test_delay_provokes_client_timeout(rx: Receiver) -> None:
    rx.script("/slow", [Reply(200, delay=2.0), Reply(200)])
    async with httpx.AsyncClient(timeout=0.3) as c:
        started = time.monotonic()
        with pytest.raises(httpx.ReadTimeout):
            await c.post(rx.url("/slow"), content=b"x")
        assert time.monotonic() - started < 1.5
        # The request was recorded even though nobody got an answer.
        assert len(rx.for_path("/slow")) == 1
        # The next reply of the script is fast.
        assert (await c.post(rx.url("/slow"))).status_code == 200


async def test_delay_is_honoured(rx: Receiver, client: httpx.AsyncClient) -> None:
    rx.script("/d", [Reply(202, delay=0.3)])
    started = time.monotonic()
    assert (await client.post(rx.url("/d"))).status_code == 202
    assert time.monotonic() - started >= 0.3


async def test_close_drops_the_connection_without_answer(
    rx: Receiver, client: httpx.AsyncClient
) -> None:
    rx.script("/drop", [Reply(close=True), Reply(200)])
    with pytest.raises(httpx.RemoteProtocolError):
        await client.post(rx.url("/drop"), content=b"x")
    assert len(rx.for_path("/drop")) == 1
    assert (await client.post(rx.url("/drop"))).status_code == 200
    assert len(rx.for_path("/drop")) == 2


async def test_keep_alive_serves_several_requests_on_one_connection(rx: Receiver) -> None:
    rx.script("/k", [Reply(500), Reply(200)])
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    async with httpx.AsyncClient(limits=limits, timeout=5) as c:
        statuses = []
        for i in range(5):
            resp = await c.post(rx.url("/k"), content=f"body {i}".encode())
            statuses.append(resp.status_code)
    assert statuses == [500, 200, 200, 200, 200]
    assert rx.connections == 1
    assert {r.connection for r in rx.requests} == {1}
    assert [r.body for r in rx.requests] == [f"body {i}".encode() for i in range(5)]


async def test_wait_for_returns_when_enough_requests_arrived(
    rx: Receiver, client: httpx.AsyncClient
) -> None:
    async def send_later() -> None:
        for _ in range(3):
            await asyncio.sleep(0.05)
            await client.post(rx.url("/w"), content=b"{}")
        await client.post(rx.url("/other"))

    sender = asyncio.create_task(send_later())
    got = await rx.wait_for(3, path="/w", timeout=5)
    assert len(got) == 3
    assert all(r.path == "/w" for r in got)
    await sender
    assert len(await rx.wait_for(4)) == 4
    # Already satisfied: returns at once, first `count` only.
    assert await rx.wait_for(1, path="/w") == got[:1]


async def test_wait_for_times_out_with_a_clear_message(
    rx: Receiver, client: httpx.AsyncClient
) -> None:
    await client.post(rx.url("/w"))
    started = time.monotonic()
    with pytest.raises(TimeoutError, match=r"expected 3 request\(s\) to /w within 0.2s, got 1"):
        await rx.wait_for(3, path="/w", timeout=0.2)
    assert time.monotonic() - started < 2


async def test_refused_port_refuses(client: httpx.AsyncClient) -> None:
    port = await refused_port()
    with pytest.raises(httpx.ConnectError):
        await client.post(f"http://127.0.0.1:{port}/hook")


async def test_stop_and_start_again_on_same_port(client: httpx.AsyncClient) -> None:
    rx = Receiver()
    await rx.start()
    port = rx.port
    try:
        assert (await client.post(rx.url())).status_code == 200
        await rx.stop()
        with pytest.raises(httpx.TransportError):
            await client.post(rx.url())
        await rx.start(port)
        assert rx.port == port
        assert (await client.post(rx.url())).status_code == 200
        assert len(rx.requests) == 2
    finally:
        await rx.stop()


async def test_stop_drops_pending_delayed_replies(client: httpx.AsyncClient) -> None:
    rx = Receiver()
    await rx.start()
    rx.script("/slow", [Reply(delay=30)])
    pending = asyncio.create_task(client.post(rx.url("/slow")))
    await rx.wait_for(1, path="/slow")
    started = time.monotonic()
    await rx.stop()
    assert time.monotonic() - started < 2
    with pytest.raises(httpx.TransportError):
        await pending


async def test_malformed_request_gets_400(rx: Receiver) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", rx.port)
    writer.write(b"NOT HTTP AT ALL\r\n\r\n")
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), timeout=5)
    writer.close()
    assert data.startswith(b"HTTP/1.1 400")
    assert rx.requests == []


async def test_runs_standalone_as_a_module(client: httpx.AsyncClient) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.support.receiver",
        "--port",
        "0",
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), timeout=20)).decode()
        match = re.fullmatch(r"listening on (\d+)\n", line)
        assert match, line
        port = int(match.group(1))
        for _ in range(3):
            resp = await client.post(f"http://127.0.0.1:{port}/hook", content=b"{}")
            assert (resp.status_code, resp.text) == (200, "ok")
    finally:
        proc.terminate()
        _, err = await asyncio.wait_for(proc.communicate(), timeout=10)
    assert proc.returncode == 0, err.decode()
    assert "stopped after 3 request(s)" in err.decode()


async def test_verbose_prints_headers_body_and_whether_each_signature_verifies(
    client: httpx.AsyncClient,
) -> None:
    from hookline.core.signing import new_secret, signature_headers

    secret = new_secret()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.support.receiver",
        "--port",
        "0",
        "--verbose",
        cwd=ROOT,
        env={**os.environ, "WEBHOOK_SECRET": secret},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), timeout=20)).decode()
        port = int(line.split()[-1])
        body = b'{"id": "evt_1", "type": "user.created"}'
        signed = signature_headers([secret], msg_id="dlv_1", timestamp=1700000000, body=body)
        url = f"http://127.0.0.1:{port}/hook"
        assert (await client.post(url, content=body, headers=signed)).status_code == 200
        forged = signature_headers([new_secret()], msg_id="dlv_2", timestamp=1, body=body)
        assert (await client.post(url, content=body, headers=forged)).status_code == 200
        await asyncio.sleep(0.6)
    finally:
        proc.terminate()
        out, err = await asyncio.wait_for(proc.communicate(), timeout=10)
    good, bad, *_ = out.decode().split("\n\n")
    for shown in (good, bad):
        assert f"POST /hook {len(body)}B -> 200" in shown
        assert '  body: {"id": "evt_1", "type": "user.created"}' in shown
        assert "  x-webhook-signature: " in shown and "  webhook-id: dlv_" in shown
    assert "  X-Webhook-Signature: valid" in good and "  webhook-signature: valid" in good
    assert "  X-Webhook-Signature: INVALID" in bad and "  webhook-signature: INVALID" in bad
    assert proc.returncode == 0, err.decode()
