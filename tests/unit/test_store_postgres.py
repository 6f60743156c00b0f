"""store/transactions.py on a real PostgreSQL: a transaction that loses a deadlock is run
again and commits, so the step that called it does not fail (and POST again on its retry);
any other error is raised at once."""

from __future__ import annotations

import asyncio
import itertools
import os

import pytest
from sqlalchemy import Connection, text
from sqlalchemy.exc import IntegrityError

from hookline.store.engine import create_engine
from hookline.store.transactions import Store

_databases = itertools.count()


@pytest.fixture
async def store(postgres):
    url = postgres.create_database(f"store_{os.getpid()}_{next(_databases)}")
    engine = create_engine(url)
    async with engine.begin() as connection:
        await connection.execute(text("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)"))
        await connection.execute(text("INSERT INTO notes VALUES (1, ''), (2, '')"))
    store = Store(url, engine)
    yield store, engine
    store.close()
    await engine.dispose()


def append_to_both(connection: Connection, first: int, tag: str, runs: list[str]) -> str:
    """Locks note `first`, then (on its first run) waits until the other transaction holds the
    other note before it asks for that one: a deadlock, whatever the timing."""
    runs.append(tag)
    append = text("UPDATE notes SET body = body || :tag WHERE id = :id")
    connection.execute(append, {"tag": tag, "id": first})
    if runs.count(tag) == 1:
        # Each says it holds its first note with an advisory lock, and waits for the other's.
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": first})
        held = text(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = :key AND granted"
        )
        for _ in range(200):  # bounded: 10 s
            if connection.execute(held, {"key": 3 - first}).scalar_one():
                break
            connection.execute(text("SELECT pg_sleep(0.05)"))
    connection.execute(append, {"tag": tag, "id": 3 - first})
    return tag


async def bodies(engine) -> list[str]:
    async with engine.connect() as connection:
        rows = await connection.execute(text("SELECT body FROM notes ORDER BY id"))
        return [row[0] for row in rows]


async def test_the_deadlocks_victim_runs_again_and_both_transactions_commit(store):
    store, engine = store
    runs: list[str] = []
    done = await asyncio.wait_for(
        asyncio.gather(
            store.transaction(append_to_both, 1, "a", runs),
            store.transaction(append_to_both, 2, "b", runs),
        ),
        30,
    )
    assert done == ["a", "b"]
    assert len(runs) == 3  # PostgreSQL aborted one of them once: it ran again
    # Each transaction's two updates are there once: the victim's first run left nothing.
    assert [sorted(body) for body in await bodies(engine)] == [["a", "b"], ["a", "b"]]


async def test_any_other_error_is_raised_at_once(store):
    store, engine = store
    runs: list[int] = []

    def insert_taken_id(connection: Connection) -> None:
        runs.append(1)
        connection.execute(text("INSERT INTO notes VALUES (1, 'again')"))

    with pytest.raises(IntegrityError):
        await store.transaction(insert_taken_id)
    assert runs == [1]
    assert await bodies(engine) == ["", ""]
