"""What one workflow costs the dev server and the worker, design choice by design choice.

    .venv/bin/python -m bench.workflow_costs [N]

Starts a file-backed dev server exactly as `hookline dev` does, then for each variant starts N
bare workflows from 20 concurrent starters with the worker in this process, and prints the
server's and this process's CPU milliseconds per workflow (/proc/PID/stat). The workflows
stay open (a 7-day wait), as hookline's events do. Used to choose: eager start, local
activities, the workflow sandbox, search attributes (docs/PERFORMANCE.md).

The last variants are a B event's first workflow task with none of hookline's work in it (no
HTTP, store or POST): its CPU is the SDK's floor under hookline's own per event; once with
room in the worker's cache, once with the cache full, as it is after a deployment's first
events (each open event waits out its window in it): every start then evicts a run. Then, at
D's rate (10 starts/s, open loop), the latency from `start_workflow` to the first line of
that workflow's local activity: the floor under D's publish-to-POST.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from bench.stats import percentile

TENANT = SearchAttributeKey.for_keyword("HooklineTenant")
STATUS = SearchAttributeKey.for_keyword("HooklineStatus")


# workflow id -> perf_counter when its local activity began (the latency measure).
BEGAN: dict[str, float] = {}


@activity.defn
async def noop(value: str) -> str:
    BEGAN.setdefault(activity.info().workflow_id, time.perf_counter())
    return value


@workflow.defn
class OpenWorkflow:
    @workflow.run
    async def run(self, local_activities: int, upsert: bool, patch: bool = False) -> None:
        if patch:  # a version marker, as hookline's workflow records (docs/DESIGN.md)
            workflow.patched("costs-v2")
        for _ in range(local_activities):
            await workflow.execute_local_activity(
                noop, "x", start_to_close_timeout=timedelta(seconds=10)
            )
        if upsert:
            workflow.upsert_search_attributes([STATUS.value_set("succeeded")])
        await workflow.wait_condition(lambda: False, timeout=timedelta(days=7))


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def settle(pid: int) -> None:
    """Until the server and this process (the worker) are both idle: the work for the started
    workflows is done, including tasks still queued when the last start returned."""
    pids = (pid, os.getpid())
    previous = [cpu_seconds(p) for p in pids]
    quiet = 0
    for _ in range(240):  # bounded: 60 s
        await asyncio.sleep(0.25)
        now = [cpu_seconds(p) for p in pids]
        busy = any(b - a >= 0.02 for a, b in zip(previous, now, strict=True))
        quiet = 0 if busy else quiet + 1
        if quiet >= 4:  # a full second without work
            return
        previous = now


def open_worker(client: Client, queue: str, options: dict) -> Worker:
    """The worker of a variant's OpenWorkflows, in this process."""
    runner = {}
    if not options.get("sandbox", True):
        runner["workflow_runner"] = UnsandboxedWorkflowRunner()
    return Worker(
        client,
        task_queue=queue,
        workflows=[OpenWorkflow],
        activities=[noop],
        max_cached_workflows=options.get("cache", ROOMY_CACHE),
        **runner,
    )


def start_arguments(options: dict) -> dict:
    """`start_workflow`'s arguments for a variant's OpenWorkflow, but its id and queue: built
    once per variant, not in the measured starts."""
    arguments: dict = {
        "args": [
            options.get("local_activities", 0),
            options.get("upsert", False),
            options.get("patch", False),
        ],
        "request_eager_start": options.get("eager", False),
    }
    if options.get("search_attributes"):
        arguments["search_attributes"] = TypedSearchAttributes([SearchAttributePair(TENANT, "t")])
    return arguments


async def variant(client: Client, server_pid: int, name: str, n: int, **options) -> None:
    queue = f"costs-{uuid.uuid4().hex[:8]}"
    arguments = start_arguments(options)
    async with open_worker(client, queue, options):

        async def start(i: int) -> None:
            await client.start_workflow(
                OpenWorkflow.run, id=f"{queue}-{i}", task_queue=queue, **arguments
            )

        for i in range(10 + options.get("cache", 0)):  # warm-up (and the cache filled)
            await start(-i - 1)
        await settle(server_pid)
        server, own = cpu_seconds(server_pid), cpu_seconds(os.getpid())
        numbers = iter(range(n))

        async def lane() -> None:
            for i in numbers:
                await start(i)

        began = time.monotonic()
        await asyncio.gather(*(lane() for _ in range(20)))
        rate = n / (time.monotonic() - began)
        await settle(server_pid)
        server_ms = 1000 * (cpu_seconds(server_pid) - server) / n
        own_ms = 1000 * (cpu_seconds(os.getpid()) - own) / n
    print(
        f"{name:42s} {rate:7.1f} starts/s   server {server_ms:5.2f} ms/wf   "
        f"worker+starter {own_ms:5.2f} ms/wf",
        flush=True,
    )


VARIANTS = [
    ("open", {}),
    ("open, eager", {"eager": True}),
    ("open, eager, unsandboxed", {"eager": True, "sandbox": False}),
    ("open, eager, search attribute at start", {"eager": True, "search_attributes": True}),
    ("  + one upsert", {"eager": True, "search_attributes": True, "upsert": True}),
    ("open, eager, 2 local activities", {"eager": True, "local_activities": 2}),
    ("open, eager, 4 local activities", {"eager": True, "local_activities": 4}),
    ("  unsandboxed", {"eager": True, "local_activities": 4, "sandbox": False}),
    ("open, 4 local activities, not eager", {"local_activities": 4}),
]
# A B event's first workflow task, hookline's work left out.
B_SHAPE = {
    "eager": True,
    "sandbox": False,
    "search_attributes": True,
    "local_activities": 1,
    "upsert": True,
    "patch": True,
}
LATENCY_STARTS, LATENCY_RATE = 100, 10.0
ROOMY_CACHE = 10_000  # runs a variant's worker keeps cached: more than any variant starts
# A cache this small is full after the warm-up (which then starts this many more), so each
# measured start evicts one run; no smaller than the workflow-task slots (100 by default),
# which the SDK caps at the cache's size.
FULL_CACHE = 100


async def latency(client: Client, n: int = LATENCY_STARTS, rate: float = LATENCY_RATE) -> None:
    """B_SHAPE at `rate` starts/s: ms from calling start_workflow to its local activity's
    first line, in this process."""
    queue = f"latency-{uuid.uuid4().hex[:8]}"
    called: dict[str, float] = {}
    arguments = start_arguments(B_SHAPE)
    async with open_worker(client, queue, B_SHAPE):

        async def start(i: int, at: float) -> None:
            await asyncio.sleep(max(0.0, at - time.monotonic()))
            workflow_id = f"{queue}-{i}"
            if i >= 0:  # the warm-up's are not measured
                called[workflow_id] = time.perf_counter()
            await client.start_workflow(
                OpenWorkflow.run, id=workflow_id, task_queue=queue, **arguments
            )

        for i in range(10):  # warm-up, not counted
            await start(-i - 1, 0.0)
        began = time.monotonic()
        await asyncio.gather(*(start(i, began + i / rate) for i in range(n)))
        for _ in range(100):  # bounded: 10 s for the last local activities
            if all(key in BEGAN for key in called):
                break
            await asyncio.sleep(0.1)
    waits = [1000 * (BEGAN[key] - at) for key, at in called.items() if key in BEGAN]
    p50, p99 = percentile(waits, 50), percentile(waits, 99)
    print(
        f"{'start -> local activity, ' + f'{rate:g}/s':42s} {len(waits)} of {n}   "
        f"p50 {p50 or 0:5.2f} ms   p99 {p99 or 0:5.2f} ms",
        flush=True,
    )


async def main(n: int) -> None:
    from hookline.devserver import dev_server_args, free_port, start_dev_server, stop_process

    with tempfile.TemporaryDirectory(prefix="hookline-costs-") as tmp:
        port = free_port()
        server = start_dev_server(
            dev_server_args(port=port, ui_port=None, db_file=Path(tmp) / "temporal.db"),
            port=port,
            log=Path(tmp) / "temporal.log",
        )
        try:
            client = await Client.connect(f"127.0.0.1:{port}")
            for name, options in VARIANTS:
                await variant(client, server.pid, name, n, **options)
            await variant(client, server.pid, "B's first task, none of hookline's", n, **B_SHAPE)
            await variant(
                client, server.pid, "  the same, cache full", n, **B_SHAPE, cache=FULL_CACHE
            )
            await latency(client)
        finally:
            stop_process(server)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 300))
