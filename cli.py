"""The `hookline` command: dev, api, worker, migrate, tenant/token admin, bench."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from pydantic import ValidationError

from hookline.infra.config import Settings, get_settings, settings_errors
from hookline.serve import cmd_api, cmd_worker, data_dir, migrate_store


def _use_data_dir(args: argparse.Namespace) -> Settings:
    """`--data-dir` as `hookline dev` takes it (default: HOOKLINE_DATA_DIR, else .hookline)."""
    if getattr(args, "data_dir", None):
        os.environ["HOOKLINE_DATA_DIR"] = str(Path(args.data_dir).resolve())
        get_settings.cache_clear()
    return get_settings()


def _cmd_migrate(args: argparse.Namespace) -> None:
    settings = _use_data_dir(args)
    if not settings.database_url:
        data_dir(settings.data_dir, "migrate")
    migrate_store(settings)
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

    try:
        tenant = _admin(args, get_or_create_tenant, args.name)
    except ValueError as exc:
        raise SystemExit(str(exc)) from None
    print(f"{tenant.id}\t{tenant.name}")


def _token_create(args: argparse.Namespace) -> None:
    from hookline.store import admin

    async def action(session):
        tenant = await admin.find_tenant(session, args.tenant)
        if tenant is None:
            raise SystemExit(f"no tenant {args.tenant!r}")
        scopes = None
        if args.scopes is not None:
            scopes = [scope.strip() for scope in args.scopes.split(",") if scope.strip()]
            if not scopes:  # not "all": a script's unset variable must grant nothing
                raise SystemExit("--scopes names no scope; leave it out for all scopes")
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
    from hookline.store.tables import Token

    async def action(session):
        token = await session.get(Token, args.token_id)
        if token is None or token.revoked_at is not None:
            return token, False
        return await admin.revoke_token(session, token.id), True

    token, revoked_now = _admin(args, action)
    if token is None:
        raise SystemExit(f"no token {args.token_id!r}")
    if revoked_now:
        print(f"revoked {token.id}")
    else:
        print(f"{token.id} was already revoked on {token.revoked_at:%Y-%m-%d %H:%M} UTC")


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
    api.set_defaults(func=cmd_api)

    worker = sub.add_parser("worker", help="a Temporal worker (scale out with more of them)")
    worker.add_argument(
        "--metrics-address",
        help="HOST:PORT to serve the hookline metrics on, at /metrics (HOOKLINE_METRICS_ADDRESS)",
    )
    worker.set_defaults(func=cmd_worker)

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
    bench.add_argument(
        "--fairness",
        action="store_true",
        help="a quiet tenant behind another's burst, task-queue fairness on then off",
    )
    bench.add_argument(
        "--tenant-burst",
        action="store_true",
        help="PostgreSQL, 2 APIs + 1 worker: a tenant's publish latency beside another's burst",
    )
    bench.set_defaults(func=_bench)
    return root


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    try:
        args.func(args)
    except ValidationError as exc:
        if exc.title != Settings.__name__:
            raise
        raise SystemExit(settings_errors(exc)) from None


if __name__ == "__main__":
    main()
