"""The bench's store before a run: migrated, with a tenant `bench`, its token, and the
webhooks the scenarios deliver to (one on `user.created`, FANOUT on `data.created`); with
`--fanout`, a tenant per size (`bench-fanout-N`) with its token and N webhooks on
`data.created`, a share of them failing (`share`), written in one bulk INSERT per tenant; and
scenario N's two neighbours (`prepare_neighbours`), each its own tenant with one webhook."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from bench.config import FANOUT, HOST


@dataclass(frozen=True)
class Prepared:
    token: str
    tenant_id: str
    hooks: dict[str, list[str]]  # path -> webhook secrets
    webhook_ids: dict[str, list[str]]  # path -> webhook ids


@dataclass(frozen=True)
class FanoutTenant:
    webhooks: int
    token: str
    tenant_id: str
    path: str  # the receiver path prefix of its webhooks (/f1000)


@dataclass(frozen=True)
class Neighbour:
    """A tenant of scenario N (bench/noisy.py) with its token and its one webhook."""

    name: str
    token: str
    tenant_id: str
    url: str


# Scenario N's tenants: the noisy one's receiver hangs (bench/receiver.py answers a /hang/ path
# after the delivery timeout), the quiet one's answers at once. Each is its own tenant, so
# the bench tenant's webhooks never match their events, nor they the bench tenant's.
NOISY, QUIET = "bench-noisy", "bench-quiet"
# `--fairness`'s loud tenant (bench/fairness.py): a burst to a receiver that answers at once.
LOUD = "bench-loud"
NEIGHBOUR_PATHS = {NOISY: "/noisy/hang", QUIET: "/quiet", LOUD: "/loud"}
NEIGHBOUR_TYPE = "user.created"


# An F tenant's failing share: 1 webhook in FLAKY_EVERY answers 503 to attempt 1 and is
# retried after RETRY_AFTER_S; 1 in DEAD_EVERY answers 400 and fails for good at once (what
# the F scenario then redelivers). bench/receiver.py answers by path.
FLAKY_EVERY, DEAD_EVERY = 10, 20
RETRY_AFTER_S = 1


def share(i: int) -> str:
    """The path segment of the F tenant's webhook `i`: flaky, dead, or healthy (empty)."""
    if i % FLAKY_EVERY == 1:
        return "flaky/"
    if i % DEAD_EVERY == 2:
        return "dead/"
    return ""


def webhook_rows(
    tenant_id: str,
    url_prefix: str,
    type_: str,
    n: int,
    now: datetime,
    start: int = 0,
    failing_share: bool = False,
) -> list[dict]:
    """`n` active webhooks of one tenant on `type_`, at `{url_prefix}/{i}` (with
    `failing_share`, `{url_prefix}/{share(i)}{i}`), as rows for a bulk INSERT (ids and secrets
    new)."""
    from hookline.core import ids, signing

    rows = []
    for i in range(start, start + n):
        kind = share(i) if failing_share else ""
        retry_policy = {
            "flaky/": {"initial_interval": RETRY_AFTER_S},
            "dead/": {"max_attempts": 1, "client_error_max_attempts": 1},
        }.get(kind)
        rows.append(
            {
                "id": ids.webhook_id(),
                "tenant_id": tenant_id,
                "url": f"{url_prefix}/{kind}{i}",
                "events": [type_],
                "status": "active",
                "secret": signing.new_secret(),
                "retry_policy": retry_policy,
                "created_at": now,
                "updated_at": now,
            }
        )
    return rows


async def _insert_webhooks(session, rows: list[dict]) -> None:
    from sqlalchemy import insert

    from hookline.store.tables import Webhook

    if rows:
        await session.execute(insert(Webhook), rows)  # one executemany, no unit of work


async def prepare_store(url: str, rx_port: int) -> Prepared:
    from hookline.store import admin
    from hookline.store.engine import create_engine, session_maker
    from hookline.store.migrate import upgrade

    await upgrade(url)
    engine = create_engine(url)
    base = f"http://{HOST}:{rx_port}"
    try:
        async with session_maker(engine).begin() as session:
            tenant = await admin.get_or_create_tenant(session, "bench")
            issued = await admin.issue_token(session, tenant, name="bench")
            now = datetime.now(UTC)
            b = webhook_rows(tenant.id, f"{base}/b", "user.created", 1, now)
            c = webhook_rows(tenant.id, f"{base}/c", "data.created", FANOUT, now, start=1)
            await _insert_webhooks(session, b + c)
        hooks = {"/b": [r["secret"] for r in b], "/c": [r["secret"] for r in c]}
        webhook_ids = {"/b": [r["id"] for r in b], "/c": [r["id"] for r in c]}
        return Prepared(issued.value, tenant.id, hooks, webhook_ids)
    finally:
        await engine.dispose()


async def prepare_fanout(url: str, rx_port: int, sizes: tuple[int, ...]) -> list[FanoutTenant]:
    """A tenant per size with its token and that many webhooks on `data.created` (the store
    already migrated by prepare_store)."""
    from hookline.store import admin
    from hookline.store.engine import create_engine, session_maker

    engine = create_engine(url)
    out = []
    try:
        for n in sizes:
            async with session_maker(engine).begin() as session:
                tenant = await admin.get_or_create_tenant(session, f"bench-fanout-{n}")
                issued = await admin.issue_token(session, tenant, name="bench")
                path = f"/f{n}"
                rows = webhook_rows(
                    tenant.id,
                    f"http://{HOST}:{rx_port}{path}",
                    "data.created",
                    n,
                    datetime.now(UTC),
                    failing_share=True,
                )
                await _insert_webhooks(session, rows)
            out.append(FanoutTenant(n, issued.value, tenant.id, path))
        return out
    finally:
        await engine.dispose()


def neighbour_rows(tenant_id: str, name: str, base: str, now: datetime) -> list[dict]:
    """The one webhook of scenario N's tenant `name`, at its path under `base`."""
    return webhook_rows(tenant_id, f"{base}{NEIGHBOUR_PATHS[name]}", NEIGHBOUR_TYPE, 1, now)


async def prepare_neighbours(url: str, rx_port: int) -> dict[str, Neighbour]:
    """Scenario N's noisy and quiet tenants, and `--fairness`'s loud one, each with its token
    and one webhook (the store already migrated by prepare_store)."""
    from hookline.store import admin
    from hookline.store.engine import create_engine, session_maker

    engine = create_engine(url)
    out = {}
    try:
        for name in (NOISY, QUIET, LOUD):
            async with session_maker(engine).begin() as session:
                tenant = await admin.get_or_create_tenant(session, name)
                issued = await admin.issue_token(session, tenant, name="bench")
                rows = neighbour_rows(
                    tenant.id, name, f"http://{HOST}:{rx_port}", datetime.now(UTC)
                )
                await _insert_webhooks(session, rows)
            out[name] = Neighbour(name, issued.value, tenant.id, rows[0]["url"])
        return out
    finally:
        await engine.dispose()
