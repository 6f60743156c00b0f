"""`hookline bench --scale`: scale-out on one machine, with the PostgreSQL store.

One Temporal dev server (file-backed, as `hookline dev` runs it), a throwaway PostgreSQL 15
(tests/support/postgres.py), the bench's receiver, then `hookline api` and `hookline worker`
processes added step by step (1 API + 1 worker, 1 + 2, 2 + 3), each step measured with B (one
webhook) and C (fan-out). The APIs run without their embedded worker, so the workers do all
the delivering and adding one shows. At the last step one worker is SIGKILLed mid-stream: every
event must still arrive once per webhook (by delivery id); duplicates from at-least-once
retries are counted, nothing may be lost. tests/e2e/test_scale_out.py runs the same cluster.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.config import DEFAULT, FANOUT, HOST, QUICK, ROOT
from bench.procs import cpu_seconds, peak_rss_mb, report_head
from bench.progress import timed_log
from bench.publisher import Connection
from bench.scenarios import Bench
from bench.seed import prepare_store
from bench.stack import Stack, adopt, wait_line

STEPS = ((1, 1), (1, 2), (2, 3))  # (API processes, worker processes)


@dataclass
class Cluster(Stack):
    """A Stack with several API and worker processes (procs "api-1", "worker-2", ...)."""

    api_ports: list[int] = field(default_factory=list)
    receiver_delay: float = 0.0

    def apis(self) -> list[str]:
        return sorted(n for n in self.procs if n.startswith("api-"))

    def workers(self) -> list[str]:
        return sorted(n for n in self.procs if n.startswith("worker-"))

    def cpu(self) -> dict[str, float]:
        out: dict[str, float] = defaultdict(float)
        for name, proc in self.procs.items():
            role = name.split("-")[0]
            if role in ("server", "api", "worker"):
                out[role] += cpu_seconds(proc.pid)
        out["bench"] = cpu_seconds(os.getpid(), tree=False)
        return dict(out)

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HOOKLINE_")}
        return env | {
            "HOOKLINE_DATA_DIR": str(self.tmp),
            "HOOKLINE_DATABASE_URL": self.store_url,
            "HOOKLINE_TEMPORAL_ADDRESS": f"{HOST}:{self.temporal_port}",
            "HOOKLINE_TASK_QUEUE": self.task_queue,
            "HOOKLINE_ALLOW_PRIVATE_URLS": "true",
            "HOOKLINE_RATE_LIMIT": "1000000/minute",
            # The APIs only publish: the workers deliver, so adding one is what scales.
            "HOOKLINE_EMBEDDED_WORKER": "false",
            "HOOKLINE_RETRY_INITIAL_INTERVAL": "1s",
            "PYTHONPATH": str(ROOT),
        }

    def start(self, say) -> None:
        """The dev server, the receiver and the prepared store (no API, no worker yet)."""
        from hookline.devserver import dev_server_args, start_dev_server

        say("starting the Temporal dev server (file-backed, headless)")
        self.procs["server"] = start_dev_server(
            dev_server_args(
                port=self.temporal_port, ui_port=None, db_file=self.tmp / "temporal.db"
            ),
            port=self.temporal_port,
            log=self.tmp / "temporal.log",
        )
        receiver = ["bench.receiver", "--port", str(self.rx_port)]
        rx = subprocess.Popen(
            [sys.executable, "-m", *receiver, "--delay", str(self.receiver_delay)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.procs["receiver"] = rx
        wait_line(rx, "listening", 30)
        say("migrating the PostgreSQL store; tenant, token, webhooks")
        adopt(self, asyncio.run(prepare_store(self.store_url, self.rx_port)))

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen:
        log = open(self.tmp / f"{name}.log", "ab")  # closed below: the child keeps it
        proc = subprocess.Popen(
            [sys.executable, "-m", "hookline.cli", *args],
            env=self.env(),
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        self.procs[name] = proc
        return proc

    def add_api(self) -> None:
        from hookline.devserver import free_port, wait_healthy

        port = free_port()
        name = f"api-{len(self.apis()) + 1}"
        proc = self._spawn(name, ["api", "--port", str(port)])
        wait_healthy(f"http://{HOST}:{port}", {name: proc})
        self.api_ports.append(port)
        self.api_port = self.api_ports[0]

    def add_worker(self) -> None:
        self._spawn(f"worker-{len(self.workers()) + 1}", ["worker"])

    def grow(self, apis: int, workers: int) -> None:
        while len(self.apis()) < apis:
            self.add_api()
        while len(self.workers()) < workers:
            self.add_worker()
        asyncio.run(self.wait_polling())

    async def wait_polling(self, timeout: float = 90) -> None:
        """Until every worker process polls the task queue (Temporal lists its pollers with
        the SDK's default identity, pid@host), so a step measures all of them."""
        from temporalio.api.enums.v1 import TaskQueueType
        from temporalio.api.taskqueue.v1 import TaskQueue
        from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
        from temporalio.client import Client

        client = await Client.connect(f"{HOST}:{self.temporal_port}")
        request = DescribeTaskQueueRequest(
            namespace=client.namespace,
            task_queue=TaskQueue(name=self.task_queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        )
        wanted = {str(self.procs[name].pid) for name in self.workers()}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            answer = await client.workflow_service.describe_task_queue(request)
            polling = {poller.identity.partition("@")[0] for poller in answer.pollers}
            if wanted <= polling:
                return
            for name in self.workers():
                if self.procs[name].poll() is not None:
                    raise RuntimeError(f"{name} exited (see {self.tmp / name}.log)")
            await asyncio.sleep(0.2)
        raise RuntimeError(f"workers not polling after {timeout} s: {sorted(wanted - polling)}")

    def kill(self, name: str) -> None:
        proc = self.procs.pop(name)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        self.procs[f"killed {name}"] = proc  # its pid stays for the report

    def stop(self) -> None:
        from hookline.devserver import stop_process

        for name in [*self.apis(), *self.workers(), "receiver", "server"]:  # Temporal last
            proc = self.procs.get(name)
            if proc is not None:
                stop_process(proc)
                if proc.stdout is not None:
                    proc.stdout.close()


class ClusterBench(Bench):
    """The bench's scenarios, publishing round-robin to every API process."""

    def __init__(self, cluster: Cluster, sizes, say, progress=None) -> None:
        super().__init__(cluster, sizes, say, progress)
        self.cluster = cluster
        self._ports = itertools.cycle(cluster.api_ports)

    def _new_connection(self) -> Connection:
        return Connection(HOST, next(self._ports), self.cluster.token)

    async def rebalance(self) -> None:
        """New connections spread over the API processes there are now."""
        for connection in self._idle:
            await connection.aclose()
        self._idle.clear()
        self._ports = itertools.cycle(self.cluster.api_ports)


def exactly_once(records: list[list], sent: set[str], webhooks_per_event: int) -> dict[str, int]:
    """Deliveries by delivery id against what was published: unique, duplicate (at-least-once
    retries after a kill), missing (a published event short of one of its webhooks) and extra
    (a delivery of an event nobody published)."""
    by_event: dict[str, set[str]] = defaultdict(set)
    seen: set[str] = set()
    duplicates = 0
    for _at, event_id, delivery_id, _path in records:
        if delivery_id in seen:
            duplicates += 1
        seen.add(delivery_id)
        by_event[event_id].add(delivery_id)
    missing = sum(max(webhooks_per_event - len(by_event.get(e, ())), 0) for e in sent)
    return {
        "published": len(sent),
        "expected": len(sent) * webhooks_per_event,
        "unique": sum(len(by_event[e]) for e in sent if e in by_event),
        "duplicates": duplicates,
        "lost": missing,
        "unexpected": sum(len(ids) for e, ids in by_event.items() if e not in sent),
    }


async def kill_mid_stream(
    bench: ClusterBench,
    victim: str,
    streams: list[tuple[str, int, int]],
    *,
    kill_after: float = 0.25,
    timeout: float = 180,
) -> dict[str, Any]:
    """Publishes `streams` ([(event type, events, webhooks per event)]), SIGKILLs `victim` once
    `kill_after` of the deliveries arrived, and waits (bounded) for all of them."""
    base = await bench.count()
    expected = sum(n * per for _, n, per in streams)
    sent: dict[str, set[str]] = {}

    async def publish() -> None:
        for type_, n, _per in streams:
            sent[type_] = set(await bench.publish(type_, n, bench.sizes.concurrency))

    publishing = asyncio.create_task(publish())
    deadline = time.monotonic() + timeout
    while await bench.count() - base < kill_after * expected and time.monotonic() < deadline:
        if publishing.done() and publishing.exception():
            break
        await asyncio.sleep(0.05)
    at_kill = await bench.count() - base
    await asyncio.to_thread(bench.cluster.kill, victim)
    await publishing
    # Distinct deliveries: the duplicates of attempts in flight at the kill do not count.
    complete = await bench.wait_distinct(base, expected, max(deadline - time.monotonic(), 1))
    # A few more seconds: duplicates of attempts in flight at the kill may still come in.
    await asyncio.sleep(2)
    records = (await bench.rx.get("/records", params={"after": base})).json()
    out: dict[str, Any] = {"victim": victim, "received_at_kill": at_kill, "complete": complete}
    totals: dict[str, int] = defaultdict(int)
    for type_, _n, per in streams:
        mine = [r for r in records if r[1] in sent[type_]]
        for key, value in exactly_once(mine, sent[type_], per).items():
            totals[key] += value
    others = {e for ids in sent.values() for e in ids}
    totals["unexpected"] = sum(1 for r in records if r[1] not in others)
    return out | dict(totals)


async def _steps(cluster: Cluster, sizes, say) -> dict[str, Any]:
    bench = ClusterBench(cluster, sizes, say)
    results: dict[str, Any] = {"steps": []}
    try:
        for apis, workers in STEPS:
            say(f"{apis} API + {workers} worker processes")
            await asyncio.to_thread(cluster.grow, apis, workers)
            await bench.rebalance()
            await bench.warm_up()
            label = f"{apis}+{workers}"
            b = await bench.closed_loop(f"B {label}", "user.created", sizes.events, 1)
            c = await bench.closed_loop(f"C {label}", "data.created", sizes.fanout_events, FANOUT)
            step = {"apis": apis, "workers": workers}
            for key, result in (("B", b), ("C", c)):
                step[key] = {k: v for k, v in result.items() if not k.startswith("_")}
            results["steps"].append(step)
        victim = cluster.workers()[0]
        say(f"SIGKILL {victim} mid-stream ({sizes.events} B events, {sizes.fanout_events} C)")
        results["kill"] = await kill_mid_stream(
            bench,
            victim,
            [("user.created", sizes.events, 1), ("data.created", sizes.fanout_events, FANOUT)],
        )
    finally:
        await bench.aclose()
    return results


STORE_TABLES = ("events", "deliveries", "attempts")
DATABASE = "hookline_scale"


def store_footprint(postgres, database: str) -> dict[str, Any]:
    """Rows and bytes (table, indexes and TOAST) of the store's per-event tables."""
    out: dict[str, Any] = {}
    for table in STORE_TABLES:
        answer = postgres.psql(
            f"SELECT count(*), pg_total_relation_size('{table}') FROM {table}", database
        )
        rows, size = (int(v) for v in answer.strip().split("|"))
        out[table] = {"rows": rows, "bytes": size}
    events = out["events"]["rows"]
    for table in STORE_TABLES:
        item = out[table]
        item["rows_per_event"] = item["rows"] / events if events else None
        item["bytes_per_event"] = item["bytes"] / events if events else None
    return out


def rows(results: dict[str, Any]) -> list[list[str]]:
    out = []
    for step in results.get("steps", []):
        b, c = step["B"], step["C"]
        cpu = {k: v for k, v in b["cpu_s_per_event"].items() if v is not None}
        out.append(
            [
                f"{step['apis']} API + {step['workers']} workers",
                f"{b['events_per_s']:,.1f}" + ("" if b["complete"] else " (INCOMPLETE)"),
                f"{c['deliveries_per_s']:,.1f}" + ("" if c["complete"] else " (INCOMPLETE)"),
                f"{b['p50_ms']:,.1f}" if b["p50_ms"] is not None else "-",
                " ".join(f"{k} {1000 * v:.2f}" for k, v in sorted(cpu.items())),
            ]
        )
    return out


@contextlib.contextmanager
def cluster_on_postgres(
    kind: type[Cluster], name: str, database: str, report: dict[str, Any], say
) -> Iterator[tuple[Cluster, Any]]:
    """A throwaway PostgreSQL 15 (tests/support/postgres.py) and a `kind` cluster on its
    `database`, in a temporary directory, started; on the way out, its processes' peak RSS
    into `report`, the cluster and PostgreSQL stopped. `name`: the bench mode's."""
    from hookline.devserver import free_port
    from tests.support.postgres import PostgresCluster, available

    if not available():
        raise SystemExit(f"bench --{name} needs PostgreSQL 15 (/usr/lib/postgresql/15/bin)")
    postgres = PostgresCluster()
    say("starting PostgreSQL 15 (throwaway)")
    postgres.start()
    try:
        with tempfile.TemporaryDirectory(prefix=f"hookline-{name}-") as tmp:
            cluster = kind(Path(tmp), free_port(), 0, free_port())
            cluster.database_url = postgres.create_database(database)
            try:
                cluster.start(say)
                yield cluster, postgres
            finally:
                report["rss_mb"] = {n: peak_rss_mb(p.pid) for n, p in cluster.procs.items()}
                say("stopping")
                cluster.stop()
    finally:
        postgres.stop()


def main(args, console) -> None:
    from rich.table import Table

    sizes = QUICK if args.quick else DEFAULT
    say = timed_log(console)
    report: dict[str, Any] = {
        **report_head("hookline bench --scale" + (" --quick" if args.quick else "")),
        "sizes": {"events": sizes.events, "fanout_events": sizes.fanout_events},
    }
    with cluster_on_postgres(Cluster, "scale", DATABASE, report, say) as (cluster, postgres):
        report |= asyncio.run(_steps(cluster, sizes, say))
        postgres.psql("VACUUM ANALYZE", DATABASE)
        report["store"] = store_footprint(postgres, DATABASE)
    table = Table(title="hookline bench --scale (PostgreSQL store)", title_justify="left")
    for i, header in enumerate(
        ["processes", "B events/s", "C deliveries/s", "B p50 ms", "CPU ms/event (B)"]
    ):
        table.add_column(header, justify="left" if i == 0 else "right")
    for row in rows(report):
        table.add_row(*row)
    console.print(table)
    kill = report.get("kill", {})
    console.print(
        "worker SIGKILL mid-stream: "
        + ", ".join(f"{k}={v}" for k, v in kill.items())
        + ("" if kill.get("lost") == 0 and kill.get("complete") else "  <-- EVENTS LOST")
    )
    store = report.get("store")
    if store:
        console.print(
            "PostgreSQL store: "
            + "; ".join(
                f"{t} {v['rows']} rows, {v['rows_per_event']:.2f}/event, "
                f"{v['bytes_per_event']:,.0f} B/event"
                for t, v in store.items()
            )
        )
    if args.output:
        import json

        Path(args.output).write_text(json.dumps(report, indent=2) + "\n")
        console.print(f"JSON written to {args.output}")
