"""`hookline bench --fairness`: what the tenant as the task queue's fairness key buys.

Every event's workflow starts with `Priority(fairness_key=tenant)` (infra/starts.py), and the
dev server `hookline dev` runs (and compose's) has `matching.enableFairness` on. Fairness acts
where tasks wait in a task queue: an event published to an API without a free embedded-worker
slot (its eager start refused), every retry's timer and activity. To measure it, the API runs
without its embedded worker (`HOOKLINE_EMBEDDED_WORKER=false`), so every event's first task
waits in the queue for the standalone worker, and the same run is made twice, on a stack
whose dev server has fairness on, then on one that has it off:

- a loud tenant publishes a burst of M events (its receiver answers at once) faster than the
  worker takes them, so a backlog builds up in the task queue;
- from a quarter of the burst on, while it goes on, a quiet tenant publishes K events at D's
  rate: their publish-to-receipt latency is the figure.

The ratio is the quiet tenant's p99 without fairness over its p99 with it: how much of the
loud tenant's backlog fairness keeps from queueing the quiet tenant's events.

Fairness orders only what waits in the task queue. A worker takes as many tasks as it has
slots (`HOOKLINE_MAX_CONCURRENT_WORKFLOW_TASKS`, 100), and a busy one holds them in its own
first-come queue, where no key applies; so the pair runs twice: with the worker's default
slots, and with SMALL_SLOTS, where the backlog stays in the server's queue.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench.config import HOST
from bench.noisy import Publisher
from bench.procs import report_head
from bench.progress import timed_log
from bench.seed import LOUD, NEIGHBOUR_TYPE, QUIET
from bench.stack import Stack, start_stack, stop_stack
from bench.stats import latencies_by_publish, percentile, ratio

SMALL_SLOTS = 16  # the worker's workflow-task slots in the second pair
WARM_UP = 5  # the quiet tenant's events before the burst: its first ones meet cold caches
QUIET_FROM = 0.25  # of the burst published when the quiet tenant starts: a backlog is building
ARRIVAL_TIMEOUT = 180.0  # s for every quiet event (and then the burst) to arrive


@dataclass(frozen=True)
class FairnessSizes:
    burst: int  # M: the loud tenant's events
    quiet: int  # K: the quiet tenant's events behind the burst
    rate: float  # the quiet tenant's events a second
    concurrency: int  # the loud tenant's publishers at once


QUICK = FairnessSizes(burst=1000, quiet=20, rate=10, concurrency=20)
DEFAULT = FairnessSizes(burst=3000, quiet=30, rate=10, concurrency=20)


async def records_after(rx: httpx.AsyncClient, base: int) -> list[list]:
    return (await rx.get("/records", params={"after": base})).json()


async def until_arrived(
    rx: httpx.AsyncClient, base: int, event_ids: set[str], timeout: float
) -> list[list]:
    """Polls the receiver (bounded by `timeout`) until every event of `event_ids` arrived;
    the records after `base` then."""
    deadline = time.monotonic() + timeout
    while True:
        records = await records_after(rx, base)
        if event_ids <= {r[1] for r in records} or time.monotonic() >= deadline:
            return records
        await asyncio.sleep(0.1)


def quiet_figures(latencies: list[float | None]) -> dict[str, Any]:
    """p50, p99 and max of the quiet tenant's latencies (ms), and how many never arrived."""
    arrived = [ms for ms in latencies if ms is not None]
    return {
        "events": len(latencies),
        "arrived": len(arrived),
        "p50_ms": percentile(arrived, 50),
        "p99_ms": percentile(arrived, 99),
        "max_ms": max(arrived, default=None),
        "latencies_ms": latencies,
    }


async def behind_a_burst(stack: Stack, sizes: FairnessSizes, say) -> dict[str, Any]:
    """The quiet tenant's latencies behind the loud tenant's burst, on a started stack."""
    quiet = Publisher(stack.api_port, stack.neighbours[QUIET].token)
    loud = Publisher(stack.api_port, stack.neighbours[LOUD].token)
    rx = httpx.AsyncClient(base_url=f"http://{HOST}:{stack.rx_port}", timeout=30)
    try:
        base = len(await records_after(rx, 0))
        warm = {(await quiet.publish_one(NEIGHBOUR_TYPE, i))[0] for i in range(WARM_UP)}
        await until_arrived(rx, base, warm, 60)
        base = len(await records_after(rx, 0))
        say(
            f"the loud tenant's burst of {sizes.burst} events; from its {QUIET_FROM:.0%} on, the"
            f" quiet tenant's {sizes.quiet} at {sizes.rate:g}/s"
        )
        sent: dict[str, float] = {}
        began, began_wall = time.monotonic(), time.time()
        head = int(QUIET_FROM * sizes.burst)
        await loud.burst(NEIGHBOUR_TYPE, head, sizes.concurrency)
        rest = asyncio.create_task(
            loud.burst(NEIGHBOUR_TYPE, sizes.burst - head, sizes.concurrency)
        )
        start = time.monotonic()

        async def one(i: int) -> None:
            await asyncio.sleep(max(0.0, start + i / sizes.rate - time.monotonic()))
            event_id, at = await quiet.publish_one(NEIGHBOUR_TYPE, WARM_UP + i)
            sent[event_id] = at

        await asyncio.gather(*(one(i) for i in range(sizes.quiet)))
        await rest
        burst_s = time.monotonic() - began
        records = await until_arrived(rx, base, set(sent), ARRIVAL_TIMEOUT)
        out = quiet_figures(latencies_by_publish(sent, records))
        loud_ids = set(loud.sent)
        drained = await until_arrived(rx, base, loud_ids, ARRIVAL_TIMEOUT)
        loud_arrivals = [r[0] for r in drained if r[1] in loud_ids]
        out["burst"] = {
            "events": sizes.burst,
            "publish_s": round(burst_s, 2),
            "delivered": len({r[1] for r in drained if r[1] in loud_ids}),
            # From the burst's first publish to its last delivery: how long its backlog lasted.
            "drained_s": round(max(loud_arrivals) - began_wall, 2) if loud_arrivals else None,
        }
        return out
    finally:
        await quiet.aclose()
        await loud.aclose()
        await rx.aclose()


def run_once(fair: bool, slots: int | None, sizes: FairnessSizes, say) -> dict[str, Any]:
    from hookline.devserver import free_port

    label = ("fairness on" if fair else "fairness off") + (f", {slots} slots" if slots else "")
    with tempfile.TemporaryDirectory(prefix="hookline-fairness-") as tmp:
        stack = Stack(Path(tmp), free_port(), free_port(), free_port())
        stack.fairness, stack.embedded_worker, stack.workflow_task_slots = fair, False, slots
        say(f"{label}: starting a stack (the API without its embedded worker)")
        start_stack(stack, say)
        try:
            return asyncio.run(behind_a_burst(stack, sizes, lambda m: say(f"{label}: {m}")))
        finally:
            stop_stack(stack)


def pair(slots: int | None, sizes: FairnessSizes, say) -> dict[str, Any]:
    """Fairness on, then off, with the worker's workflow-task slots (None: the default)."""
    out: dict[str, Any] = {"slots": slots or "default"}
    out["on"] = run_once(True, slots, sizes, say)
    out["off"] = run_once(False, slots, sizes, say)
    out["p99_off_over_on"] = ratio(out["off"]["p99_ms"], out["on"]["p99_ms"])
    return out


def table_rows(report: dict[str, Any]) -> list[list[str]]:
    rows = []
    for run in report["pairs"]:
        for key in ("on", "off"):
            r = run[key]
            rows.append(
                [
                    str(run["slots"]),
                    key,
                    *(
                        f"{r[k]:.1f}" if r[k] is not None else "-"
                        for k in ("p50_ms", "p99_ms", "max_ms")
                    ),
                    f"{r['arrived']}/{r['events']}",
                    str(r["burst"]["drained_s"]),
                ]
            )
    return rows


def main(args, console) -> None:
    from rich.table import Table

    sizes = QUICK if args.quick else DEFAULT
    say = timed_log(console)
    report: dict[str, Any] = {
        **report_head("hookline bench --fairness" + (" --quick" if args.quick else "")),
        "sizes": sizes.__dict__,
        "pairs": [pair(None, sizes, say), pair(SMALL_SLOTS, sizes, say)],
    }
    table = Table(
        title=f"hookline bench --fairness: a quiet tenant beside a burst of {sizes.burst}",
        title_justify="left",
    )
    headers = ["worker slots", "fairness", "quiet p50 ms", "quiet p99 ms", "quiet max ms"]
    for i, header in enumerate([*headers, "arrived", "burst drained s"]):
        table.add_column(header, justify="left" if i < 2 else "right")
    for row in table_rows(report):
        table.add_row(*row)
    console.print(table)
    for run in report["pairs"]:
        if run["p99_off_over_on"] is not None:
            console.print(
                f"{run['slots']} slots: quiet p99 without fairness / with it:"
                f" {run['p99_off_over_on']:.2f}"
            )
    if args.output:
        import json

        Path(args.output).write_text(json.dumps(report, indent=2) + "\n")
        console.print(f"JSON written to {args.output}")
