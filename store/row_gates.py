"""At most one transaction per process waits for a webhook's row lock (PostgreSQL).

Admission and the recording of attempts lock their webhooks' rows (store/admission.py). A
transaction waiting for a row holds one of the process's pooled connections while it waits,
so one tenant's burst to its webhooks (every event taking the same rows) would hold them all,
and every other tenant's requests and deliveries would wait for a connection behind it. A
transaction that will lock rows first takes their gates, here, in the process, in id order,
before it takes a connection: what waits behind a busy webhook waits on the gate, holding no
connection. The rows stay the lock between processes; a gate only says who of this process
asks for them next.

A transaction that learns which rows it locks only as it runs (the accept: its matches) locks
the rows it holds no gate for without waiting (NOWAIT). Finding one taken, it raises
`RowsBusy`; the store rolls it back, takes those rows' gates and runs it again, now waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Iterable

from sqlalchemy import Connection, Select
from sqlalchemy.exc import DBAPIError

# Where a transaction's connection carries the ids whose gates it holds (`Connection.info`).
GATED = "hookline.gated_rows"
LOCK_NOT_AVAILABLE = "55P03"  # PostgreSQL's SQLSTATE for a NOWAIT lock that is taken


class RowsBusy(Exception):
    """Rows another transaction holds, which this one locked without waiting."""

    def __init__(self, ids: Iterable[str]) -> None:
        super().__init__("rows locked by another transaction")
        self.ids = frozenset(ids)


class RowGates:
    """One asyncio lock per row id, kept while a transaction holds or waits for it."""

    def __init__(self) -> None:
        self._gates: dict[str, tuple[asyncio.Lock, int]] = {}  # id: (lock, users)

    def __len__(self) -> int:
        return len(self._gates)

    @contextlib.asynccontextmanager
    async def holding(self, ids: Iterable[str]) -> AsyncIterator[None]:
        """The gates of `ids`, taken in id order (two holders of overlapping sets never wait
        for each other in a cycle), given back on exit, even when cancelled."""
        ordered = sorted(set(ids))
        for row_id in ordered:
            lock, users = self._gates.get(row_id) or (asyncio.Lock(), 0)
            self._gates[row_id] = (lock, users + 1)
        taken: list[asyncio.Lock] = []
        try:
            for row_id in ordered:
                lock = self._gates[row_id][0]
                await lock.acquire()
                taken.append(lock)
            yield
        finally:
            for lock in taken:
                lock.release()
            for row_id in ordered:
                lock, users = self._gates[row_id]
                if users == 1:
                    del self._gates[row_id]  # nobody holds or waits for it
                else:
                    self._gates[row_id] = (lock, users - 1)


def locked_rows(connection: Connection, query: Select, ids: list[str], **parameters):
    """`query` run with its rows locked FOR UPDATE on PostgreSQL: waiting, when this
    transaction holds the gates of all `ids`; otherwise NOWAIT, raising `RowsBusy` when
    another transaction holds one. SQLite's writers are serial: no lock to take."""
    if connection.dialect.name != "postgresql":
        return connection.execute(query, parameters)
    if connection.info.get(GATED, frozenset()).issuperset(ids):
        return connection.execute(_for_update(query, nowait=False), parameters)
    try:
        return connection.execute(_for_update(query, nowait=True), parameters)
    except DBAPIError as error:
        if getattr(error.orig, "sqlstate", None) == LOCK_NOT_AVAILABLE:
            raise RowsBusy(ids) from error
        raise


@functools.cache
def _for_update(query: Select, *, nowait: bool) -> Select:
    """Built once per query (building a statement costs more than running it)."""
    return query.with_for_update(nowait=nowait)
