"""`hookline api` and `hookline worker` (cli.py parses their arguments), and what they check
before serving: Temporal and the encryption keys, the store and its data dir; and
prometheus-client's multiprocess directory. Server code is imported inside the functions, once
`metrics_dir` has set the directory prometheus-client reads when it is imported.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import math
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

from hookline.infra.config import Settings, get_settings, split_address
from hookline.infra.logs import configure as configure_logs
from hookline.infra.tracing import check_env as check_tracing_env

MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"  # prometheus-client's multiprocess mode


@contextlib.contextmanager
def metrics_dir(processes: int) -> Iterator[Path | None]:
    """prometheus-client's multiprocess directory, before anything imports it (it reads the
    variable at import): for several processes, a fresh temporary one removed at the end,
    unless ``PROMETHEUS_MULTIPROC_DIR`` names one already (created if missing, then kept as
    its owner left it); for one process, only the latter."""
    given = os.environ.get(MULTIPROC_DIR)
    if given:
        path = Path(given)
        path.mkdir(parents=True, exist_ok=True)
        yield path
    elif processes > 1:
        path = Path(tempfile.mkdtemp(prefix="hookline-metrics-"))
        os.environ[MULTIPROC_DIR] = str(path)
        try:
            yield path
        finally:
            os.environ.pop(MULTIPROC_DIR, None)
            shutil.rmtree(path, ignore_errors=True)
    else:
        yield None


def cmd_api(args: argparse.Namespace) -> None:
    settings = get_settings()
    processes = args.processes or settings.api_processes
    # Several processes share the port; each runs the app and its embedded worker, and each
    # answers /metrics with the counts of all of them (prometheus-client's multiprocess mode).
    with metrics_dir(processes):
        _serve_api(args, settings, processes)


def _serve_api(args: argparse.Namespace, settings: Settings, processes: int) -> None:
    import uvicorn

    from hookline.api.connections import HeadTimeoutH11Protocol
    from hookline.api.main import create_app

    configure_logs(settings.log_level)
    check_tracing_env("hookline-api")
    _default_store(settings, "api", migrate=args.migrate)
    if args.migrate:
        migrate_store(settings)
    _preflight(settings, "api")
    app = create_app(settings) if processes == 1 else "hookline.api.main:app_from_env"
    uvicorn.run(
        app,
        factory=processes > 1,
        workers=processes,
        host=args.host,
        port=args.port,
        log_config=None,  # keep our JSON handler; uvicorn's loggers propagate to it
        log_level=args.log_level,
        access_log=args.access_log,
        timeout_graceful_shutdown=10,
        # Bounded connections (README, "Connections"). h11, not httptools: httptools puts no
        # bound on a request's head (16 MB of headers were read into memory), h11 does; and
        # a head must arrive within its own timeout.
        http=HeadTimeoutH11Protocol,
        h11_max_incomplete_event_size=settings.max_header_bytes,
        timeout_keep_alive=math.ceil(settings.keep_alive_timeout.total_seconds()),
        limit_concurrency=settings.max_connections,
    )


def cmd_worker(args: argparse.Namespace) -> None:
    with metrics_dir(1):
        _serve_worker(args)


def _serve_worker(args: argparse.Namespace) -> None:
    from hookline.infra.metrics import MetricsServerError
    from hookline.worker import run_worker

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run_worker(settings, stop)

    settings = get_settings()
    if args.metrics_address:
        try:
            split_address(args.metrics_address)
        except ValueError as exc:
            raise SystemExit(f"hookline worker: --metrics-address: {exc}") from None
        settings = settings.model_copy(update={"metrics_address": args.metrics_address})
    configure_logs(settings.log_level)
    check_tracing_env("hookline-worker")
    _default_store(settings, "worker", migrate=False)
    _preflight(settings, "worker")
    run = asyncio.run
    with contextlib.suppress(ImportError):  # uvloop: with uvicorn[standard], as in the API
        import uvloop

        run = uvloop.run
    try:
        run(main())
    except MetricsServerError as exc:  # raised before anything else started: one line
        raise SystemExit(f"hookline worker: {exc}") from None


def _preflight(settings: Settings, role: str) -> None:
    """Before serving: Temporal answers with these credentials, and every encryption key the
    store's secrets and open workflows were sealed with is configured. Fails in one line."""
    from temporalio.service import RPCError

    from hookline.infra.keys_in_use import missing_keys_problem, store_keys_problem
    from hookline.infra.temporal import (
        TemporalConfigError,
        connect,
        connect_failure,
        unreachable,
    )

    # Without the SDK metrics address: that port is for the process that runs the worker
    # (with `--processes N`, a child), not for this check.
    checking = settings.model_copy(update={"sdk_metrics_address": None})

    async def check() -> str | None:
        client = None
        try:
            client = await connect(checking)
        except TemporalConfigError as exc:
            return str(exc)
        except Exception as exc:
            # Down or still starting: the API comes up anyway and answers 503 until it is up.
            if role != "api" or not unreachable(exc):
                return connect_failure(settings, exc)
            logging.getLogger("hookline.cli").warning(
                "%s; the API starts anyway, answers 503 and keeps retrying",
                connect_failure(settings, exc),
            )
        problem = await store_keys_problem(settings)
        if problem is None and client is not None:
            try:
                problem = await missing_keys_problem(
                    settings.encryption_keys,
                    client=client,
                    window=settings.event_retention + timedelta(days=1),
                )
            except RPCError as exc:  # e.g. a server without advanced visibility: run on
                logging.getLogger("hookline.cli").warning(
                    "open workflows not checked for missing keys: %s", exc
                )
        return problem

    problem = asyncio.run(check())
    if problem:
        print(f"hookline {role}: {problem}", file=sys.stderr, flush=True)
        # Not SystemExit: after a connection the server cut mid-call, the SDK's runtime threads
        # can abort the interpreter's finalization (exit 134, a C stack dump after our line).
        # Nothing is open yet that needs closing.
        os._exit(1)


def _default_store(settings: Settings, role: str, *, migrate: bool) -> None:
    """The SQLite store under the data dir, before serving: its directory made (0700) or one
    line saying why not; and with neither HOOKLINE_DATA_DIR nor HOOKLINE_DATABASE_URL set, no
    new store in the working directory unless asked (`--migrate`): one line instead."""

    if settings.database_url:
        return
    store = (settings.data_dir / "hookline.db").absolute()
    if not migrate and "HOOKLINE_DATA_DIR" not in os.environ and not store.exists():
        raise SystemExit(
            f"hookline {role}: no store at {store} (HOOKLINE_DATA_DIR is not set: the default "
            "is .hookline in the working directory): set HOOKLINE_DATA_DIR or "
            "HOOKLINE_DATABASE_URL, or create it there with `hookline migrate`"
        )
    data_dir(settings.data_dir, role)


def data_dir(path: Path, role: str) -> Path:
    """The data dir, created 0700; one line and exit 1 when it cannot be."""
    from hookline.store.engine import private_dir

    try:
        return private_dir(path)
    except OSError as exc:
        raise SystemExit(
            f"hookline {role}: cannot create the data dir {path}: {exc.strerror or exc}"
        ) from None


def migrate_store(settings: Settings) -> None:
    from hookline.store.migrate import upgrade

    asyncio.run(upgrade(settings.resolved_database_url))
