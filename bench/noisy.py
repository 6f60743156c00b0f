"""Scenario N, a noisy neighbour: does one tenant's hanging receiver delay another tenant?

Two tenants of their own (bench/seed.py `prepare_neighbours`), one webhook each: the noisy
tenant's receiver path hangs past the delivery timeout (bench/receiver.py answers a /hang/ POST
after 20 s, and does not record it), the quiet tenant's answers at once. In one run:

- N0, the quiet tenant alone (after a few events to warm its caches up): K events in an open
  loop at D's rate (`Bench.open_loop`), their publish-to-receipt latency;
- the noisy tenant publishes a burst of M events to its hanging receiver; once its first POST
  hangs,
- N, the quiet tenant again, K events at the same rate, measured the same way.

The figure is N's p99 over N0's (bench/stats.py `noisy_ratio`, target at most 2): the
in-flight cap per webhook (store/admission.py) and the tenant as the task queue's fairness key
keep the noisy tenant's backlog from queueing the quiet tenant's work. The receiver's
`/hanging` counts show that the neighbour did hang meanwhile (and how many POSTs at once: at
most the cap). Afterwards a few of the noisy tenant's histories are read (by event type: what
its waiting cost), then its event workflows are terminated, so that their retries do not run
under what the run measures next (the costs, the peer).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any
from urllib.parse import urlsplit

from bench.config import HOST
from bench.publisher import Connection
from bench.receiver import HANG_SECONDS
from bench.seed import NEIGHBOUR_TYPE, NOISY, QUIET
from bench.stats import latencies_by_publish

HANGING_TIMEOUT = 30.0  # s for the noisy tenant's first POST to hang, then N runs anyway
TERMINATE_TIMEOUT = 120.0  # s for terminating the noisy tenant's workflows
TERMINATE_LANES = 20
WARM_UP = 5  # the quiet tenant's events before N0: its first ones meet cold caches
SAMPLE = 5  # noisy events whose histories are read, from the burst's start and from its end


def event_types(documents: list[dict]) -> dict[str, int]:
    """History events by type (EVENT_TYPE_ dropped) over the documents (proto JSON), most
    first: what the noisy tenant's workflows did while they waited (timers, workflow tasks,
    local-activity markers, workflow tasks timed out)."""
    counts: Counter[str] = Counter()
    for document in documents:
        for event in document.get("events", []):
            counts[str(event.get("eventType", "")).removeprefix("EVENT_TYPE_")] += 1
    return dict(counts.most_common())


def task_workers(document: dict) -> int:
    """How many workers (identities, pid@host) started a workflow task of this history: more
    than one, and a local activity still running may run again on the next."""
    return len(
        {
            event.get("workflowTaskStartedEventAttributes", {}).get("identity")
            for event in document.get("events", [])
            if event.get("eventType") == "EVENT_TYPE_WORKFLOW_TASK_STARTED"
        }
    )


class Publisher:
    """A tenant's publisher: keep-alive connections to the API, one per publish in flight."""

    def __init__(self, port: int, token: str) -> None:
        self.port, self.token = port, token
        self._idle: list[Connection] = []
        self.sent: list[str] = []  # the ids of every event it published

    async def publish_one(self, type_: str, i: int) -> tuple[str, float]:
        connection = self._idle.pop() if self._idle else Connection(HOST, self.port, self.token)
        at = time.time()
        try:
            reply = await connection.post_json({"type": type_, "data": {"id": f"usr_{i}", "n": i}})
        except BaseException:
            await connection.aclose()
            raise
        self._idle.append(connection)
        self.sent.append(reply["data"]["id"])
        return reply["data"]["id"], at

    async def burst(self, type_: str, n: int, concurrency: int) -> None:
        """`n` events as fast as `concurrency` publishers go."""
        counter = iter(range(n))

        async def lane() -> None:
            for i in counter:
                await self.publish_one(type_, i)

        await asyncio.gather(*(lane() for _ in range(concurrency)))

    async def aclose(self) -> None:
        for connection in self._idle:
            await connection.aclose()
        self._idle.clear()


async def hanging(bench) -> dict[str, int]:
    """The receiver's /hang/ POSTs: received, hanging now, most at once."""
    return (await bench.rx.get("/hanging")).json()


async def until_hanging(bench, timeout: float = HANGING_TIMEOUT) -> dict[str, int]:
    """Polls the receiver (bounded by `timeout`) until a /hang/ POST hangs; its counts then."""
    deadline = time.monotonic() + timeout
    while True:
        counts = await hanging(bench)
        if counts["now"] >= 1 or time.monotonic() >= deadline:
            return counts
        await asyncio.sleep(0.05)


async def sample_and_terminate(temporal_port: int, event_ids: list[str]) -> dict[str, Any]:
    """The histories of the first and last SAMPLE events by type, then every event's workflow
    terminated (bounded); how many it terminated."""
    from temporalio.client import Client
    from temporalio.service import RPCError

    client = await Client.connect(f"{HOST}:{temporal_port}")
    out: dict[str, Any] = {"histories": {}, "terminated": 0}
    for label, ids in (("first", event_ids[:SAMPLE]), ("last", event_ids[-SAMPLE:])):
        documents = []
        try:
            async with asyncio.timeout(30):
                for event_id in ids:
                    history = await client.get_workflow_handle(event_id).fetch_history()
                    documents.append(history.to_json_dict())
        except (RPCError, TimeoutError):
            pass
        out["histories"][label] = {
            "workflows": len(documents),
            "events": event_types(documents),
            "task_workers": [task_workers(d) for d in documents],
        }
    counter = iter(event_ids)

    async def lane() -> None:
        for event_id in counter:
            try:
                await client.get_workflow_handle(event_id).terminate(reason="bench N is over")
            except RPCError:  # already closed
                continue
            out["terminated"] += 1

    try:
        async with asyncio.timeout(TERMINATE_TIMEOUT):
            await asyncio.gather(*(lane() for _ in range(TERMINATE_LANES)))
    except TimeoutError:
        pass
    return out


def only_to(url: str, records: list[list]) -> bool:
    """Whether every record went to the path of `url` (N counts the receiver's records: no
    other delivery may arrive meanwhile, the noisy tenant's POSTs are not recorded)."""
    path = urlsplit(url).path
    return all(record[3] == path for record in records)


async def run(bench) -> dict[str, dict[str, Any]]:
    """N0 and N (see the module's docstring); a `bench.scenarios.Bench` with its stack up."""
    s, say, stack = bench.sizes, bench.say, bench.stack
    rate, n = s.latency_rate, int(s.latency_rate * s.noisy_seconds)
    quiet = Publisher(stack.api_port, stack.neighbours[QUIET].token)
    noisy = Publisher(stack.api_port, stack.neighbours[NOISY].token)
    out: dict[str, dict[str, Any]] = {}
    afterwards: dict[str, Any] = {}
    try:
        base = await bench.count()
        for i in range(WARM_UP):
            await quiet.publish_one(NEIGHBOUR_TYPE, i)
        if not (await bench.wait(base, WARM_UP, 60))[1]:
            say(f"N: the quiet tenant's {WARM_UP} warm-up events not all delivered in 60 s")
        say(f"N: the quiet tenant alone, {rate:g} events/s for {s.noisy_seconds:g} s")
        out["N0"] = await bench.open_loop("quiet tenant alone", n, rate, quiet.publish_one)
        say(f"N: the noisy tenant's burst of {s.noisy_burst} events to a receiver that hangs")
        began = time.monotonic()
        await noisy.burst(NEIGHBOUR_TYPE, s.noisy_burst, s.concurrency)
        burst_s = time.monotonic() - began
        at_start = await until_hanging(bench)
        say(f"N: the quiet tenant again, its neighbour hanging ({at_start['now']} POSTs now)")
        out["N"] = await bench.open_loop(
            "quiet tenant, neighbour hanging", n, rate, quiet.publish_one
        )
        at_end = await hanging(bench)
    finally:
        await quiet.aclose()
        await noisy.aclose()
        if noisy.sent:
            say(f"N: terminating the noisy tenant's {len(noisy.sent)} event workflows")
            afterwards = await sample_and_terminate(stack.temporal_port, noisy.sent)
    for key in ("N0", "N"):
        raw = out[key]["_raw"]
        out[key]["only_quiet_deliveries"] = only_to(stack.neighbours[QUIET].url, raw["records"])
        out[key]["latencies_ms"] = latencies_by_publish(raw["sent"], raw["records"])
    out["N"]["neighbour"] = {
        "burst": s.noisy_burst,
        "burst_publish_s": round(burst_s, 3),
        "hang_s": HANG_SECONDS,
        "hanging_at_start": at_start,
        "hanging_at_end": at_end,
        **afterwards,
    }
    return out
