"""A minimal, fast webhook receiver for the benchmark: answers 200, records arrival times.

Pure asyncio, HTTP/1.1 keep-alive, Content-Length bodies only, 127.0.0.1 only.

    python -m bench.receiver --port 9000      # prints "listening on 9000"; --delay 0.5: slow

Any POST is recorded as ``[wall time, webhook-id, X-Webhook-Delivery-Id, path]``.
``GET /count`` answers the number of records; ``GET /distinct?after=N`` the number of distinct
delivery ids among the records from N on (a delivery retried after a timeout arrives twice: one
event to 10,000 webhooks is delivered when 10,000 distinct ids have arrived); ``GET
/records?after=N`` the records from N on (JSON). Other GETs answer 404.

A POST to a path holding ``/hang/`` (the noisy tenant of scenario N, bench/noisy.py) is
answered only after ``--hang`` seconds (20: past the 15 s delivery timeout, so hookline has
given up on it by then) and is not recorded: the scenarios count records, and a hanging
tenant's retries must not count as anyone's deliveries. ``GET /hanging`` answers how many such
POSTs arrived, for how many distinct delivery ids, how many hang now and the most that hung at
once (JSON). On SIGTERM the hanging POSTs are answered at once, so the receiver stops without
waiting for them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import time

HOST = "127.0.0.1"
_MAX_HEAD = 64 * 1024
_OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"
# The F scenarios' failing share (bench/seed.py): a /flaky/ path answers 503 to attempt 1
# (retried, then 200); a /dead/ path answers 400 to every attempt (failed for good).
_UNAVAILABLE = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n"
_BAD_REQUEST = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"
HANG_SECONDS = 20.0  # a /hang/ POST's answer: after the delivery timeout (15 s by default)


def _reply(status: str, body: bytes, content_type: str = "application/json") -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\nContent-Type: {content_type}\r\n\r\n"
    )
    return head.encode("ascii") + body


def hangs(path: str) -> bool:
    """Whether a POST to `path` hangs (scenario N's noisy tenant)."""
    return "/hang/" in path


class FastReceiver:
    def __init__(self, delay: float = 0.0, hang: float = HANG_SECONDS) -> None:
        self.records: list[tuple[float, str, str, str]] = []
        self.delay = delay  # seconds before each answer to a POST (a slow endpoint)
        self.hang = hang  # seconds before the answer to a /hang/ POST
        self.hanging = 0  # /hang/ POSTs hanging now
        self._released = asyncio.Event()
        self.hung = 0  # /hang/ POSTs received
        self.hung_deliveries: set[str] = set()  # their X-Webhook-Delivery-Ids
        self.most_hanging = 0  # the most at once

    async def _hang(self, delivery_id: str) -> None:
        """Until `hang` seconds have passed or the receiver stops (`release`)."""
        self.hung += 1
        self.hung_deliveries.add(delivery_id)
        self.hanging += 1
        self.most_hanging = max(self.most_hanging, self.hanging)
        try:
            await asyncio.wait_for(self._released.wait(), self.hang)
        except TimeoutError:
            pass
        finally:
            self.hanging -= 1

    def release(self) -> None:
        """Answers the hanging POSTs now and any later one at once: the receiver stops."""
        self._released.set()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, _, rest = lines[0].partition(" ")
                target = rest.rpartition(" ")[0]
                length = 0
                event_id = delivery_id = attempt = ""
                close = False
                for line in lines[1:]:
                    name, _, value = line.partition(":")
                    name = name.strip().lower()
                    if name == "content-length":
                        length = int(value.strip())
                    elif name == "webhook-id":
                        event_id = value.strip()
                    elif name == "x-webhook-delivery-id":
                        delivery_id = value.strip()
                    elif name == "x-webhook-attempt":
                        attempt = value.strip()
                    elif name == "connection" and value.strip().lower() == "close":
                        close = True
                if length:
                    await reader.readexactly(length)
                if method == "POST" and hangs(target.partition("?")[0]):
                    await self._hang(delivery_id)
                    writer.write(_OK)
                elif method == "POST":
                    path = target.partition("?")[0]
                    self.records.append((time.time(), event_id, delivery_id, path))
                    if self.delay:
                        await asyncio.sleep(self.delay)
                    if "/dead/" in path:
                        writer.write(_BAD_REQUEST)
                    elif "/flaky/" in path and attempt == "1":
                        writer.write(_UNAVAILABLE)
                    else:
                        writer.write(_OK)
                else:
                    writer.write(self._get(target))
                if close:
                    await writer.drain()
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    def _get(self, target: str) -> bytes:
        path, _, query = target.partition("?")
        if path == "/count":
            return _reply("200 OK", str(len(self.records)).encode())
        if path == "/records":
            return _reply("200 OK", json.dumps(self.records[_after(query) :]).encode())
        if path == "/distinct":
            return _reply("200 OK", str(distinct(self.records, _after(query))).encode())
        if path == "/hanging":
            return _reply("200 OK", json.dumps(self.hanging_counts()).encode())
        return _reply("404 Not Found", b"{}")

    def hanging_counts(self) -> dict[str, int]:
        return {
            "received": self.hung,
            "deliveries": len(self.hung_deliveries),
            "now": self.hanging,
            "most": self.most_hanging,
        }


def _after(query: str) -> int:
    for part in query.split("&"):
        key, _, value = part.partition("=")
        if key == "after" and value.isdigit():
            return int(value)
    return 0


def distinct(records: list[tuple[float, str, str, str]], after: int = 0) -> int:
    """Distinct delivery ids among the records from `after` on."""
    return len({record[2] for record in records[after:]})


async def serve(port: int, delay: float = 0.0, hang: float = HANG_SECONDS) -> None:
    receiver = FastReceiver(delay, hang)
    server = await asyncio.start_server(receiver.handle, HOST, port, limit=_MAX_HEAD, backlog=1024)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(f"listening on {port}", flush=True)
    async with server:
        await stop.wait()
        receiver.release()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before each answer")
    parser.add_argument(
        "--hang", type=float, default=HANG_SECONDS, help="seconds before a /hang/ POST's answer"
    )
    args = parser.parse_args(argv)
    # uvloop (installed with uvicorn[standard]) costs less CPU per request than asyncio's own
    # loop (docs/PERFORMANCE.md): CPU that the processes under test would compete with.
    try:
        import uvloop
    except ImportError:
        asyncio.run(serve(args.port, args.delay, args.hang))
    else:
        uvloop.run(serve(args.port, args.delay, args.hang))


if __name__ == "__main__":
    main()
