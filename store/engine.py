"""Async engine and sessions. SQLite (WAL) by default, PostgreSQL via asyncpg."""

from __future__ import annotations

import contextlib
import functools
import os
from pathlib import Path

from sqlalchemy import Connection, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

SessionMaker = async_sessionmaker[AsyncSession]


# The drivers hookline runs on, and the schemes users paste that name the same store.
_DRIVERS = {
    "postgresql+asyncpg": "postgresql+asyncpg",
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
    "sqlite": "sqlite+aiosqlite",
}


def database_url(value: str) -> str:
    """HOOKLINE_DATABASE_URL checked at start-up: empty (the SQLite file under the data dir),
    or a URL of one of the stores hookline runs on, with its async driver named."""
    value = value.strip()
    if not value:
        return ""
    scheme, sep, rest = value.partition("://")
    driver = _DRIVERS.get(scheme.lower()) if sep else None
    if driver is None:
        raise ValueError(
            "not a store URL hookline can use: give postgresql+asyncpg://user:pw@host/db "
            "or sqlite+aiosqlite:///path/to/file.db"
        )
    url = f"{driver}://{rest}"
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ValueError("not a parsable database URL") from None
    if driver.startswith("postgresql") and not parsed.database:
        raise ValueError("the PostgreSQL URL names no database (…@host/db)")
    return url


def sqlite_path(url: str) -> Path | None:
    """The file a SQLite URL opens (None: not SQLite, or in memory)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def create_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    if is_sqlite(url):
        database = make_url(url).database
        if database and database != ":memory:":
            private_file(Path(database))
        engine = create_async_engine(url, connect_args={"timeout": 30})
        event.listen(engine.sync_engine, "connect", sqlite_pragmas)
        return engine
    return create_async_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)


def private_dir(path: Path) -> Path:
    """Creates the directory (and its parents) if missing; the directory itself is made 0700
    (it holds payloads, secrets and tokens). Raises OSError when it cannot be created."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    _tighten(path, 0o700)
    return path


def private_file(database: Path) -> None:
    """A SQLite store readable by its owner only: its directory 0700, the file created 0600
    before SQLite opens it (SQLite gives its -wal and -shm files the file's mode), and an
    existing store, with its -wal and -shm, tightened to 0600 (an existing directory is left
    as it is: it may be the user's own, e.g. their home)."""
    database.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(database, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    for path in (database, Path(f"{database}-wal"), Path(f"{database}-shm")):
        _tighten(path, 0o600)


def _tighten(path: Path, mode: int) -> None:
    """chmod to `mode` when the path is ours and looser; anything else is left as it is."""
    with contextlib.suppress(OSError):
        st = path.stat()
        if st.st_uid == os.getuid() and st.st_mode & 0o777 & ~mode:
            path.chmod(mode)


def sqlite_pragmas(dbapi_connection, _record) -> None:  # pragma: no cover - driver hook
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def session_maker(engine: AsyncEngine) -> SessionMaker:
    return async_sessionmaker(engine, expire_on_commit=False)


async def check(engine: AsyncEngine) -> None:
    """Raises if the store cannot answer a trivial query."""
    from sqlalchemy import text

    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))


def insert_ignoring_duplicates(connection: Connection, table):
    """INSERT ... ON CONFLICT DO NOTHING on the connection's dialect (SQLite or PostgreSQL):
    activities may run twice, and a row written by the first run must not fail the second.
    One statement per (dialect, table), built once: give the rows as parameters."""
    return _insert_ignoring_duplicates(connection.dialect.name, table)


@functools.cache
def _insert_ignoring_duplicates(dialect: str, table):
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table).on_conflict_do_nothing()
