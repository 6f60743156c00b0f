"""HOOKLINE_DATABASE_URL: the schemes users paste name the async driver hookline runs on; a
URL of any other store is refused at start-up."""

from __future__ import annotations

import pytest

from hookline.store.engine import database_url, sqlite_path


@pytest.mark.parametrize(
    ("given", "used"),
    [
        ("", ""),
        ("  ", ""),
        (
            "postgres://u:p%40ss@h:5432/db?ssl=require",
            "postgresql+asyncpg://u:p%40ss@h:5432/db?ssl=require",
        ),
        ("postgresql://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("PostgreSQL+asyncpg://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("sqlite:///rel/x.db", "sqlite+aiosqlite:///rel/x.db"),
        ("sqlite+aiosqlite:////abs/x.db", "sqlite+aiosqlite:////abs/x.db"),
    ],
)
def test_the_driver_is_named(given, used) -> None:
    assert database_url(given) == used


@pytest.mark.parametrize(
    "given",
    [
        "foo",
        "mysql://u@h/db",
        "postgresql+psycopg2://u@h/db",
        "sqlite+pysqlite:///x.db",
        "postgresql://u@h",
        "postgresql://u@h:notaport/db",
    ],
)
def test_other_stores_and_broken_urls_are_refused(given) -> None:
    with pytest.raises(ValueError):
        database_url(given)


def test_the_file_a_sqlite_url_opens() -> None:
    assert str(sqlite_path("sqlite+aiosqlite:////abs/x.db")) == "/abs/x.db"
    assert sqlite_path("sqlite+aiosqlite:///:memory:") is None
    assert sqlite_path("postgresql+asyncpg://u@h/db") is None
