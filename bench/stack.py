"""The stack a run measures, in a temp dir: a file-backed Temporal dev server configured as
`hookline dev` configures it (headless), the fast receiver (bench/receiver.py), the prepared
store (bench/seed.py: the bench tenant, scenario N's two tenants, the F tenants), then
`hookline worker` and `hookline api` as real subprocesses, so their CPU seconds and peak RSS
are measured per process (bench/procs.py)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.config import HOST, PROCESSES, ROOT
from bench.procs import cpu_seconds, rss_mb, sqlite_mb
from bench.seed import (
    FanoutTenant,
    Neighbour,
    Prepared,
    prepare_fanout,
    prepare_neighbours,
    prepare_store,
)


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
    fanout_sizes: tuple[int, ...] = ()  # --fanout: a tenant with that many webhooks each
    fanout: list[FanoutTenant] = field(default_factory=list)
    seed_seconds: dict[int, float] = field(default_factory=dict)  # webhooks -> seconds
    neighbours: dict[str, Neighbour] = field(default_factory=dict)  # scenario N's tenants
    fairness: bool = True  # the dev server's task-queue fairness (`--fairness` turns it off)
    embedded_worker: bool = True  # off: every event's first task waits in the task queue
    workflow_task_slots: int | None = None  # the worker's, when not the default

    @property
    def store_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.tmp / 'hookline.db'}"

    def pids(self) -> dict[str, int]:
        return {name: proc.pid for name, proc in self.procs.items()}

    def cpu(self) -> dict[str, float]:
        out = {name: cpu_seconds(pid) for name, pid in self.pids().items() if name in PROCESSES}
        out["bench"] = cpu_seconds(os.getpid(), tree=False)  # its children are the stack
        return out


def stack_env(stack: Stack, bootstrap: str) -> dict[str, str]:
    """The environment of the worker and the API: this stack's, none of the caller's HOOKLINE_*."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOOKLINE_")}
    return (
        env
        | {
            "HOOKLINE_DATA_DIR": str(stack.tmp),
            "HOOKLINE_DATABASE_URL": stack.store_url,
            "HOOKLINE_TEMPORAL_ADDRESS": f"{HOST}:{stack.temporal_port}",
            "HOOKLINE_TASK_QUEUE": stack.task_queue,
            "HOOKLINE_ALLOW_PRIVATE_URLS": "true",
            "HOOKLINE_BOOTSTRAP_TOKEN": bootstrap,
            "HOOKLINE_RATE_LIMIT": "1000000/minute",
            "HOOKLINE_API_PROCESSES": str(stack.api_processes),
            "PYTHONPATH": str(ROOT),
            "HOOKLINE_EMBEDDED_WORKER": "true" if stack.embedded_worker else "false",
        }
        | (
            {"HOOKLINE_MAX_CONCURRENT_WORKFLOW_TASKS": str(stack.workflow_task_slots)}
            if stack.workflow_task_slots
            else {}
        )
    )


def server_args(stack: Stack) -> list[str]:
    """The dev server's command line: `hookline dev`'s (headless), fairness on unless the
    stack turns it off."""
    from hookline.devserver import dev_server_args

    args = dev_server_args(
        port=stack.temporal_port, ui_port=None, db_file=stack.tmp / "temporal.db"
    )
    if stack.fairness:
        return args
    return [FAIRNESS_OFF if arg == FAIRNESS_ON else arg for arg in args]


FAIRNESS_ON, FAIRNESS_OFF = "matching.enableFairness=true", "matching.enableFairness=false"


def wait_line(proc: subprocess.Popen, expect: str, timeout: float) -> None:
    """Reads `proc`'s stdout until a line holds `expect`; raises if it exits or times out."""
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if expect in line:
            return
        if not line and proc.poll() is not None:
            break
    raise RuntimeError(f"process {proc.args} did not print {expect!r}")


def wait_healthy(port: int, procs: dict[str, subprocess.Popen], timeout: float = 90) -> None:
    from hookline.devserver import wait_healthy as wait_http

    wait_http(f"http://{HOST}:{port}", procs, timeout=timeout)


def adopt(stack: Stack, prepared: Prepared) -> None:
    stack.token, stack.tenant_id = prepared.token, prepared.tenant_id
    stack.hooks, stack.webhook_ids = prepared.hooks, prepared.webhook_ids


def start_stack(stack: Stack, say) -> None:
    from hookline.devserver import start_dev_server
    from hookline.store.admin import new_token_value

    python = sys.executable
    say("starting the Temporal dev server (file-backed, headless)")
    stack.procs["server"] = start_dev_server(
        server_args(stack),
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
    wait_line(rx, "listening", 30)
    say("migrating the store; tenant, token, webhooks")
    adopt(stack, asyncio.run(prepare_store(stack.store_url, stack.rx_port)))
    stack.neighbours = asyncio.run(prepare_neighbours(stack.store_url, stack.rx_port))
    for n in stack.fanout_sizes:
        say(f"seeding a tenant with {n:,} webhooks (one bulk INSERT)")
        began = time.monotonic()
        stack.fanout += asyncio.run(prepare_fanout(stack.store_url, stack.rx_port, (n,)))
        stack.seed_seconds[n] = round(time.monotonic() - began, 2)
    env = stack_env(stack, new_token_value())
    say("starting the worker and the API")
    for name, cmd in (
        ("worker", [python, "-m", "hookline.cli", "worker"]),
        ("api", [python, "-m", "hookline.cli", "api", "--port", str(stack.api_port)]),
    ):
        log = open(stack.tmp / f"{name}.log", "ab")  # closed below: the child keeps it
        stack.procs[name] = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=log, stderr=log)
        log.close()
    wait_healthy(stack.api_port, stack.procs)


def stop_stack(stack: Stack) -> None:
    from hookline.devserver import stop_process

    for name in ("api", "worker", "receiver", "server"):  # Temporal last
        proc = stack.procs.get(name)
        if proc is not None:
            stop_process(proc)
            if proc.stdout is not None:
                proc.stdout.close()


def server_footprint(stack: Stack) -> dict[str, float | None]:
    """The dev server's SQLite files on disk and its resident memory now."""
    return {
        "sqlite_mb": sqlite_mb(stack.tmp / "temporal.db"),
        "rss_mb": rss_mb(stack.procs["server"].pid),
    }
