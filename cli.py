"""The `hookline` command: dev, api, worker, migrate, tenant/token admin, bench."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

from hookline.core.config import Settings, get_settings
from hookline.core.logs import configure as configure_logs
from hookline.core.tracing import check_env as check_tracing_env


def _run_api(args: argparse.Namespace) -> None:
    import uvicorn

    from hookline.api.main import create_app

    settings = get_settings()
    configure_logs(settings.log_level)
    check_tracing_env("hookline-api")
    if args.migrate:
        _migrate(settings)
    _preflight(settings, "api")
    processes = args.processes or settings.api_processes
    # Several processes share the port; each runs the app and its embedded worker.
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
    )


def _run_worker(_: argparse.Namespace) -> None:
    from hookline.worker import run_worker

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run_worker(settings, stop)

    settings = get_settings()
    configure_logs(settings.log_level)
    check_tracing_env("hookline-worker")
    _preflight(settings, "worker")
    run = asyncio.run
    with contextlib.suppress(ImportError):  # uvloop: with uvicorn[standard], as in the API
        import uvloop

        run = uvloop.run
    run(main())


def _preflight(settings: Settings, role: str) -> None:
    """Before serving: Temporal answers with these credentials, and every encryption key the
    store's secrets and open workflows were sealed with is configured. Fails in one line."""
    from temporalio.service import RPCError

    from hookline.core.keys_in_use import missing_keys_problem, store_keys_problem
    from hookline.core.temporal_connection import (
        TemporalConfigError,
        connect_failure,
        unreachable,
    )
    from hookline.worker import connect

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


def _migrate(settings: Settings) -> None:
    from hookline.core.migrate import upgrade

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
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    _migrate(settings)
    print(f"store migrated: {settings.resolved_database_url.split('@')[-1]}")


def _admin(args: argparse.Namespace, action, *action_args):
    """Runs `action(session, ...)` in one transaction on the store `hookline dev` would use."""
    from hookline.core.admin import StoreMissing, run_in_store

    try:
        return asyncio.run(run_in_store(_use_data_dir(args), action, *action_args))
    except StoreMissing as exc:
        raise SystemExit(str(exc)) from None


def _tenant_create(args: argparse.Namespace) -> None:
    from hookline.core.admin import get_or_create_tenant

    tenant = _admin(args, get_or_create_tenant, args.name)
    print(f"{tenant.id}\t{tenant.name}")


def _token_create(args: argparse.Namespace) -> None:
    from hookline.core import admin

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
    from hookline.core import admin

    async def action(session):
        tenant = await admin.find_tenant(session, args.tenant)
        if tenant is None:
            raise SystemExit(f"no tenant {args.tenant!r}")
        return await admin.list_tokens(session, tenant)

    for token in _admin(args, action):
        state = f"revoked {token.revoked_at:%Y-%m-%d}" if token.revoked_at else "active"
        print(f"{token.id}\t{token.prefix}…\t{token.name}\t{','.join(token.scopes)}\t{state}")


def _token_revoke(args: argparse.Namespace) -> None:
    from hookline.core import admin

    token = _admin(args, admin.revoke_token, args.token_id)
    if token is None:
        raise SystemExit(f"no token {args.token_id}")
    print(f"revoked {token.id}")


CLUSTER_CREDENTIALS = ("HOOKLINE_TEMPORAL_TLS", "HOOKLINE_TEMPORAL_API_KEY")


def _dev(args: argparse.Namespace) -> None:
    from hookline.core.crypto import kept_key
    from hookline.devserver import (
        SupervisedChild,
        dev_server_args,
        port_open,
        spawn_dev_server,
        start_dev_server,
        taken_ports,
        wait_healthy,
    )

    # Before anything starts (and long before the banner): one line, a non-zero exit.
    taken = taken_ports(
        {
            "API, --api-port": args.api_port,
            "Temporal, --temporal-port": args.temporal_port,
            "Temporal UI, --ui-port": args.ui_port,
        }
    )
    if taken:
        raise SystemExit(
            f"hookline dev: {' and '.join(taken)} already in use: "
            "stop what listens there or choose another port"
        )
    data_dir = Path(args.data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    token_file = data_dir / "dev-token"
    token = os.environ.get("HOOKLINE_BOOTSTRAP_TOKEN")
    if not token:
        if not token_file.exists():
            from hookline.core.admin import new_token_value

            token_file.write_text(new_token_value())
            token_file.chmod(0o600)
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
    env = os.environ | {
        "HOOKLINE_DATA_DIR": str(data_dir),
        "HOOKLINE_TEMPORAL_ADDRESS": f"127.0.0.1:{args.temporal_port}",
        "HOOKLINE_ALLOW_PRIVATE_URLS": os.environ.get("HOOKLINE_ALLOW_PRIVATE_URLS", "true"),
        "HOOKLINE_BOOTSTRAP_TOKEN": token,
        "HOOKLINE_ENCRYPTION_KEY": key,
        "HOOKLINE_CORS_ORIGINS": f"http://127.0.0.1:{args.ui_port},http://localhost:{args.ui_port}",
        "HOOKLINE_CODEC_TRUST_UI_ORIGIN": "true",  # the local UI has no token to send
        "HOOKLINE_TEMPORAL_UI_URL": f"http://127.0.0.1:{args.ui_port}",  # the console's links
    }
    os.environ.update(env)
    get_settings.cache_clear()
    settings = get_settings()
    _migrate(settings)
    from hookline.api.console.sessions import dev_login_url

    console = dev_login_url(settings, token, f"http://127.0.0.1:{args.api_port}")
    temporal_args = dev_server_args(
        port=args.temporal_port,
        ui_port=args.ui_port,
        db_file=data_dir / "temporal.db",
        namespace=settings.temporal_namespace,
        codec_endpoint=f"http://127.0.0.1:{args.api_port}/codec",
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

    def hookline(*command: str, role: str):
        return lambda: subprocess.Popen(
            [python, "-m", "hookline.cli", *command],
            env=env | {"HOOKLINE_SDK_METRICS_ADDRESS": sdk_metrics[role]},
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
            f"  metrics      http://127.0.0.1:{args.api_port}/metrics (hookline), "
            f"http://{sdk_metrics['worker']}/metrics and http://{sdk_metrics['api']}/metrics "
            "(Temporal SDK: worker, API)\n"
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
