"""Store: runs the hot store transactions (accept an event, record attempts, settle, look a
token up), each written as plain synchronous SQLAlchemy Core over a Connection.

PostgreSQL: on the async engine, through `run_sync`. A transaction that PostgreSQL aborts
as a deadlock's victim or as a serialization failure is run again (a few times, after a short
random wait): its work touched only the store, so running it again is safe, and the step
that called it does not fail after its POST (the step's retry would POST again).

SQLite, with the synchronous driver (much less CPU than aiosqlite, which hops to its thread
for every cursor call; docs/PERFORMANCE.md has the figures):
- inline, on the event loop: a local transaction takes well under a millisecond, so it runs
  there, with no thread hop and no wait for the GIL. It begins IMMEDIATE with no busy wait:
  if another process holds the write lock, it is rolled back at once and goes to
- the store thread, which waits for the lock (busy timeout 30 s) off the loop. That thread
  also runs the WAL checkpoints, so the loop never copies pages or syncs the disk.
  It takes one transaction at a time: one that finds the lock held while the thread has
  work waits for that work to end, then tries inline again. Queued behind it instead, they
  would form a convoy: each holds the lock while it waits for the GIL between statements,
  so every transaction the loop tried meanwhile would find the lock held and join the queue.
Within one process the loop runs one transaction at a time, so they never contend with each
other; IMMEDIATE also spares read-then-write transactions the snapshot conflict of a deferred
BEGIN (SQLITE_BUSY_SNAPSHOT, which no busy timeout waits out).

A transaction that locks webhook rows names them (`rows`): on PostgreSQL it takes their gates
in the process before a connection (store/row_gates.py), so what waits behind a busy webhook
holds no connection another tenant's work needs.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, event
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from hookline.store.engine import is_sqlite, sqlite_pragmas
from hookline.store.row_gates import GATED, RowGates, RowsBusy

log = logging.getLogger("hookline.store")
T = TypeVar("T")
CHECKPOINT_EVERY = 200  # inline commits between two passive WAL checkpoints
# PostgreSQL's SQLSTATEs after which the same transaction can simply be run again.
RUN_AGAIN_ON = frozenset({"40P01", "40001"})  # deadlock_detected, serialization_failure
RUNS = 5  # the first and up to four more


def _sqlite_engine(url: str, *, busy_ms: int, autocheckpoint: bool) -> Engine:
    engine = create_sync_engine(
        make_url(url).set(drivername="sqlite"),
        connect_args={"timeout": busy_ms / 1000, "check_same_thread": False},
    )

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection, record) -> None:  # pragma: no cover - driver hook
        sqlite_pragmas(dbapi_connection, record)
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
        if not autocheckpoint:
            cursor.execute("PRAGMA wal_autocheckpoint=0")
        cursor.close()
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:  # pragma: no cover - driver hook
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def _is_busy(error: OperationalError) -> bool:
    return "locked" in str(error.orig).lower() or "busy" in str(error.orig).lower()


def _runs_again(error: DBAPIError) -> bool:
    return getattr(error.orig, "sqlstate", None) in RUN_AGAIN_ON


class Store:
    def __init__(
        self, url: str, engine: AsyncEngine, on_work: Callable[[], None] | None = None
    ) -> None:
        """`on_work` is told of every transaction (the process's GC policy listens: no full
        collection while the store is busy)."""
        self._engine = engine
        self._on_work = on_work or (lambda: None)
        self._inline: Engine | None = None
        self._connection: Connection | None = None  # the inline engine's, on the loop
        self._waiting: Engine | None = None
        self._thread: ThreadPoolExecutor | None = None
        self._commits = 0
        self._on_thread: asyncio.Future[Any] | None = None  # the last transaction sent there
        self.gates = RowGates()
        database = make_url(url).database
        if is_sqlite(url) and database and database != ":memory:":
            self._inline = _sqlite_engine(url, busy_ms=0, autocheckpoint=False)
            self._waiting = _sqlite_engine(url, busy_ms=30_000, autocheckpoint=True)
            self._thread = ThreadPoolExecutor(1, thread_name_prefix="hookline-store")

    async def transaction(
        self, work: Callable[..., T], /, *args: Any, rows: Iterable[str] = ()
    ) -> T:
        """`work(connection, *args)` in one transaction, committed if it returns. `work` only
        touches the store: it may be rolled back and run again (on SQLite when it finds the write
        lock held; on PostgreSQL after a deadlock or a serialization failure, or when it finds
        taken a row it holds no gate for). `rows`: the webhook rows it will lock, as far as the
        caller knows."""
        self._on_work()
        if self._inline is None or self._waiting is None or self._thread is None:
            return await self._run_async(work, args, frozenset(rows))
        loop = asyncio.get_running_loop()
        while True:
            try:
                result = self._run_inline(work, args)
                break
            except OperationalError as error:
                if not _is_busy(error):
                    raise
            queued = self._on_thread
            if queued is None or queued.done():  # another process holds the write lock
                self._on_thread = loop.run_in_executor(
                    self._thread, self._run, self._waiting, work, args
                )
                return await self._on_thread
            await asyncio.wait([queued])  # the thread holds the lock or waits for it
        self._commits += 1
        if self._commits % CHECKPOINT_EVERY == 0:
            loop.run_in_executor(self._thread, self._checkpoint)
        return result

    async def _run_async(
        self, work: Callable[..., T], args: tuple[Any, ...], gated: frozenset[str]
    ) -> T:
        runs = 1
        while True:
            try:
                async with self.gates.holding(gated), self._engine.begin() as connection:
                    # The pooled connection's dict, kept: asking the connection for it again
                    # after a cancelled statement raises (its transaction awaits a rollback).
                    info = connection.info
                    info[GATED] = gated
                    try:
                        return await connection.run_sync(work, *args)
                    finally:
                        info.pop(GATED, None)
            except RowsBusy as busy:  # rolled back: wait at the gates of those rows, then run
                gated |= busy.ids  # grows each time: a run holding every gate never raises it
                continue
            except DBAPIError as error:
                if runs == RUNS or not _runs_again(error):
                    raise
                log.info("a store transaction was aborted (%s); running it again", error.orig)
            # Random, so that two victims of the same conflict do not meet again.
            await asyncio.sleep(random.uniform(0, 0.02 * 2**runs))
            runs += 1

    def _run_inline(self, work: Callable[..., T], args: tuple[Any, ...]) -> T:
        """On one connection kept open (no pool checkout, no reset on return each time);
        after any error it is closed, and the next transaction opens a fresh one."""
        assert self._inline is not None
        if self._connection is None:
            self._connection = self._inline.connect()
        try:
            with self._connection.begin():
                return work(self._connection, *args)
        except BaseException:
            self._connection.close()
            self._connection = None
            raise

    @staticmethod
    def _run(engine: Engine, work: Callable[..., T], args: tuple[Any, ...]) -> T:
        with engine.begin() as connection:
            return work(connection, *args)

    def _checkpoint(self) -> None:
        """Copies committed pages back into the database file, without waiting for readers
        (outside any transaction: a checkpoint cannot run inside one)."""
        assert self._waiting is not None
        try:
            raw = self._waiting.raw_connection()
            try:
                raw.cursor().execute("PRAGMA wal_checkpoint(PASSIVE)").close()
            finally:
                raw.close()
        except Exception:  # the next one will do; never fail a caller for it
            log.warning("WAL checkpoint failed", exc_info=True)

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
        if self._thread is not None:
            self._thread.shutdown(wait=True)
        for engine in (self._inline, self._waiting):
            if engine is not None:
                engine.dispose()
