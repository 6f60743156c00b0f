"""CPU per delivery POST through hookline's transport, by connection and network backend.

    .venv/bin/python -m bench.post_cost [N]

Starts bench/receiver.py on 127.0.0.1, then POSTs N small signed-size payloads through
`delivery_transport` (16 in flight, as one endpoint's limit): as hookline runs it (llhttp
connections on asyncio streams), with httpcore's own h11 connections instead, with httpcore's
anyio backend under our connections, and through httpx's own AsyncHTTPTransport (httpcore's
pool, h11 and anyio); three rounds, alternating, and prints this process's CPU microseconds
per POST (time.process_time), on uvloop as the API and the worker run.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time

import httpcore
import httpx
import uvloop

from bench.run import ROOT
from hookline.activities.deps import delivery_transport
from hookline.activities.pinning import PinningBackend
from hookline.activities.pool import DeliveryPool
from hookline.core.config import Settings
from hookline.devserver import free_port, stop_process

BODY = b'{"id":"evt_x","type":"user.created","created":"2026-11-30T00:00:00Z","data":{"id":"u1"}}'
PHASES = ("connect", "read", "write", "pool")


async def cpu_per_post(http: httpx.AsyncBaseTransport, url: str, n: int, lanes: int = 16) -> float:
    requests = iter(range(n))

    async def lane() -> None:
        for _ in requests:
            request = httpx.Request(
                "POST",
                url,
                content=BODY,
                headers={"Content-Type": "application/json", "webhook-id": "evt_x"},
                extensions={"timeout": dict.fromkeys(PHASES, 5.0)},
            )
            response = await http.handle_async_request(request)
            await response.aread()
            await response.aclose()

    started = time.process_time()
    await asyncio.gather(*(lane() for _ in range(lanes)))
    return (time.process_time() - started) / n * 1e6


class _H11Pool(DeliveryPool):
    """Our pool with httpcore's own connections (h11) instead of activities/http11.py."""

    def create_connection(self, origin: httpcore.Origin) -> httpcore.AsyncConnectionInterface:
        return httpcore.AsyncConnectionPool.create_connection(self, origin)


def transport(backend: str) -> httpx.AsyncBaseTransport:
    settings = Settings(allow_private_urls=True)
    if backend == "httpx":  # httpx's own transport: its pool, anyio underneath
        limit = settings.max_concurrent_deliveries
        return httpx.AsyncHTTPTransport(
            limits=httpx.Limits(max_connections=limit, max_keepalive_connections=50)
        )
    http = delivery_transport(settings)
    if backend == "h11":
        http._pool.__class__ = _H11Pool  # type: ignore[attr-defined]
    if backend == "anyio":
        http._pool._network_backend = PinningBackend(httpcore.AnyIOBackend())  # type: ignore[attr-defined]
    return http


async def measure(url: str, n: int) -> None:
    for round_ in range(1, 4):
        for backend in ("hookline", "h11", "anyio", "httpx"):
            http = transport(backend)
            try:
                await cpu_per_post(http, url, max(n // 10, 50))  # warm the pool
                micros = await cpu_per_post(http, url, n)
            finally:
                await http.aclose()
            print(f"round {round_} {backend:8s} {micros:7.0f} µs CPU per POST", flush=True)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
    port = free_port()
    receiver = subprocess.Popen(
        [sys.executable, "-m", "bench.receiver", "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert receiver.stdout is not None
        if "listening" not in receiver.stdout.readline():
            raise SystemExit("the receiver did not start")
        uvloop.run(measure(f"http://127.0.0.1:{port}/b/0", n))  # as the API and worker run
    finally:
        stop_process(receiver)
        if receiver.stdout is not None:
            receiver.stdout.close()


if __name__ == "__main__":
    main()
