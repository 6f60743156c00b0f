"""`hookline bench`: the end-to-end benchmark (see docs/PERFORMANCE.md).

One run starts, in a temp dir: a file-backed Temporal dev server configured as `hookline dev`
configures it (headless), the fast receiver (bench/receiver.py), a migrated SQLite store with
a tenant, a token and webhooks, then the worker and the API as real subprocesses, so their CPU
seconds (/proc/PID/stat) and peak RSS (/proc/PID/status VmHWM) are measured per process.

Scenarios: A naive baseline (bench/naive.py), B hookline end to end (1 webhook), C fan-out
(1 event to 10 webhooks), D latency at a steady 10 events/s open loop, E B again with K events
left open in their 7-day window (and how long the K burst took to drain). A, B and C run twice
in turn (A B C A B C) and each is reported over both passes (`pool`). Then the Temporal
billable actions per event from the histories (bench/costs.py) and, with `--peer celery`, the
Celery + Redis peer against the same receiver (bench/peer.py). `--scale`: bench/scale.py.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench.progress import progress_bar, tracked
from bench.publisher import Connection

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
PROCESSES = ("server", "worker", "api")
FANOUT = 10

# Targets (docs/PERFORMANCE.md, "Targets").
TARGETS = {
    "B/A": 2.0,  # hookline events/s over the naive baseline
    "C/B": 6.0,  # fan-out deliveries/s over B's
    "D p50 ms": 35.0,
    "D p99 ms": 80.0,
    "E/B": 0.8,
    "worker RSS MB": 250.0,
    "api RSS MB": 250.0,
}


@dataclass(frozen=True)
class Sizes:
    naive: int
    events: int
    fanout_events: int
    latency_seconds: float
    latency_rate: float
    open_events: int
    concurrency: int
    peer_burst: int  # deliveries in the peer's burst (--peer)


QUICK = Sizes(  # under a minute; passes of 1.5 s (B) or 0.3 s (C) were mostly noise
    naive=200,
    events=300,
    fanout_events=60,
    latency_seconds=3,
    latency_rate=10,
    open_events=500,
    concurrency=20,
    peer_burst=500,
)
DEFAULT = Sizes(
    naive=1000,
    events=1000,
    fanout_events=200,
    latency_seconds=10,
    latency_rate=10,
    open_events=5000,
    concurrency=20,
    peer_burst=2000,
)


# --------------------------------------------------------------------------- pure helpers


def percentile(values: list[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default); None for no values."""
    if not values:
        return None
    if not 0 <= q <= 100:
        raise ValueError("q must be within [0, 100]")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def parse_cpu_seconds(stat: str, ticks: int) -> float:
    """utime + stime of a /proc/PID/stat line (the comm field may hold spaces)."""
    fields = stat.rpartition(")")[2].split()
    # fields[0] is field 3 (state): utime is field 14, stime field 15.
    return (int(fields[11]) + int(fields[12])) / ticks


def parse_vmhwm_mb(status: str) -> float | None:
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024  # kB
    return None


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return numerator / denominator


def summarize(
    name: str,
    sent: dict[str, float],
    records: list[list],
    cpu: dict[str, float],
    *,
    complete: bool,
    expected: int,
    seconds: float | None = None,
) -> dict[str, Any]:
    """One scenario's figures from publish times (event id -> wall time) and receiver records
    ([wall time, event id, delivery id, path]); over `seconds` if given, else from the first
    publish to the last arrival."""
    events = len(sent)
    first: dict[str, float] = {}
    for at, event_id, _dlv, _path in records:
        if event_id in sent:
            first[event_id] = min(at, first.get(event_id, at))
    latencies = [1000 * (first[e] - sent[e]) for e in first]
    if seconds is None:
        start = min(sent.values()) if sent else 0.0
        end = max((r[0] for r in records), default=start)
        seconds = max(end - start, 1e-9)
    return {
        "name": name,
        "events": events,
        "deliveries": len(records),
        "expected_deliveries": expected,
        "complete": complete,
        "seconds": round(seconds, 3),
        "events_per_s": events / seconds if records else None,
        "deliveries_per_s": len(records) / seconds if records else None,
        "p50_ms": percentile(latencies, 50),
        "p99_ms": percentile(latencies, 99),
        "cpu_s": {k: round(v, 3) for k, v in cpu.items()},
        "cpu_s_per_event": {k: (v / events if events else None) for k, v in cpu.items()},
    }


def pool(name: str, passes: list[dict]) -> dict[str, Any]:
    """Passes of one scenario measured apart (A, B and C run in turn), as one: their events,
    time and CPU added up, their latencies pooled. Each pass keeps its rate under "passes"."""
    sent: dict[str, float] = {}
    records: list[list] = []
    cpu: dict[str, float] = {}
    for one in passes:
        raw = one["_raw"]
        sent |= raw["sent"]
        records += raw["records"]
        for process, seconds in raw["cpu"].items():
            cpu[process] = cpu.get(process, 0.0) + seconds
    pooled = summarize(
        name,
        sent,
        records,
        cpu,
        complete=all(one["complete"] for one in passes),
        expected=sum(one["expected_deliveries"] for one in passes),
        seconds=sum(one["seconds"] for one in passes),
    )
    pooled["passes"] = [
        {"events_per_s": one["events_per_s"], "seconds": one["seconds"]} for one in passes
    ]
    return pooled


def compute_ratios(scenarios: dict[str, dict]) -> dict[str, float | None]:
    def get(key: str, field_: str) -> float | None:
        return scenarios.get(key, {}).get(field_)

    return {
        "B/A": ratio(get("B", "events_per_s"), get("A", "events_per_s")),
        "C/B": ratio(get("C", "deliveries_per_s"), get("B", "deliveries_per_s")),
        "E/B": ratio(get("E", "events_per_s"), get("B", "events_per_s")),
    }


def check_targets(
    scenarios: dict[str, dict], ratios: dict, rss: dict[str, float | None]
) -> list[dict]:
    d = scenarios.get("D", {})
    rows = [
        ("B/A", ratios.get("B/A"), ">="),
        ("C/B", ratios.get("C/B"), ">="),
        ("D p50 ms", d.get("p50_ms"), "<="),
        ("D p99 ms", d.get("p99_ms"), "<="),
        ("E/B", ratios.get("E/B"), ">="),
        ("worker RSS MB", rss.get("worker"), "<"),
        ("api RSS MB", rss.get("api"), "<"),
    ]
    out = []
    for name, value, op in rows:
        target = TARGETS[name]
        if value is None:
            met = None
        elif op == ">=":
            met = value >= target
        elif op == "<=":
            met = value <= target
        else:
            met = value < target
        out.append({"target": name, "op": op, "goal": target, "value": value, "met": met})
    return out


def _fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def table_rows(scenarios: dict[str, dict]) -> list[list[str]]:
    """The main table's rows as strings (CPU in ms per event)."""
    rows = []
    for key, s in scenarios.items():
        per = s.get("cpu_s_per_event", {})
        label = f"{key} {s['name']}" + ("" if s.get("complete", True) else " (INCOMPLETE)")
        rows.append(
            [
                label,
                str(s["events"]),
                str(s["deliveries"]),
                _fmt(s["seconds"], 2),
                _fmt(s["events_per_s"]),
                _fmt(s["deliveries_per_s"]),
                _fmt(s["p50_ms"]),
                _fmt(s["p99_ms"]),
                *(_fmt(None if per.get(p) is None else 1000 * per[p], 2) for p in PROCESSES),
            ]
        )
    return rows


HEADERS = [
    "scenario",
    "events",
    "deliveries",
    "s",
    "events/s",
    "deliveries/s",
    "p50 ms",
    "p99 ms",
    "server CPU ms/ev",
    "worker CPU ms/ev",
    "API CPU ms/ev",
]


def render(report: dict) -> Any:
    """A rich renderable: the scenario table, peak RSS, ratios and targets."""
    from rich.console import Group
    from rich.table import Table

    main = Table(title="hookline bench", title_justify="left")
    for i, header in enumerate(HEADERS):
        main.add_column(header, justify="left" if i == 0 else "right")
    for row in table_rows(report["scenarios"]):
        main.add_row(*row)
    rss = Table(title="peak RSS (VmHWM, MB)", title_justify="left")
    for p in PROCESSES:
        rss.add_column(p, justify="right")
    rss.add_row(*(_fmt(report["rss_mb"].get(p)) for p in PROCESSES))
    targets = Table(title="targets", title_justify="left")
    for header in ("target", "goal", "value", "met"):
        targets.add_column(header)
    for t in report["targets"]:
        met = {True: "met", False: "NOT met", None: "-"}[t["met"]]
        targets.add_row(t["target"], f"{t['op']} {t['goal']:g}", _fmt(t["value"], 2), met)
    from bench.tables import rich_tables

    return Group(main, rss, targets, *rich_tables(report))


def to_markdown(report: dict) -> str:
    lines = ["| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    lines += ["| " + " | ".join(row) + " |" for row in table_rows(report["scenarios"])]
    lines += ["", "| process | peak RSS MB |", "|---|---|"]
    lines += [f"| {p} | {_fmt(report['rss_mb'].get(p))} |" for p in PROCESSES]
    lines += ["", "| target | goal | value | met |", "|---|---|---|---|"]
    for t in report["targets"]:
        met = {True: "met", False: "**not met**", None: "-"}[t["met"]]
        lines.append(f"| {t['target']} | {t['op']} {t['goal']:g} | {_fmt(t['value'], 2)} | {met} |")
    from bench.tables import markdown

    return "\n".join(lines) + "\n" + markdown(report)


def machine() -> dict[str, Any]:
    model = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.partition(":")[2].strip()
                break
    ram_mb = 0.0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                ram_mb = int(line.split()[1]) / 1024
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "ram_gb": round(ram_mb / 1024, 1),
        "python": platform.python_version(),
    }


# --------------------------------------------------------------------------- the stack


def process_tree(pid: int) -> list[int]:
    """The process and its descendants (an API with several processes is a tree)."""
    tree, i = [pid], 0
    while i < len(tree):
        try:
            for task in os.listdir(f"/proc/{tree[i]}/task"):
                with open(f"/proc/{tree[i]}/task/{task}/children") as f:
                    tree += [int(child) for child in f.read().split()]
        except OSError:
            pass
        i += 1
    return tree


def cpu_seconds(pid: int, *, tree: bool = True) -> float:
    total = 0.0
    for member in process_tree(pid) if tree else [pid]:
        try:
            with open(f"/proc/{member}/stat") as f:
                total += parse_cpu_seconds(f.read(), os.sysconf("SC_CLK_TCK"))
        except OSError:
            pass
    return total


def rss_mb(pid: int) -> float | None:
    """Resident memory now (VmRSS) of one process."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def sqlite_mb(db_file: Path) -> float:
    """The dev server's SQLite file with its WAL and shared-memory files."""
    names = (db_file, Path(f"{db_file}-wal"), Path(f"{db_file}-shm"))
    return sum(p.stat().st_size for p in names if p.exists()) / 2**20


def server_footprint(stack: Stack) -> dict[str, float | None]:
    return {
        "sqlite_mb": sqlite_mb(stack.tmp / "temporal.db"),
        "rss_mb": rss_mb(stack.procs["server"].pid),
    }


def open_event_footprint(before: dict, after: dict, events: int) -> dict[str, float | None]:
    """The dev server's SQLite and RSS growth per event left open (in kB)."""
    out: dict[str, float | None] = {"events": events}
    for key in ("sqlite_mb", "rss_mb"):
        grown = None if before[key] is None or after[key] is None else after[key] - before[key]
        out[key] = after[key]
        out[key.replace("_mb", "_kb_per_open_event")] = (
            None if grown is None or not events else 1024 * grown / events
        )
    return out


def peak_rss_mb(pid: int) -> float | None:
    """The largest peak RSS of one process in the tree (each process has its own memory)."""
    peaks = []
    for member in process_tree(pid):
        try:
            with open(f"/proc/{member}/status") as f:
                peaks.append(parse_vmhwm_mb(f.read()))
        except OSError:
            pass
    return max((p for p in peaks if p is not None), default=None)


@dataclass
class Stack:
    tmp: Path
    temporal_port: int
    api_port: int
    rx_port: int
    api_processes: int = 1
    token: str = ""
    tenant_id: str = ""
    hooks: dict[str, list[str]] = field(default_factory=dict)  # path -> webhook secrets
    webhook_ids: dict[str, list[str]] = field(default_factory=dict)  # path -> webhook ids
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    task_queue: str = "hookline-bench"
    database_url: str = ""  # empty: SQLite in tmp

    @property
    def store_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.tmp / 'hookline.db'}"

    def pids(self) -> dict[str, int]:
        return {name: proc.pid for name, proc in self.procs.items()}

    def cpu(self) -> dict[str, float]:
        out = {name: cpu_seconds(pid) for name, pid in self.pids().items() if name in PROCESSES}
        out["bench"] = cpu_seconds(os.getpid(), tree=False)  # its children are the stack
        return out


def _env(stack: Stack, bootstrap: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOOKLINE_")}
    return env | {
        "HOOKLINE_DATA_DIR": str(stack.tmp),
        "HOOKLINE_DATABASE_URL": stack.store_url,
        "HOOKLINE_TEMPORAL_ADDRESS": f"{HOST}:{stack.temporal_port}",
        "HOOKLINE_TASK_QUEUE": stack.task_queue,
        "HOOKLINE_ALLOW_PRIVATE_URLS": "true",
        "HOOKLINE_BOOTSTRAP_TOKEN": bootstrap,
        "HOOKLINE_RATE_LIMIT": "1000000/minute",
        "HOOKLINE_API_PROCESSES": str(stack.api_processes),
        "PYTHONPATH": str(ROOT),
    }


@dataclass(frozen=True)
class Prepared:
    token: str
    tenant_id: str
    hooks: dict[str, list[str]]  # path -> webhook secrets
    webhook_ids: dict[str, list[str]]  # path -> webhook ids


async def prepare_store(url: str, rx_port: int) -> Prepared:
    from hookline.core import ids, signing
    from hookline.store import admin
    from hookline.store.engine import create_engine, session_maker
    from hookline.store.migrate import upgrade
    from hookline.store.tables import Webhook

    await upgrade(url)
    engine = create_engine(url)
    hooks: dict[str, list[str]] = {"/b": [], "/c": []}
    webhook_ids: dict[str, list[str]] = {"/b": [], "/c": []}
    try:
        async with session_maker(engine).begin() as session:
            tenant = await admin.get_or_create_tenant(session, "bench")
            issued = await admin.issue_token(session, tenant, name="bench")
            now = datetime.now(UTC)
            targets = [("/b", "user.created")] + [("/c", "data.created")] * FANOUT
            for i, (path, type_) in enumerate(targets):
                secret = signing.new_secret()
                webhook_id = ids.webhook_id()
                session.add(
                    Webhook(
                        id=webhook_id,
                        tenant_id=tenant.id,
                        url=f"http://{HOST}:{rx_port}{path}/{i}",
                        events=[type_],
                        status="active",
                        secret=secret,
                        created_at=now,
                        updated_at=now,
                    )
                )
                hooks[path].append(secret)
                webhook_ids[path].append(webhook_id)
        return Prepared(issued.value, tenant.id, hooks, webhook_ids)
    finally:
        await engine.dispose()


def _wait_line(proc: subprocess.Popen, expect: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if expect in line:
            return
        if not line and proc.poll() is not None:
            break
    raise RuntimeError(f"process {proc.args} did not print {expect!r}")


def _wait_healthy(port: int, procs: dict[str, subprocess.Popen], timeout: float = 90) -> None:
    from hookline.devserver import wait_healthy

    wait_healthy(f"http://{HOST}:{port}", procs, timeout=timeout)


def adopt(stack: Stack, prepared: Prepared) -> None:
    stack.token, stack.tenant_id = prepared.token, prepared.tenant_id
    stack.hooks, stack.webhook_ids = prepared.hooks, prepared.webhook_ids


def start_stack(stack: Stack, say) -> None:
    from hookline.devserver import dev_server_args, start_dev_server
    from hookline.store.admin import new_token_value

    python = sys.executable
    say("starting the Temporal dev server (file-backed, headless)")
    stack.procs["server"] = start_dev_server(
        dev_server_args(port=stack.temporal_port, ui_port=None, db_file=stack.tmp / "temporal.db"),
        port=stack.temporal_port,
        log=stack.tmp / "temporal.log",
    )
    say("starting the receiver")
    rx = subprocess.Popen(
        [python, "-m", "bench.receiver", "--port", str(stack.rx_port)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    stack.procs["receiver"] = rx
    _wait_line(rx, "listening", 30)
    say("migrating the store; tenant, token, webhooks")
    adopt(stack, asyncio.run(prepare_store(stack.store_url, stack.rx_port)))
    env = _env(stack, new_token_value())
    say("starting the worker and the API")
    for name, cmd in (
        ("worker", [python, "-m", "hookline.cli", "worker"]),
        ("api", [python, "-m", "hookline.cli", "api", "--port", str(stack.api_port)]),
    ):
        log = open(stack.tmp / f"{name}.log", "ab")  # closed below: the child keeps it
        stack.procs[name] = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=log, stderr=log)
        log.close()
    _wait_healthy(stack.api_port, stack.procs)


def stop_stack(stack: Stack) -> None:
    from hookline.devserver import stop_process

    for name in ("api", "worker", "receiver", "server"):  # Temporal last
        proc = stack.procs.get(name)
        if proc is not None:
            stop_process(proc)
            if proc.stdout is not None:
                proc.stdout.close()


# --------------------------------------------------------------------------- scenarios


class Bench:
    def __init__(self, stack: Stack, sizes: Sizes, say, progress=None) -> None:
        self.stack = stack
        self.sizes = sizes
        self.say = say
        self.progress = progress  # a rich Progress: one bar per scenario (bench/progress.py)
        self.rx = httpx.AsyncClient(base_url=f"http://{HOST}:{stack.rx_port}", timeout=30)
        self._idle: list[Connection] = []  # the publisher's (bench/publisher.py)

    def _new_connection(self) -> Connection:
        return Connection(HOST, self.stack.api_port, self.stack.token)

    async def aclose(self) -> None:
        for connection in self._idle:
            await connection.aclose()
        await self.rx.aclose()

    async def count(self) -> int:
        return int((await self.rx.get("/count")).text)

    def _tracked(self, label: str, total: int, base: int):
        async def since_base() -> int:
            return await self.count() - base

        return tracked(self.progress, label, total, since_base)

    async def wait(self, base: int, target: int, timeout: float) -> tuple[list[list], bool]:
        """Polls the receiver (bounded by `timeout`) until `target` records after `base`."""
        deadline = time.monotonic() + timeout
        reached = False
        while time.monotonic() < deadline:
            if await self.count() - base >= target:
                reached = True
                break
            await asyncio.sleep(0.05)
        records = (await self.rx.get("/records", params={"after": base})).json()
        return records, reached

    async def publish_one(self, type_: str, i: int) -> tuple[str, float]:
        # A free keep-alive connection, or a new one: as many as publishers in flight.
        connection = self._idle.pop() if self._idle else self._new_connection()
        at = time.time()
        try:
            reply = await connection.post_json({"type": type_, "data": {"id": f"usr_{i}", "n": i}})
        except BaseException:
            await connection.aclose()
            raise
        self._idle.append(connection)
        return reply["data"]["id"], at

    async def publish(self, type_: str, n: int, concurrency: int) -> dict[str, float]:
        sent: dict[str, float] = {}
        counter = iter(range(n))

        async def lane() -> None:
            for i in counter:
                event_id, at = await self.publish_one(type_, i)
                sent[event_id] = at

        await asyncio.gather(*(lane() for _ in range(concurrency)))
        return sent

    def _timeout(self, events: int) -> float:
        return 30 + events / 5  # bounded: any rate under 5 events/s counts as a failure

    async def closed_loop(self, name: str, type_: str, n: int, fanout: int) -> dict:
        base = await self.count()
        async with self._tracked(name, n * fanout, base):
            before = self.stack.cpu()
            sent = await self.publish(type_, n, self.sizes.concurrency)
            records, done = await self.wait(base, n * fanout, self._timeout(n))
            return self._result(name, sent, records, before, done, n * fanout)

    def _result(self, name, sent, records, before, done, expected, naive=False) -> dict:
        after = self.stack.cpu()
        cpu = {k: after[k] - before[k] for k in after}
        if naive:
            # The naive worker runs in this process: its CPU is the bench process's (with the
            # starter); hookline's idle worker is not part of this scenario.
            cpu["worker"] = cpu.pop("bench")
        result = summarize(name, sent, records, cpu, complete=done, expected=expected)
        if naive:
            result["cpu_s_per_event"]["api"] = None
        # For pool(); dropped from the report.
        result["_raw"] = {"sent": sent, "records": records, "cpu": cpu}
        return result

    async def warm_up(self) -> None:
        base = await self.count()
        await self.publish("user.created", 5, 5)
        _, done = await self.wait(base, 5, 60)
        if not done:
            raise RuntimeError("hookline did not deliver the warm-up events within 60 s")

    async def naive(self, name: str = "naive baseline") -> dict:
        from temporalio.client import Client
        from temporalio.worker import Worker

        from bench.naive import TASK_QUEUE, NaiveEventWorkflow, NaiveInput, NaivePoster
        from hookline.core import ids, signing

        client = await Client.connect(f"{HOST}:{self.stack.temporal_port}")
        secret = signing.new_secret()
        url = f"http://{HOST}:{self.stack.rx_port}/a"
        async with httpx.AsyncClient(timeout=15) as http:
            worker = Worker(
                client,
                task_queue=TASK_QUEUE,
                workflows=[NaiveEventWorkflow],
                activities=[NaivePoster(http).post],
            )
            async with worker:

                async def start(n: int) -> dict[str, float]:
                    sent: dict[str, float] = {}
                    counter = iter(range(n))

                    async def lane() -> None:
                        for _ in counter:
                            event_id = ids.event_id()
                            at = time.time()
                            await client.start_workflow(
                                NaiveEventWorkflow.run,
                                NaiveInput(event_id=event_id, url=url, secret=secret),
                                id=f"naive-{event_id}",
                                task_queue=TASK_QUEUE,
                            )
                            sent[event_id] = at

                    await asyncio.gather(*(lane() for _ in range(self.sizes.concurrency)))
                    return sent

                base = await self.count()
                await start(5)  # warm-up
                await self.wait(base, 5, 60)
                n = self.sizes.naive
                base = await self.count()
                async with self._tracked(name, n, base):
                    before = self.stack.cpu()
                    sent = await start(n)
                    records, done = await self.wait(base, n, self._timeout(n))
                    return self._result(name, sent, records, before, done, n, naive=True)

    async def latency(self) -> dict:
        rate, seconds = self.sizes.latency_rate, self.sizes.latency_seconds
        n = int(rate * seconds)
        name = f"latency {rate:g}/s open loop"
        base = await self.count()
        sent: dict[str, float] = {}

        async def one(i: int) -> None:
            await asyncio.sleep(max(0.0, start + i / rate - time.monotonic()))
            event_id, at = await self.publish_one("user.created", i)
            sent[event_id] = at

        async with self._tracked(name, n, base):
            before = self.stack.cpu()
            start = time.monotonic()
            await asyncio.gather(*(one(i) for i in range(n)))
            records, done = await self.wait(base, n, self._timeout(n))
            return self._result(name, sent, records, before, done, n)

    async def run(self) -> dict[str, dict]:
        s, say = self.sizes, self.say
        scenarios: dict[str, dict] = {}
        say("warming up hookline")
        await self.warm_up()
        # A, B and C twice, in turn (A B C A B C): the machine's speed drifts within a run
        # (shared cores), and B/A and C/B should compare them over the same stretches of it.
        passes: dict[str, list[dict]] = {"A": [], "B": [], "C": []}
        for n in (1, 2):
            say(f"A: naive baseline, {s.naive} workflows (pass {n} of 2)")
            passes["A"].append(await self.naive(f"naive baseline, pass {n}"))
            say(f"B: hookline end to end, {s.events} events, 1 webhook (pass {n} of 2)")
            passes["B"].append(
                await self.closed_loop(f"hookline 1 webhook, pass {n}", "user.created", s.events, 1)
            )
            say(f"C: fan-out, {s.fanout_events} events x {FANOUT} webhooks (pass {n} of 2)")
            passes["C"].append(
                await self.closed_loop(
                    f"fan-out x{FANOUT}, pass {n}", "data.created", s.fanout_events, FANOUT
                )
            )
        self.sent_ids = {key: list(passes[key][0]["_raw"]["sent"]) for key in ("B", "C")}
        scenarios["A"] = pool("naive baseline", passes["A"])
        scenarios["B"] = pool("hookline 1 webhook", passes["B"])
        scenarios["C"] = pool(f"fan-out x{FANOUT}", passes["C"])
        say(f"D: latency, {s.latency_rate:g} events/s for {s.latency_seconds:g} s")
        scenarios["D"] = await self.latency()
        say(f"E: burst of {s.open_events} events left open")
        server_before = server_footprint(self.stack)
        scenarios["E0"] = await self.closed_loop(
            f"burst of {s.open_events} (drain)", "user.created", s.open_events, 1
        )
        scenarios["E0"]["server_footprint"] = open_event_footprint(
            server_before, server_footprint(self.stack), s.open_events
        )
        say(f"E: B again with {s.open_events} more open events")
        scenarios["E"] = await self.closed_loop(
            "B with the burst open", "user.created", s.events, 1
        )
        return scenarios


DEFAULT_PRICE_PER_MILLION = 50.0  # Temporal Cloud's list price per million actions


async def run_peer(bench: Bench, stack: Stack, sizes: Sizes, say) -> dict[str, Any]:
    from bench import peer
    from hookline.devserver import free_port

    say("peer: starting redis-server and a Celery worker")
    sender = peer.Peer(stack.tmp, stack.rx_port, free_port())
    try:
        await asyncio.to_thread(sender.start)
        return await peer.run(bench, sender, sizes, say)
    finally:
        await asyncio.to_thread(sender.stop)


def main(args) -> None:
    from rich.console import Console

    from hookline.devserver import free_port

    console = Console()
    if not console.is_terminal:
        console = Console(width=170)
    sizes = QUICK if args.quick else DEFAULT
    if getattr(args, "open", None):
        sizes = replace(sizes, open_events=args.open)
    if getattr(args, "scale", False):
        from bench.scale import main as scale_main

        scale_main(args, console)
        return
    price = getattr(args, "price_per_million_actions", None) or DEFAULT_PRICE_PER_MILLION
    peer_kind = getattr(args, "peer", None)
    if peer_kind:
        from bench.peer import PeerUnavailable, check_available

        try:
            check_available()  # before minutes of hookline scenarios
        except PeerUnavailable as exc:
            raise SystemExit(str(exc)) from None
    started = time.monotonic()

    def say(message: str) -> None:
        console.log(f"[{time.monotonic() - started:5.1f}s] {message}")

    report: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "hookline bench"
        + (" --quick" if args.quick else "")
        + (f" --api-processes {args.api_processes}" if args.api_processes != 1 else "")
        + (f" --open {args.open}" if getattr(args, "open", None) else "")
        + (f" --peer {peer_kind}" if peer_kind else ""),
        "machine": machine(),
        "sizes": sizes.__dict__,
    }
    with tempfile.TemporaryDirectory(prefix="hookline-bench-") as tmp:
        stack = Stack(Path(tmp), free_port(), free_port(), free_port(), args.api_processes)
        error: BaseException | None = None
        scenarios: dict[str, dict] = {}
        extras: dict[str, Any] = {}  # costs, peer
        try:
            start_stack(stack, say)

            async def go(progress) -> None:
                bench = Bench(stack, sizes, say, progress)
                try:
                    scenarios.update(await bench.run())
                    say("costs: billable actions from the histories of B, C and a redelivery")
                    from bench import costs

                    extras["costs"] = await costs.measure(bench, bench.sent_ids, FANOUT, price)
                    if peer_kind:
                        extras["peer"] = await run_peer(bench, stack, sizes, say)
                finally:
                    await bench.aclose()

            with progress_bar(console) as progress:
                asyncio.run(go(progress))
        except (Exception, KeyboardInterrupt) as exc:  # report what we have, then re-raise
            error = exc
            for name in ("worker", "api"):
                log = stack.tmp / f"{name}.log"
                if log.exists():
                    tail = log.read_text(errors="replace")[-2000:]
                    if tail.strip():
                        console.print(f"--- {name}.log (tail)\n{tail}")
        finally:
            rss = {name: peak_rss_mb(pid) for name, pid in stack.pids().items()}
            say("stopping")
            stop_stack(stack)
        report["scenarios"] = {
            key: {k: v for k, v in result.items() if not k.startswith("_")}
            for key, result in scenarios.items()
        }
        report["rss_mb"] = {p: rss.get(p) for p in PROCESSES}
        report["ratios"] = compute_ratios(scenarios)
        report["targets"] = check_targets(scenarios, report["ratios"], report["rss_mb"])
        report |= extras
        if "peer" in extras:
            from bench.peer import compare

            report["peer_ratios"] = compare(report["scenarios"], extras["peer"])
        report["total_seconds"] = round(time.monotonic() - started, 1)
        if error is not None:
            report["error"] = repr(error)
    console.print(render(report))
    ratios = report["ratios"]
    console.print(
        "ratios: "
        + ", ".join(f"{k} = {_fmt(v, 2)}" for k, v in ratios.items())
        + f"; total {report['total_seconds']} s"
    )
    if args.output:
        Path(args.output).write_text(json.dumps(report, indent=2) + "\n")
        console.print(f"JSON written to {args.output}")
    if getattr(args, "markdown", None):
        m = report["machine"]
        header = (
            f"Run {report['date']}, `{report['command']}`, {report['total_seconds']} s, on "
            f"{m.get('nproc')} CPUs ({m.get('cpu')}), {m.get('ram_gb')} GB RAM, "
            f"Python {m.get('python')}.\n\n"
        )
        Path(args.markdown).write_text(header + to_markdown(report))
        console.print(f"Markdown written to {args.markdown}")
    if error is not None:
        raise SystemExit(f"bench failed: {error!r}")
