"""store/transactions.py on a real SQLite file: transactions inline on the loop, and off it
(waiting) while another connection holds the write lock."""

from __future__ import annotations

import asyncio
import sqlite3
import threading

import pytest
from sqlalchemy import Connection, text

from hookline.store.engine import create_engine
from hookline.store.transactions import Store


@pytest.fixture
async def store(tmp_path):
    path = tmp_path / "store.db"
    url = f"sqlite+aiosqlite:///{path}"
    engine = create_engine(url)
    async with engine.begin() as connection:
        await connection.execute(text("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)"))
    store = Store(url, engine)
    yield store, path
    store.close()
    await engine.dispose()


def add_note(connection: Connection, body: str) -> int:
    connection.execute(text("INSERT INTO notes (body) VALUES (:body)"), {"body": body})
    return connection.execute(text("SELECT count(*) FROM notes")).scalar_one()


def bodies(path) -> list[str]:
    with sqlite3.connect(path) as reader:
        return [row[0] for row in reader.execute("SELECT body FROM notes ORDER BY id")]


async def test_commits_what_returns_and_rolls_back_what_raises(store):
    store, path = store
    assert await store.transaction(add_note, "kept") == 1

    def half_then_fail(connection: Connection) -> None:
        add_note(connection, "lost")
        raise ValueError("boom")

    with pytest.raises(ValueError):
        await store.transaction(half_then_fail)
    assert bodies(path) == ["kept"]


async def test_waits_off_the_loop_while_another_connection_writes(store):
    store, path = store
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process, mid-transaction
    holder.execute("INSERT INTO notes (body) VALUES ('first')")
    try:
        pending = asyncio.create_task(store.transaction(add_note, "second"))
        beats = 0
        for _ in range(10):  # the loop keeps turning while the store waits for the lock
            await asyncio.sleep(0.02)
            beats += 1
        assert beats == 10 and not pending.done()
        holder.execute("COMMIT")
        assert await asyncio.wait_for(pending, 10) == 2
    finally:
        holder.close()
    assert bodies(path) == ["first", "second"]


async def test_while_the_thread_waits_for_the_lock_the_others_wait_for_it_then_run_inline(
    store,
):
    """Only the transaction that found another process's lock goes to the store thread; those
    that come meanwhile wait for it, then run on the loop, instead of queueing behind it."""
    store, path = store
    ran_on: dict[str, str] = {}

    def add_noting_thread(connection: Connection, body: str) -> int:
        ran_on[body] = threading.current_thread().name
        return add_note(connection, body)

    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("INSERT INTO notes (body) VALUES ('other process')")
    try:
        first = asyncio.create_task(store.transaction(add_noting_thread, "first"))
        await asyncio.sleep(0.05)  # it found the lock held and went to the thread
        later = [
            asyncio.create_task(store.transaction(add_noting_thread, f"later {i}"))
            for i in range(4)
        ]
        await asyncio.sleep(0.05)
        assert not first.done() and not any(task.done() for task in later)
        holder.execute("COMMIT")
        await asyncio.wait_for(asyncio.gather(first, *later), 10)
    finally:
        holder.close()
    assert ran_on.pop("first").startswith("hookline-store")
    assert ran_on == {f"later {i}": threading.main_thread().name for i in range(4)}
    assert bodies(path)[:2] == ["other process", "first"]
    assert sorted(bodies(path)[2:]) == [f"later {i}" for i in range(4)]


async def test_many_transactions_in_a_row(store):
    """Past the checkpoint period: every write is there, in order."""
    store, path = store
    for i in range(450):
        await store.transaction(add_note, f"n{i}")
    assert bodies(path) == [f"n{i}" for i in range(450)]
