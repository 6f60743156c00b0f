"""One tenant's busy webhook does not take the connections every other tenant needs: on
PostgreSQL, transactions that lock a webhook's row wait for it at the row's gate in the
process, not in the database holding a pooled connection."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from hookline.store.admission import Candidate, admit
from hookline.store.row_gates import RowGates
from hookline.store.tables import DeliveryLease, Webhook
from hookline.store.transactions import Store
from tests.support.store import add_webhook


async def test_a_gate_is_forgotten_once_nobody_holds_or_waits_for_it() -> None:
    gates = RowGates()
    entered = asyncio.Event()

    async def hold() -> None:
        async with gates.holding(["wh_b", "wh_a"]):
            entered.set()
            await asyncio.sleep(60)

    holder = asyncio.create_task(hold())
    await entered.wait()
    waiter = asyncio.create_task(_enter(gates, ["wh_a"]))
    await asyncio.sleep(0)
    assert not waiter.done() and len(gates) == 2
    holder.cancel()  # a cancelled holder gives its gates back
    await asyncio.wait_for(waiter, 5)
    assert len(gates) == 0


async def test_overlapping_sets_taken_in_any_order_never_wait_in_a_cycle() -> None:
    gates = RowGates()
    ids = [f"wh_{n:02}" for n in range(20)]
    sets = [ids[n:] + ids[:n] for n in range(20)]  # the same ids, in 20 orders
    await asyncio.wait_for(asyncio.gather(*(_enter(gates, s, 0.001) for s in sets * 5)), 30)
    assert len(gates) == 0


async def _enter(gates: RowGates, ids: list[str], pause: float = 0) -> None:
    async with gates.holding(ids):
        await asyncio.sleep(pause)


@pytest.fixture
def store_kind() -> str:
    return "postgres"  # SQLite takes no row locks: its writers are serial


@pytest.mark.parametrize("named", [True, False], ids=["rows-named", "rows-found-taken"])
async def test_admissions_behind_a_locked_row_hold_one_connection_and_others_go_on(
    sessions, tenant, settings, named: bool
) -> None:
    """30 admissions to a webhook whose row another process holds, on a store of 4
    connections: they wait at the gate (holding one connection), and another tenant's
    webhook is admitted meanwhile. `named`: the transactions name the rows they lock; not
    named, each finds the row taken (NOWAIT), and waits at the gate all the same."""
    busy = await add_webhook(sessions, tenant.tenant_id, "https://example.com/hangs")
    other = await add_webhook(sessions, tenant.tenant_id, "https://example.com/fine")
    engine = create_async_engine(
        settings.resolved_database_url, pool_size=2, max_overflow=2, pool_timeout=5
    )
    async with _store_and_a_row_held_elsewhere(engine, busy.id) as (store, elsewhere):
        waiting = [
            asyncio.create_task(_admit(store, busy.id, f"dlv_{n}", named)) for n in range(30)
        ]
        await asyncio.sleep(1)
        assert not any(task.done() for task in waiting)
        assert engine.pool.checkedout() <= 1
        # Without the gates, the 30 held all 4 connections: this one timed out on the pool.
        await asyncio.wait_for(_admit(store, other.id, "dlv_other", named), 30)
        await elsewhere.rollback()
        await asyncio.wait_for(asyncio.gather(*waiting), 60)
    async with sessions() as session:
        leases = (await session.scalars(select(DeliveryLease.webhook_id))).all()
    assert sorted(leases).count(busy.id) == 30 and leases.count(other.id) == 1
    assert len(store.gates) == 0


async def test_a_transaction_cancelled_while_it_waits_for_a_row_ends_cancelled(
    sessions, tenant, settings
) -> None:
    """An activity cancelled (its timeout, its workflow's) while its transaction waits for a
    row ends as cancelled, its gate given back, not as a store error."""
    busy = await add_webhook(sessions, tenant.tenant_id, "https://example.com/hangs")
    engine = create_async_engine(settings.resolved_database_url)
    async with _store_and_a_row_held_elsewhere(engine, busy.id) as (store, elsewhere):
        waiting = asyncio.create_task(_admit(store, busy.id, "dlv_cancelled", True))
        await asyncio.sleep(1)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert len(store.gates) == 0
        await elsewhere.rollback()
        await asyncio.wait_for(_admit(store, busy.id, "dlv_next", True), 30)


@contextlib.asynccontextmanager
async def _store_and_a_row_held_elsewhere(
    engine: AsyncEngine, webhook_id: str
) -> AsyncIterator[tuple[Store, AsyncConnection]]:
    """A store on `engine`, and the webhook's row locked by another process's transaction
    (roll it back to let go)."""
    store = Store(engine.url.render_as_string(hide_password=False), engine)
    holder = create_async_engine(engine.url)
    try:
        async with holder.connect() as elsewhere:
            await elsewhere.begin()
            await elsewhere.execute(
                select(Webhook.id).where(Webhook.id == webhook_id).with_for_update()
            )
            yield store, elsewhere
    finally:
        store.close()
        await engine.dispose()
        await holder.dispose()


async def _admit(store: Store, webhook_id: str, delivery_id: str, named: bool) -> None:
    candidate = Candidate(delivery_id, webhook_id, cap=100, timeout=15)
    refused = await store.transaction(
        admit, [candidate], datetime.now(UTC), rows=[webhook_id] if named else ()
    )
    assert refused == {}
