"""A few sockets cannot hold `hookline api`: idle kept-alive connections, silent or slow
heads, slow bodies and oversized heads are closed within the documented bounds, and
connections beyond HOOKLINE_MAX_CONNECTIONS get 503 at once. Raw sockets on 127.0.0.1 against
a real process (no Temporal: the API starts without it and answers what it can).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from hookline.devserver import free_port, stop_process
from hookline.store.admin import new_token_value

KEEP_ALIVE, BODY_TIMEOUT, HEAD_TIMEOUT, MAX_CONNECTIONS = 1, 2, 3, 8


class Api:
    def __init__(self, port: int, token: str, process: subprocess.Popen, log: Path) -> None:
        self.port, self.token, self.process, self.log = port, token, process, log

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=10)


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    data = tmp_path_factory.mktemp("connections") / "hl"
    port, token = free_port(), new_token_value()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOOKLINE_")} | {
        "HOOKLINE_DATA_DIR": str(data),
        "HOOKLINE_TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",  # nothing listens there
        "HOOKLINE_BOOTSTRAP_TOKEN": token,
        "HOOKLINE_KEEP_ALIVE_TIMEOUT": f"{KEEP_ALIVE}s",
        "HOOKLINE_REQUEST_BODY_TIMEOUT": f"{BODY_TIMEOUT}s",
        "HOOKLINE_REQUEST_HEAD_TIMEOUT": f"{HEAD_TIMEOUT}s",
        "HOOKLINE_MAX_CONNECTIONS": str(MAX_CONNECTIONS),
    }
    data.mkdir(parents=True)
    log = open(data / "api.log", "ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "hookline.cli", "api", "--migrate", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, (data / "api.log").read_text()
            try:
                httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "the API did not answer"
                time.sleep(0.2)
        yield Api(port, token, process, data / "api.log")
    finally:
        stop_process(process)
        log.close()


def read_until_closed(sock: socket.socket, limit: float) -> tuple[bytes, float]:
    """Everything the server sends until it closes the connection, and when (seconds)."""
    started = time.monotonic()
    got = b""
    sock.settimeout(0.2)
    while time.monotonic() - started < limit:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            continue
        except ConnectionResetError:
            break
        if not chunk:
            break
        got += chunk
    else:
        raise AssertionError(f"still open after {limit} s; received {got[:200]!r}")
    return got, time.monotonic() - started


def test_an_idle_kept_alive_connection_is_closed_after_the_keep_alive_timeout(api: Api) -> None:
    with api.connect() as sock:
        sock.sendall(b"GET /openapi.json HTTP/1.1\r\nHost: x\r\n\r\n")
        got, after = read_until_closed(sock, 10)
    assert got.startswith(b"HTTP/1.1 200 ")
    assert after < KEEP_ALIVE + 1.5, after  # uvicorn's default would be 5 s


def test_a_connection_that_sends_nothing_is_closed_after_the_head_timeout(api: Api) -> None:
    with api.connect() as sock:
        got, after = read_until_closed(sock, 20)
    assert got == b""
    assert HEAD_TIMEOUT - 0.5 < after < HEAD_TIMEOUT + 1.5, after


def test_a_dribbled_head_is_closed_after_the_head_timeout(api: Api) -> None:
    head = b"GET /openapi.json HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 200
    with api.connect() as sock:
        started = time.monotonic()
        sock.settimeout(0.2)
        closed = False
        for byte in head:  # one byte every 0.1 s: 20 s for the whole head, never finished
            try:
                sock.sendall(bytes([byte]))
                if sock.recv(65536) == b"":
                    closed = True
                    break
            except TimeoutError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
        took = time.monotonic() - started
    assert closed, "the head was dribbled to its end on an open connection"
    assert took < HEAD_TIMEOUT + 1.5, took


def test_a_second_request_dribbled_after_a_response_is_closed_too(api: Api) -> None:
    with api.connect() as sock:
        sock.sendall(b"GET /openapi.json HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.settimeout(5)
        assert sock.recv(65536).startswith(b"HTTP/1.1 200 ")
        started = time.monotonic()
        sock.settimeout(0.2)
        closed = False
        for byte in b"GET /openapi.json HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 200:
            try:  # each byte resets the kept-alive idle timer; the head timer is not reset
                sock.sendall(bytes([byte]))
                while sock.recv(65536):
                    pass
                closed = True
                break
            except TimeoutError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
        took = time.monotonic() - started
    assert closed and took < HEAD_TIMEOUT + 1.5, took


def test_a_slow_body_gets_408_and_the_connection_closed(api: Api) -> None:
    head = (
        b"POST /api/v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Authorization: Bearer " + api.token.encode() + b"\r\nContent-Length: 1000\r\n\r\n{"
    )
    with api.connect() as sock:
        sock.sendall(head)
        started = time.monotonic()
        sock.settimeout(0.5)
        got = b""
        while time.monotonic() - started < 20:  # one byte every 0.4 s: never the whole body
            try:
                sock.sendall(b" ")
                chunk = sock.recv(65536)
                if not chunk:
                    break
                got += chunk
            except TimeoutError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                break
        took = time.monotonic() - started
    assert got.startswith(b"HTTP/1.1 408 "), got
    assert b"connection: close" in got.lower()
    assert b'"code":"request_timeout"' in got.replace(b" ", b"")
    assert took < BODY_TIMEOUT + 3, took


def test_an_answer_before_the_body_is_read_closes_the_connection(api: Api) -> None:
    # A wrong token is refused before the body is read; the body never comes.
    with api.connect() as sock:
        sock.sendall(
            b"POST /api/v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Authorization: Bearer nope\r\nContent-Length: 100000\r\n\r\n{"
        )
        got, after = read_until_closed(sock, 10)
    assert got.startswith(b"HTTP/1.1 401 ") or got.startswith(b"HTTP/1.1 408 "), got
    assert b"connection: close" in got.lower()
    assert after < BODY_TIMEOUT + 3


def test_a_head_over_the_limit_is_refused_and_closed(api: Api) -> None:
    with api.connect() as sock:
        sock.sendall(b"GET /openapi.json HTTP/1.1\r\nHost: x\r\n")
        try:
            for i in range(100):  # 800 KB of headers: the limit is 16 KiB
                sock.sendall(b"X-%d: %s\r\n" % (i, b"a" * 8000))
            sock.sendall(b"\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        got, _ = read_until_closed(sock, 10)
    assert got == b"" or got.startswith(b"HTTP/1.1 4"), got[:200]
    assert not got.startswith(b"HTTP/1.1 200"), got[:200]


def test_connections_beyond_the_limit_get_503_at_once(api: Api) -> None:
    held = [api.connect() for _ in range(MAX_CONNECTIONS)]
    try:
        for sock in held:  # heads that never end: uvicorn keeps these open
            sock.sendall(b"GET /openapi.json HTTP/1.1\r\n")
        time.sleep(0.5)
        started = time.monotonic()
        answer = httpx.get(f"http://127.0.0.1:{api.port}/openapi.json", timeout=10)
        assert answer.status_code == 503, answer.text[:200]
        assert time.monotonic() - started < 2
    finally:
        for sock in held:
            sock.close()
    deadline = time.monotonic() + 10
    while True:  # the held ones gone, the API answers again
        if httpx.get(f"http://127.0.0.1:{api.port}/openapi.json", timeout=10).status_code == 200:
            break
        assert time.monotonic() < deadline
        time.sleep(0.2)


def test_temporal_down_is_said_in_one_line_while_the_api_runs(api: Api) -> None:
    lines = [line for line in api.log.read_text().splitlines() if "Temporal" in line]
    [line] = lines
    assert "cannot connect to Temporal at 127.0.0.1:" in line and "keeps retrying" in line
    assert api.process.poll() is None
    answer = httpx.get(f"http://127.0.0.1:{api.port}/healthz", timeout=5)
    assert answer.status_code == 503


def test_a_head_that_arrives_whole_over_the_limit_is_a_400(api: Api) -> None:
    """h11 bounds a head still arriving; one that came whole in a single read is measured
    after parsing: over 16 KiB of line and headers is the one JSON error, whatever its shape
    (one long header, or many short ones)."""
    url = f"http://127.0.0.1:{api.port}/openapi.json"
    for headers in (
        {"X-Big": "a" * 17_000},
        {"X-Big": "a" * 60_000},
        {f"X-{i}": "a" * 50 for i in range(600)},
    ):
        answer = httpx.get(url, headers=headers, timeout=10)
        assert answer.status_code == 400, answer.text[:200]
        assert answer.json()["error"]["code"] == "bad_request"
        assert "request head over 16384 bytes" in answer.json()["error"]["message"]
    assert httpx.get(url, headers={"X-Fine": "a" * 15_000}, timeout=10).status_code == 200
