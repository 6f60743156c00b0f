"""The `hookline` command: dev, api, worker, migrate, tenant/token admin, bench."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from hookline.core.config import Settings, get_settings
from hookline.core.logs import configure as configure_logs


def _run_api(args: argparse.Namespace) -> None:
    import uvicorn

    from hookline.api.main import create_app

    settings = get_settings()
    configure_logs(settings.log_level)
    if args.migrate:
        _migrate(settings)
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
    run = asyncio.run
    with contextlib.suppress(ImportError):  # uvloop: with uvicorn[standard], as in the API
        import uvloop

        run = uvloop.run
    run(main())


def _migrate(settings: Settings) -> None:
    from hookline.core.migrate import upgrade

    asyncio.run(upgrade(settings.resolved_database_url))


def _cmd_migrate(_: argparse.Namespace) -> None:
    settings = get_settings()
    _migrate(settings)
    print(f"store migrated: {settings.resolved_database_url.split('@')[-1]}")


async def _admin(action, *args):
    from hookline.core.db import create_engine, session_maker

    engine = create_engine(get_settings().resolved_database_url)
    try:
        async with session_maker(engine).begin() as session:
            return await action(session, *args)
    finally:
        await engine.dispose()


def _tenant_create(args: argparse.Namespace) -> None:
    from hookline.core.admin import get_or_create_tenant

    tenant = asyncio.run(_admin(get_or_create_tenant, args.name))
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
        issued = asyncio.run(_admin(action))
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

    for token in asyncio.run(_admin(action)):
        state = f"revoked {token.revoked_at:%Y-%m-%d}" if token.revoked_at else "active"
        print(f"{token.id}\t{token.prefix}…\t{token.name}\t{','.join(token.scopes)}\t{state}")


def _token_revoke(args: argparse.Namespace) -> None:
    from hookline.core import admin

    token = asyncio.run(_admin(admin.revoke_token, args.token_id))
    if token is None:
        raise SystemExit(f"no token {args.token_id}")
    print(f"revoked {token.id}")


def _dev(args: argparse.Namespace) -> None:
    from hookline.devserver import (
        dev_server_args,
        port_open,
        start_dev_server,
        stop_process,
        wait_healthy,
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
    env = os.environ | {
        "HOOKLINE_DATA_DIR": str(data_dir),
        "HOOKLINE_TEMPORAL_ADDRESS": f"127.0.0.1:{args.temporal_port}",
        "HOOKLINE_ALLOW_PRIVATE_URLS": os.environ.get("HOOKLINE_ALLOW_PRIVATE_URLS", "true"),
        "HOOKLINE_BOOTSTRAP_TOKEN": token,
        "HOOKLINE_CORS_ORIGINS": f"http://127.0.0.1:{args.ui_port},http://localhost:{args.ui_port}",
        "HOOKLINE_CODEC_TRUST_UI_ORIGIN": "true",  # the local UI has no token to send
    }
    os.environ.update(env)
    get_settings.cache_clear()
    settings = get_settings()
    _migrate(settings)
    from hookline.api.console.sessions import dev_login_url

    console = dev_login_url(settings, token, f"http://127.0.0.1:{args.api_port}")
    codec = f"http://127.0.0.1:{args.api_port}/codec" if settings.encryption_keys else None
    temporal = start_dev_server(
        dev_server_args(
            port=args.temporal_port,
            ui_port=args.ui_port,
            db_file=data_dir / "temporal.db",
            namespace=settings.temporal_namespace,
            codec_endpoint=codec,
        ),
        port=args.temporal_port,
        log=data_dir / "temporal.log",
    )
    children: list[subprocess.Popen] = [temporal]
    python = sys.executable
    try:
        # Each process with a worker exports the Temporal SDK's metrics on its own port.
        port = args.sdk_metrics_port
        sdk_metrics = {"worker": f"127.0.0.1:{port}", "api": f"127.0.0.1:{port + 1}"}
        worker = subprocess.Popen(
            [python, "-m", "hookline.cli", "worker"],
            env=env | {"HOOKLINE_SDK_METRICS_ADDRESS": sdk_metrics["worker"]},
        )
        children.append(worker)
        api = subprocess.Popen(
            [python, "-m", "hookline.cli", "api", "--port", str(args.api_port)],
            env=env | {"HOOKLINE_SDK_METRICS_ADDRESS": sdk_metrics["api"]},
        )
        children.append(api)
        try:
            wait_healthy(
                f"http://127.0.0.1:{args.api_port}",
                {"temporal": temporal, "worker": worker, "api": api},
            )
        except RuntimeError as exc:
            raise SystemExit(str(exc)) from exc
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
            if any(child.poll() is not None for child in children):
                print("a hookline process exited; stopping the rest", file=sys.stderr)
                break
            time.sleep(0.3)
    finally:
        for child in reversed(children):  # API first, Temporal last
            stop_process(child)
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

    migrate = sub.add_parser("migrate", help="apply the store's migrations")
    migrate.set_defaults(func=_cmd_migrate)

    tenant = sub.add_parser("tenant", help="tenant admin").add_subparsers(
        dest="action", required=True
    )
    create = tenant.add_parser("create", help="create a tenant (idempotent by name)")
    create.add_argument("name")
    create.set_defaults(func=_tenant_create)

    token = sub.add_parser("token", help="token admin").add_subparsers(dest="action", required=True)
    tcreate = token.add_parser("create", help="issue a token for a tenant (id or name)")
    tcreate.add_argument("tenant")
    tcreate.add_argument("--name", default="")
    tcreate.add_argument("--scopes", help="comma separated; default: all")
    tcreate.set_defaults(func=_token_create)
    tlist = token.add_parser("list", help="list a tenant's tokens")
    tlist.add_argument("tenant")
    tlist.set_defaults(func=_token_list)
    trevoke = token.add_parser("revoke", help="revoke a token (takes effect at once)")
    trevoke.add_argument("token_id")
    trevoke.set_defaults(func=_token_revoke)

    bench = sub.add_parser("bench", help="end-to-end benchmark (see docs/PERFORMANCE.md)")
    bench.add_argument("--quick", action="store_true", help="under a minute")
    bench.add_argument("--output", help="write the table as JSON here too")
    bench.add_argument("--markdown", help="write the tables as Markdown here too")
    bench.add_argument(
        "--api-processes", type=int, default=1, help="run `hookline api --processes N`"
    )
    bench.set_defaults(func=_bench)
    return root


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
