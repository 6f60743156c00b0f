"""`hookline bench --tenant-burst`: does one tenant's burst on PostgreSQL delay another tenant?

bench/scale.py's Cluster on a throwaway PostgreSQL 15 (tests/support/postgres.py): the Temporal
dev server, the bench's receiver, two `hookline api` processes WITH their embedded worker (as
`hookline api` runs by default) and one `hookline worker`, the product's retry defaults. Two
tenants of their own, webhooks made through the API: A has `fast_webhooks` on `user.*` to
receiver paths that answer at once and one to a /hang/ path (answered after 20 s, past the 15 s
delivery timeout, not recorded); B has one, answered at once.

- "alone": B publishes `b_events` single events, one every `b_every` s, at most `b_in_flight`
  at once, alternating APIs; publish-to-receipt (first receipt minus the publish request's
  start) of every 202'd event;
- "burst": A sends `batches` concurrent POST /events/batch of `batch` events (alternating
  APIs), 1 s later B publishes as alone. The phase ends once every 202'd B event arrived and
  `min_s` passed, or at `cap_s` (publishing cut at `publish_cap_s`).

Both phases: the HTTP statuses of A and B (a 503 is counted, not fatal; the messages of the
non-2xx kept), each API's /healthz every 2 s, A's fast receipts (distinct deliveries) within
the phase, CPU seconds per process (PostgreSQL's with its exited backends); after the run, the
logs' warnings and exceptions. The figure: burst B p95 / alone B p95. The figures are computed
by bench/tenant_burst_figures.py.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

from bench.config import HOST
from bench.procs import cpu_seconds, report_head
from bench.progress import timed_log
from bench.scale import Cluster, cluster_on_postgres
from bench.tenant_burst_figures import (
    A_FAST,
    A_HANG,
    B_PATH,
    HEADERS,
    a_figures,
    b_figures,
    count_patterns,
    cpu_delta,
    exceptions,
    finished,
    first_receipts,
    health_figures,
    p95_ratio,
    table_rows,
)

DATABASE = "hookline_burst"
TYPE = "user.created"
WARM_UP = 5  # B's events before "alone": its first ones meet cold caches
HEALTH_EVERY = 2.0  # s between /healthz rounds


@dataclass(frozen=True)
class BurstSizes:
    batches: int  # A's concurrent POST /events/batch
    batch: int  # events per batch
    b_events: int  # B's events per phase
    b_every: float  # s between B's publishes
    b_in_flight: int  # B's publishes at once, at most
    fast_webhooks: int  # A's webhooks that answer at once (plus one that hangs)
    min_s: float  # the burst phase lasts at least this long
    cap_s: float  # ... and at most this long
    publish_cap_s: float  # publishing cut off this long after the burst's start


QUICK = BurstSizes(5, 100, 50, 0.1, 20, 40, min_s=40, cap_s=90, publish_cap_s=60)
DEFAULT = BurstSizes(20, 100, 100, 0.1, 20, 40, min_s=120, cap_s=240, publish_cap_s=180)


def sizes_for(args) -> BurstSizes:
    return QUICK if getattr(args, "quick", False) else DEFAULT


def command(args) -> str:
    return "hookline bench --tenant-burst" + (" --quick" if getattr(args, "quick", False) else "")


class BurstCluster(Cluster):
    """The scale Cluster, its APIs with their embedded worker and the retry defaults."""

    def env(self) -> dict[str, str]:
        env = super().env() | {"HOOKLINE_EMBEDDED_WORKER": "true"}
        env.pop("HOOKLINE_RETRY_INITIAL_INTERVAL", None)
        return env


# --- the run ---


class Run:
    def __init__(self, cluster: Cluster, postgres, sizes: BurstSizes, say) -> None:
        self.cluster, self.postgres, self.sizes, self.say = cluster, postgres, sizes, say
        self.apis = [f"http://{HOST}:{port}" for port in cluster.api_ports]
        self.rx = httpx.AsyncClient(base_url=f"http://{HOST}:{cluster.rx_port}", timeout=30)
        self.records: list[list] = []  # every receiver record so far (fetched incrementally)
        self.clients: dict[str, list[httpx.AsyncClient]] = {}
        self.errors: Counter[str] = Counter()  # the phase's non-2xx answers, by message

    async def fetch(self) -> list[list]:
        got = await self.rx.get("/records", params={"after": len(self.records)})
        self.records += got.json()
        return self.records

    def tenant(self, name: str, token: str) -> None:
        auth, limits = {"Authorization": f"Bearer {token}"}, httpx.Limits(max_connections=100)
        self.clients[name] = [
            httpx.AsyncClient(base_url=f"{api}/api/v1", headers=auth, timeout=60, limits=limits)
            for api in self.apis
        ]

    async def post(self, tenant: str, i: int, path: str, body: Any) -> tuple[str, Any]:
        """POSTs as `tenant` to API i (round robin): the status (or the exception's name) and
        the reply (None after an exception)."""
        try:
            got = await self.clients[tenant][i % len(self.apis)].post(path, json=body)
        except httpx.HTTPError as exc:
            return type(exc).__name__, None
        if got.status_code >= 300:
            try:
                error = got.json()["error"]
                reason = (error.get("details") or {}).get("reason", "")
                text = error["message"][:160] + (f" ({reason[:80]})" if reason else "")
            except (ValueError, KeyError, TypeError, AttributeError):
                text = got.text[:160]
            self.errors[f"{tenant} {got.status_code}: {text}"] += 1
        return str(got.status_code), got

    async def webhooks(self) -> None:
        rx = f"http://{HOST}:{self.cluster.rx_port}"
        urls = [("A", f"{rx}{A_HANG}"), ("B", f"{rx}{B_PATH}")]
        urls += [("A", f"{rx}{A_FAST}{j}") for j in range(self.sizes.fast_webhooks)]

        async def one(i: int, tenant: str, url: str) -> None:
            code, got = await self.post(tenant, i, "/webhooks", {"url": url, "events": ["user.*"]})
            if code != "201":
                raise RuntimeError(f"webhook {url}: {code} {got and got.text[:200]}")

        await asyncio.gather(*(one(i, t, u) for i, (t, u) in enumerate(urls)))

    async def publish_b(self, sent: dict[str, float], status: Counter, n: int) -> None:
        s, start, lanes = self.sizes, time.monotonic(), asyncio.Semaphore(self.sizes.b_in_flight)

        async def one(i: int) -> None:
            await asyncio.sleep(max(0.0, start + i * s.b_every - time.monotonic()))
            async with lanes:
                at = time.time()
                code, got = await self.post("B", i, "/events", {"type": TYPE, "data": {"b": i}})
                status[code] += 1
                if code == "202":
                    sent[got.json()["data"]["id"]] = at

        await asyncio.gather(*(one(i) for i in range(n)))

    async def burst_a(self, status: Counter, seconds: list[float]) -> None:
        s = self.sizes

        async def one(i: int) -> None:
            events = [{"type": TYPE, "data": {"a": i, "k": k}} for k in range(s.batch)]
            began = time.monotonic()
            status[(await self.post("A", i, "/events/batch", {"events": events}))[0]] += 1
            seconds.append(round(time.monotonic() - began, 2))

        await asyncio.gather(*(one(i) for i in range(s.batches)))

    async def poll_health(self, t0: float, stop: asyncio.Event, polls: list) -> None:
        async with httpx.AsyncClient(timeout=10) as client:
            while not stop.is_set():
                for i, api in enumerate(self.apis):
                    at, began = round(time.time() - t0, 1), time.monotonic()
                    try:
                        answer: Any = (await client.get(f"{api}/healthz")).status_code
                    except httpx.HTTPError as exc:
                        answer = type(exc).__name__
                    polls.append((at, f"api-{i + 1}", answer, time.monotonic() - began))
                try:
                    await asyncio.wait_for(stop.wait(), HEALTH_EVERY)
                except TimeoutError:
                    pass

    def cpu(self) -> dict[str, float]:
        out = {n: cpu_seconds(p.pid) for n, p in self.cluster.procs.items()}
        try:  # its backends, and those that exited (a pool's overflow connections close)
            pid = int((self.postgres.data_dir / "postmaster.pid").read_text().split()[0])
            with open(f"/proc/{pid}/stat") as f:
                reaped = f.read().rpartition(")")[2].split()[13:15]  # cutime, cstime
            out["postgres"] = cpu_seconds(pid) + sum(map(int, reaped)) / os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError, IndexError):
            pass
        out["bench"] = cpu_seconds(os.getpid(), tree=False)
        return out

    async def phase(self, burst: bool) -> dict[str, Any]:
        s, name = self.sizes, "burst" if burst else "alone"
        self.say(
            f"{name}: "
            + (f"A sends {s.batches} batches of {s.batch} at once; 1 s later " if burst else "")
            + f"B publishes {s.b_events}, one every {s.b_every:g} s"
        )
        cpu0, sent, a_seconds = self.cpu(), {}, []
        a_status, b_status, polls, stop = Counter(), Counter(), [], asyncio.Event()
        t0, began, self.errors = time.time(), time.monotonic(), Counter()
        health = asyncio.create_task(self.poll_health(t0, stop, polls))
        tasks = set()
        if burst:
            tasks.add(asyncio.create_task(self.burst_a(a_status, a_seconds)))
            await asyncio.sleep(1.0)
        tasks.add(asyncio.create_task(self.publish_b(sent, b_status, s.b_events)))
        _, cut = await asyncio.wait(tasks, timeout=s.publish_cap_s - (time.monotonic() - began))
        for task in cut:
            task.cancel()
        await asyncio.gather(*cut, return_exceptions=True)
        published_s = round(time.monotonic() - began, 1)
        while True:
            pending = len(set(sent) - set(first_receipts(await self.fetch(), B_PATH)))
            if finished(pending, time.monotonic() - began, s.min_s if burst else 0, s.cap_s):
                break
            await asyncio.sleep(1.0)
        stop.set()
        await health
        t1 = time.time()
        a_sent = s.batch * (s.batches if burst else 0)
        return {
            "B": b_figures(sent, self.records),
            "B_status": dict(b_status),
            "A_status": dict(a_status),
            "A": a_figures(self.records, t0, t1)
            | {"all": a_sent * s.fast_webhooks, "events_202": a_status["202"] * s.batch},
            "A_batch_s_max": max(a_seconds, default=None),
            "A_hanging": (await self.rx.get("/hanging")).json(),
            "errors": dict(self.errors.most_common(5)),
            "healthz": health_figures(polls),
            "publishing_cut": bool(cut),
            "published_s": published_s,
            "seconds": round(t1 - t0, 1),
            "cpu_s": cpu_delta(cpu0, self.cpu()),
        }

    async def run(self, tokens: dict[str, str]) -> dict[str, Any]:
        for name, token in tokens.items():
            self.tenant(name, token)
        try:
            self.say(f"webhooks: A {self.sizes.fast_webhooks} fast + 1 hanging, B 1")
            await self.webhooks()
            warm: dict[str, float] = {}
            await self.publish_b(warm, Counter(), WARM_UP)
            deadline = time.monotonic() + 60
            while set(warm) - set(first_receipts(await self.fetch(), B_PATH)):
                if time.monotonic() > deadline:
                    self.say(f"B's {WARM_UP} warm-up events not all delivered in 60 s")
                    break
                await asyncio.sleep(0.2)
            return {"alone": await self.phase(False), "burst": await self.phase(True)}
        finally:
            for client in [self.rx, *(c for cs in self.clients.values() for c in cs)]:
                await client.aclose()


async def make_tenants(url: str, names: tuple[str, ...]) -> dict[str, str]:
    """Each tenant with an all-scope token (the store migrated by the Cluster)."""
    from hookline.store import admin
    from hookline.store.engine import create_engine, session_maker

    engine = create_engine(url)
    try:
        out = {}
        for name in names:
            async with session_maker(engine).begin() as session:
                tenant = await admin.get_or_create_tenant(session, f"burst-{name}")
                out[name] = (await admin.issue_token(session, tenant, name="bench")).value
        return out
    finally:
        await engine.dispose()


def log_lines(cluster: Cluster, postgres) -> dict[str, dict[str, Any]]:
    """Per log (the processes', postgres.log): LOG_PATTERNS counts, the frequent exceptions."""
    out = {}
    for path in [*sorted(cluster.tmp.glob("*.log")), postgres.log_file]:
        if path.exists():
            lines = path.read_text(errors="replace").splitlines()
            out[path.stem] = count_patterns(lines) | {"exceptions": exceptions(lines)}
    return out


def main(args, console) -> None:
    from rich.table import Table

    sizes = sizes_for(args)
    say = timed_log(console)
    report: dict[str, Any] = {**report_head(command(args)), "sizes": asdict(sizes)}
    report["load_before"] = os.getloadavg()  # another measurement running shows here
    burst = cluster_on_postgres(BurstCluster, "tenant-burst", DATABASE, report, say)
    with burst as (cluster, postgres):
        try:
            say("2 APIs (with their embedded worker) and 1 worker")
            cluster.grow(2, 1)
            tokens = asyncio.run(make_tenants(cluster.store_url, ("A", "B")))
            report["phases"] = asyncio.run(Run(cluster, postgres, sizes, say).run(tokens))
        finally:
            report["log"] = log_lines(cluster, postgres)
    report["load_after"] = os.getloadavg()
    report["burst_over_alone_p95"] = p95_ratio(report)
    title = "hookline bench --tenant-burst (PostgreSQL; 2 APIs with embedded worker + 1 worker)"
    table = Table(title=title, title_justify="left")
    for i, header in enumerate(HEADERS):
        table.add_column(header, justify="left" if i == 0 else "right")
    for row in table_rows(report):
        table.add_row(*row)
    console.print(table)
    console.print(f"burst B p95 / alone B p95: {report['burst_over_alone_p95']}")
    for name, p in report["phases"].items():
        cpu = " ".join(f"{k} {v:.1f}" for k, v in sorted(p["cpu_s"].items()))
        console.print(f"CPU s ({name}, {p['seconds']:.0f} s): {cpu}")
    a = report["phases"]["burst"]["A"]
    console.print(
        f"A: {a['events']:,} distinct events at its fast webhooks within the burst phase;"
        f" {a['events_202']:,} in batches answered 202"
    )
    for name, p in report["phases"].items():
        for error, n in p["errors"].items():
            console.print(f"{name}: {n} x {error}")
    for name, counts in report["log"].items():
        found = {k: v for k, v in counts.items() if v and k != "exceptions"}
        if found:
            console.print(f"{name}.log: {found} {counts['exceptions']}")
    if args.output:
        Path(args.output).write_text(json.dumps(report, indent=2) + "\n")
        console.print(f"JSON written to {args.output}")
