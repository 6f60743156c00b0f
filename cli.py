"""The `hookline` command: dev, api, worker, migrate, tenant/token admin, bench."""

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


def _run_api(args: argparse.Namespace) -> None:
    settings = get_settings()
    processes = args.processes or settings.api_processes
    # Several processes share the port; each runs the app and its embedded worker, and each
    # answers /metrics with the counts of all of them (prometheus-client's multiprocess mode).
    with metrics_dir(processes):
        _serve_api(args, settings, processes)


def _serve_api(args: argparse.Namespace, settings: Settings, processes: int) -> None:
    import uvicorn

    from hookline.api.connections import head_timeout_protocol
    from hookline.api.main import create_app

    configure_logs(settings.log_level)
    check_tracing_env("hookline-api")
    _default_store(settings, "api", migrate=args.migrate)
    if args.migrate:
        _migrate(settings)
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
        http=head_timeout_protocol(settings.request_head_timeout.total_seconds()),
        h11_max_incomplete_event_size=settings.max_header_bytes,
        timeout_keep_alive=math.ceil(settings.keep_alive_timeout.total_seconds()),
        limit_concurrency=settings.max_connections,
    )


def _run_worker(args: argparse.Namespace) -> None:
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
    _data_dir(settings.data_dir, role)


def _data_dir(path: Path, role: str) -> Path:
    """The data dir, created 0700; one line and exit 1 when it cannot be."""
    from hookline.store.engine import private_dir

    try:
        return private_dir(path)
    except OSError as exc:
        raise SystemExit(
            f"hookline {role}: cannot create the data dir {path}: {exc.strerror or exc}"
        ) from None


def _migrate(settings: Settings) -> None:
    from hookline.store.migrate import upgrade

    asyncio.run(upgrade(settings.resolved_database_url))


def _use_data_dir(args: argparse.Namespace) -> Settings:
    """`--data-dir` as `hookline dev` takes it (default: HOOKLINE_DATA_DIR, else .hookline)."""
    if getattr(args, "data_dir", None):
        os.environ["HOOKLINE_DATA_DIR"] = str(Path(args.data_dir).resolve())
        get_settings.cache_clear()
    return get_settings()


def _cmd_migrate(args: argparse.Namespace) -> None:
    settings = _use_data_dir(args)
    if not settings.database_url:
        _data_dir(settings.data_dir, "migrate")
    _migrate(settings)
    print(f"store migrated: {settings.resolved_database_url.split('@')[-1]}")


def _admin(args: argparse.Namespace, action, *action_args):
    """Runs `action(session, ...)` in one transaction on the store `hookline dev` would use."""
    from hookline.store.admin import StoreMissing, run_in_store

    try:
        settings = _use_data_dir(args)
        sqlite_file = None if settings.database_url else settings.data_dir / "hookline.db"
        return asyncio.run(
            run_in_store(
                settings.resolved_database_url,
                sqlite_file and sqlite_file.resolve(),
                action,
                *action_args,
            )
        )
    except StoreMissing as exc:
        raise SystemExit(str(exc)) from None


def _tenant_create(args: argparse.Namespace) -> None:
    from hookline.store.admin import get_or_create_tenant

    tenant = _admin(args, get_or_create_tenant, args.name)
    print(f"{tenant.id}\t{tenant.name}")


def _token_create(args: argparse.Namespace) -> None:
    from hookline.store import admin

    async def action(session):
        tenant = await admin.find_tenant(session, args.tenant)
        if tenant is None:
            raise SystemExit(f"no tenant {args.tenant!r}")
        scopes = args.scopes.split(",") if args.scopes else None
        return await admin.issue_token(session, tenant, name=args.name, scopes=scopes)

    try:
        issued = _admin(args, action)
    except ValueError as exc:
        raise SystemExit(str(exc)) from exc
    print(f"token id: {issued.token.id}\nscopes:   {','.join(issued.token.scopes)}")
    print(f"token:    {issued.value}\n(shown once; store it now)")


def _token_list(args: argparse.Namespace) -> None:
    from hookline.store import admin

    async def action(session):
        tenant = await admin.find_tenant(session, args.tenant)
        if tenant is None:
            raise SystemExit(f"no tenant {args.tenant!r}")
        return await admin.list_tokens(session, tenant)

    for token in _admin(args, action):
        state = f"revoked {token.revoked_at:%Y-%m-%d}" if token.revoked_at else "active"
        print(f"{token.id}\t{token.prefix}…\t{token.name}\t{','.join(token.scopes)}\t{state}")


def _token_revoke(args: argparse.Namespace) -> None:
    from hookline.store import admin

    token = _admin(args, admin.revoke_token, args.token_id)
    if token is None:
        raise SystemExit(f"no token {args.token_id}")
    print(f"revoked {token.id}")


def _dev(args: argparse.Namespace) -> None:
    from hookline.devserver import run_dev

    run_dev(args)


def _bench(args: argparse.Namespace) -> None:
    # The benchmark lives in the repository beside the package (bench/), not in the wheel.
    sys.path.insert(0, os.getcwd())
    try:
        from bench.run import main as bench_main
    except ModuleNotFoundError as exc:
        raise SystemExit("run `hookline bench` from the repository root (make bench)") from exc

    bench_main(args)


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="hookline", description=__doc__)
    sub = root.add_subparsers(dest="command", required=True)

    dev = sub.add_parser("dev", help="Temporal dev server + worker + API, all local")
    dev.add_argument("--api-port", type=int, default=8000)
    dev.add_argument("--temporal-port", type=int, default=7233)
    dev.add_argument("--ui-port", type=int, default=8233)
    dev.add_argument(
        "--sdk-metrics-port",
        type=int,
        default=9464,
        help="Temporal SDK metrics: the worker on this port, the API on the next",
    )
    dev.add_argument(
        "--worker-metrics-port",
        type=int,
        default=9466,
        help="the worker's hookline metrics (the API serves its own on /metrics)",
    )
    dev.add_argument("--data-dir", default=os.environ.get("HOOKLINE_DATA_DIR", ".hookline"))
    # The admin commands find the store as `hookline dev` does: --data-dir, HOOKLINE_DATA_DIR,
    # else .hookline (HOOKLINE_DATABASE_URL, when set, wins).
    store = argparse.ArgumentParser(add_help=False)
    store.add_argument("--data-dir", help="the data dir `hookline dev` uses (default: .hookline)")
    dev.set_defaults(func=_dev)

    api = sub.add_parser("api", help="the management API (uvicorn)")
    api.add_argument("--host", default="127.0.0.1")
    api.add_argument("--port", type=int, default=8000)
    api.add_argument("--migrate", action="store_true", help="apply migrations first")
    api.add_argument("--log-level", default="warning")
    api.add_argument("--access-log", action="store_true")
    api.add_argument(
        "--processes", type=int, default=None, help="API processes (HOOKLINE_API_PROCESSES)"
    )
    api.set_defaults(func=_run_api)

    worker = sub.add_parser("worker", help="a Temporal worker (scale out with more of them)")
    worker.add_argument(
        "--metrics-address",
        help="HOST:PORT to serve the hookline metrics on, at /metrics (HOOKLINE_METRICS_ADDRESS)",
    )
    worker.set_defaults(func=_run_worker)

    migrate = sub.add_parser("migrate", help="apply the store's migrations", parents=[store])
    migrate.set_defaults(func=_cmd_migrate)

    tenant = sub.add_parser("tenant", help="tenant admin").add_subparsers(
        dest="action", required=True
    )
    create = tenant.add_parser(
        "create", help="create a tenant (idempotent by name)", parents=[store]
    )
    create.add_argument("name")
    create.set_defaults(func=_tenant_create)

    token = sub.add_parser("token", help="token admin").add_subparsers(dest="action", required=True)
    tcreate = token.add_parser(
        "create", help="issue a token for a tenant (id or name)", parents=[store]
    )
    tcreate.add_argument("tenant")
    tcreate.add_argument("--name", default="")
    tcreate.add_argument("--scopes", help="comma separated; default: all")
    tcreate.set_defaults(func=_token_create)
    tlist = token.add_parser("list", help="list a tenant's tokens", parents=[store])
    tlist.add_argument("tenant")
    tlist.set_defaults(func=_token_list)
    trevoke = token.add_parser(
        "revoke", help="revoke a token (takes effect at once)", parents=[store]
    )
    trevoke.add_argument("token_id")
    trevoke.set_defaults(func=_token_revoke)

    bench = sub.add_parser("bench", help="end-to-end benchmark (see docs/PERFORMANCE.md)")
    bench.add_argument("--quick", action="store_true", help="under a minute")
    bench.add_argument("--output", help="write the table as JSON here too")
    bench.add_argument("--markdown", help="write the tables as Markdown here too")
    bench.add_argument(
        "--api-processes", type=int, default=1, help="run `hookline api --processes N`"
    )
    bench.add_argument(
        "--open", type=int, default=None, help="E: events left open in their window (N)"
    )
    bench.add_argument(
        "--peer", choices=["celery"], help="also run the peer (Celery + Redis; extra `peer`)"
    )
    bench.add_argument(
        "--price-per-million-actions",
        type=float,
        default=None,
        help="Temporal price per million actions for the cost table (default: Cloud's list)",
    )
    bench.add_argument(
        "--fanout",
        nargs="?",
        const="1000,10000",
        default=None,
        metavar="N,M",
        help="also deliver ONE event to N (then M) webhooks after C in each pass, and count "
        "its actions with its chunk workflows (alone: 1000,10000; ~2-4 min more)",
    )
    bench.add_argument(
        "--scale",
        action="store_true",
        help="scale-out on PostgreSQL: API and worker processes added step by step",
    )
    bench.set_defaults(func=_bench)
    return root


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
