"""CPU per delivery POST, by HTTP client stack.

    .venv/bin/python -m bench.post_cost [N] [ROUNDS]

Starts bench/receiver.py on 127.0.0.1, then POSTs N small signed-size payloads, 16 in flight
(one endpoint's default limit), through each candidate in turn, ROUNDS rounds (default 3),
alternating, so that the shared machine's drift hits all of them alike:

- `aiohttp`: hookline's delivery session (hookline.delivery: TCPConnector with the vetting
  resolver, limit_per_host, DummyCookieJar) used directly, as `send()` does;
- `httpx+aiohttp`: httpx's client API over `httpx-aiohttp`'s AiohttpTransport wrapping that
  same session;
- `aiohttp-transport`: that AiohttpTransport used directly (httpx.Request in, httpx.Response
  out, no client layer), to show where the httpx side's cost is;
- `httpx`: httpx's own client and transport (httpcore, h11, anyio), for reference.

Prints this process's CPU microseconds per POST (time.process_time) of each round, on uvloop
as the API and the worker run, then each candidate's range.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable

import httpx
import uvloop
from httpx_aiohttp import AiohttpTransport

from bench.config import ROOT
from hookline.delivery.transport import DeliveryTransport, delivery_transport
from hookline.devserver import free_port, stop_process
from hookline.infra.config import Settings

BODY = b'{"id":"evt_x","type":"user.created","created":"2026-11-30T00:00:00Z","data":{"id":"u1"}}'
HEADERS = {"Content-Type": "application/json", "webhook-id": "evt_x"}
LANES = 16

Post = Callable[[str], Awaitable[int]]  # POSTs BODY to the url, returns the status


class Candidate:
    """Opens a client, POSTs through it, closes it."""

    name = ""

    async def open(self, settings: Settings) -> None:
        raise NotImplementedError

    async def post(self, url: str) -> int:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError


class Aiohttp(Candidate):
    name = "aiohttp"

    async def open(self, settings: Settings) -> None:
        self.http: DeliveryTransport = delivery_transport(settings)

    async def post(self, url: str) -> int:
        async with self.http.session.post(
            url, data=BODY, headers=HEADERS, allow_redirects=False
        ) as reply:
            await reply.read()
            return reply.status

    async def close(self) -> None:
        await self.http.aclose()


class HttpxOverAiohttp(Candidate):
    name = "httpx+aiohttp"

    async def open(self, settings: Settings) -> None:
        self.http = delivery_transport(settings)
        self.client = httpx.AsyncClient(
            transport=AiohttpTransport(client=self.http.session), trust_env=False
        )

    async def post(self, url: str) -> int:
        reply = await self.client.post(url, content=BODY, headers=HEADERS)
        return reply.status_code

    async def close(self) -> None:
        await self.client.aclose()  # closes the session through the transport
        await self.http.aclose()


class AiohttpTransportOnly(Candidate):
    name = "aiohttp-transport"

    async def open(self, settings: Settings) -> None:
        self.http = delivery_transport(settings)
        self.transport = AiohttpTransport(client=self.http.session)

    async def post(self, url: str) -> int:
        request = httpx.Request("POST", url, content=BODY, headers=HEADERS)
        reply = await self.transport.handle_async_request(request)
        try:
            await reply.aread()
        finally:
            await reply.aclose()
        return reply.status_code

    async def close(self) -> None:
        await self.transport.aclose()
        await self.http.aclose()


class Httpx(Candidate):
    name = "httpx"

    async def open(self, settings: Settings) -> None:
        limit = settings.max_concurrent_deliveries
        self.client = httpx.AsyncClient(
            limits=httpx.Limits(max_connections=limit, max_keepalive_connections=50),
            trust_env=False,
        )

    async def post(self, url: str) -> int:
        reply = await self.client.post(url, content=BODY, headers=HEADERS)
        return reply.status_code

    async def close(self) -> None:
        await self.client.aclose()


async def cpu_per_post(post: Post, url: str, n: int) -> float:
    requests = iter(range(n))

    async def lane() -> None:
        for _ in requests:
            if await post(url) != 200:
                raise SystemExit("the receiver did not answer 200")

    started = time.process_time()
    await asyncio.gather(*(lane() for _ in range(LANES)))
    return (time.process_time() - started) / n * 1e6


async def measure(url: str, n: int, rounds: int) -> dict[str, list[float]]:
    settings = Settings(allow_private_urls=True)  # the receiver is on 127.0.0.1
    candidates = [Aiohttp(), HttpxOverAiohttp(), AiohttpTransportOnly(), Httpx()]
    figures: dict[str, list[float]] = {c.name: [] for c in candidates}
    for round_ in range(1, rounds + 1):
        for candidate in candidates:
            await candidate.open(settings)
            try:
                await cpu_per_post(candidate.post, url, max(n // 10, 50))  # warm the pool
                micros = await cpu_per_post(candidate.post, url, n)
            finally:
                await candidate.close()
            figures[candidate.name].append(micros)
            print(f"round {round_} {candidate.name:17s} {micros:7.0f} µs CPU per POST", flush=True)
    return figures


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
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
        # uvloop, as the API and the worker run
        figures = uvloop.run(measure(f"http://127.0.0.1:{port}/b/0", n, rounds))
    finally:
        stop_process(receiver)
        if receiver.stdout is not None:
            receiver.stdout.close()
    for name, values in figures.items():
        print(f"{name:17s} {min(values):5.0f}-{max(values):5.0f} µs CPU per POST", flush=True)


if __name__ == "__main__":
    main()
