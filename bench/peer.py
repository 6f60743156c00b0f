"""`hookline bench --peer celery`: the peer a Python team would pick instead, in the same run.

A Redis (Debian's `redis-server`, on a free 127.0.0.1 port, no persistence) and a Celery
worker (`--pool threads --concurrency 16`, bench/peer_tasks.py) deliver to the same receiver
as hookline: a burst of deliveries (against C, hookline's fan-out) and a steady 10/s (against
D's latency). Both are started and stopped here, by their pids.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.config import HOST, ROOT, Sizes
from bench.procs import cpu_seconds
from bench.scenarios import Bench
from bench.stack import wait_line
from bench.stats import ratio, summarize

THREADS = 16


class PeerUnavailable(RuntimeError):
    """What is missing to run the peer, said in one line."""


def check_available() -> None:
    if shutil.which("redis-server") is None:
        raise PeerUnavailable(
            "peer celery: `redis-server` is not installed (Debian: apt-get install redis-server)"
        )
    if importlib.util.find_spec("celery") is None or importlib.util.find_spec("redis") is None:
        raise PeerUnavailable("peer celery: install the extra first: pip install -e '.[peer]'")


@dataclass
class Peer:
    tmp: Path
    rx_port: int
    redis_port: int
    redis: subprocess.Popen | None = None
    worker: subprocess.Popen | None = None

    @property
    def broker(self) -> str:
        return f"redis://{HOST}:{self.redis_port}/0"

    def start(self) -> None:
        self.redis = subprocess.Popen(
            [
                "redis-server",
                "--bind",
                HOST,
                "--port",
                str(self.redis_port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.tmp),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        wait_line(self.redis, "Ready to accept connections", 30)
        log = open(self.tmp / "celery.log", "ab")  # closed below: the child keeps it
        self.worker = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "bench.peer_tasks",
                "worker",
                "--pool",
                "threads",
                "--concurrency",
                str(THREADS),
                "--queues",
                "peer",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "--loglevel",
                "WARNING",
            ],
            cwd=ROOT,
            env=os.environ | {"HOOKLINE_PEER_BROKER": self.broker, "PYTHONPATH": str(ROOT)},
            stdout=log,
            stderr=log,
        )
        log.close()

    def stop(self) -> None:
        from hookline.devserver import stop_process

        for proc in (self.worker, self.redis):
            if proc is not None:
                stop_process(proc)
                if proc.stdout is not None:
                    proc.stdout.close()

    def pids(self) -> dict[str, int]:
        return {n: p.pid for n, p in (("celery", self.worker), ("redis", self.redis)) if p}


class PeerSender:
    """Enqueues deliveries to the peer as an application would (Celery's apply_async)."""

    def __init__(self, peer: Peer, secret: str) -> None:
        os.environ["HOOKLINE_PEER_BROKER"] = peer.broker
        from bench import peer_tasks

        peer_tasks.app.conf.broker_url = peer.broker
        self.task = peer_tasks.deliver
        self.url = f"http://{HOST}:{peer.rx_port}/peer/0"
        self.secret = secret

    def send(self, i: int) -> tuple[str, float]:
        from hookline.core import ids

        event_id = ids.event_id()
        body = json.dumps(
            {"id": event_id, "type": "user.created", "data": {"id": f"usr_{i}", "n": i}},
            separators=(",", ":"),
        )
        at = time.time()
        self.task.apply_async(
            args=[self.url, self.secret, event_id, f"dlv_{event_id}", "user.created", body],
            queue="peer",
        )
        return event_id, at

    def burst(self, n: int) -> dict[str, float]:
        return dict(self.send(i) for i in range(n))


async def run(bench: Bench, peer: Peer, sizes: Sizes, say) -> dict[str, Any]:
    """The peer's burst and open-loop latency, measured against bench's receiver."""
    from hookline.core import signing

    sender = PeerSender(peer, signing.new_secret())

    def cpu() -> dict[str, float]:
        return {name: cpu_seconds(pid) for name, pid in peer.pids().items()}

    base = await bench.count()
    await asyncio.to_thread(sender.burst, 5)  # warm-up: the worker is up and connected
    _, ready = await bench.wait(base, 5, 60)
    if not ready:
        raise RuntimeError(f"the Celery worker delivered nothing in 60 s (see {peer.tmp})")

    results: dict[str, Any] = {}
    n = sizes.peer_burst
    say(f"peer: Celery + Redis, burst of {n} deliveries ({THREADS} threads)")
    base = await bench.count()
    before = cpu()
    sent = await asyncio.to_thread(sender.burst, n)
    records, done = await bench.wait(base, n, bench.timeout_for(n))
    after = cpu()
    results["burst"] = summarize(
        "Celery+Redis burst",
        sent,
        records,
        {k: after[k] - before[k] for k in after},
        complete=done,
        expected=n,
    )

    rate, seconds = sizes.latency_rate, sizes.latency_seconds
    count = int(rate * seconds)
    say(f"peer: latency, {rate:g} deliveries/s for {seconds:g} s")
    base = await bench.count()
    sent = {}
    start = time.monotonic()
    before = cpu()
    for i in range(count):
        await asyncio.sleep(max(0.0, start + i / rate - time.monotonic()))
        event_id, at = sender.send(i)
        sent[event_id] = at
    records, done = await bench.wait(base, count, bench.timeout_for(count))
    after = cpu()
    results["latency"] = summarize(
        f"Celery+Redis {rate:g}/s open loop",
        sent,
        records,
        {k: after[k] - before[k] for k in after},
        complete=done,
        expected=count,
    )
    return results


def compare(scenarios: dict[str, dict], peer: dict[str, Any]) -> dict[str, float | None]:
    """C ÷ peer (deliveries/s) and D's latencies beside the peer's."""
    c, d = scenarios.get("C", {}), scenarios.get("D", {})
    burst, latency = peer.get("burst", {}), peer.get("latency", {})
    return {
        "C/peer": ratio(c.get("deliveries_per_s"), burst.get("deliveries_per_s")),
        "D p50 ms": d.get("p50_ms"),
        "peer p50 ms": latency.get("p50_ms"),
        "D p99 ms": d.get("p99_ms"),
        "peer p99 ms": latency.get("p99_ms"),
    }
