"""The throwaway PostgreSQL cluster (tests/support/postgres.py): start, restart, stop."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from tests.support.postgres import PostgresCluster, available

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not available(), reason="PostgreSQL 15 binaries / postgres user missing"),
]


async def _select_one(dsn: str) -> int:
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        return await conn.fetchval("SELECT 1")
    finally:
        await conn.close()


async def test_start_query_restart_stop() -> None:
    cluster = PostgresCluster()
    await asyncio.to_thread(cluster.start)
    try:
        base = cluster.base_dir
        port = cluster.port
        assert base.is_dir()
        assert cluster.url == f"postgresql+asyncpg://postgres@127.0.0.1:{port}/hookline"
        assert await _select_one(cluster.dsn()) == 1

        # Settings for speed and isolation took effect.
        conn = await asyncpg.connect(cluster.dsn(), timeout=10)
        try:
            assert await conn.fetchval("SHOW fsync") == "off"
            assert await conn.fetchval("SHOW synchronous_commit") == "off"
            assert await conn.fetchval("SHOW full_page_writes") == "off"
            assert await conn.fetchval("SHOW listen_addresses") == "127.0.0.1"
            assert (await conn.fetchval("SELECT version()")).startswith("PostgreSQL 15")
            await conn.execute("CREATE TABLE kept (v int)")
            await conn.execute("INSERT INTO kept VALUES (42)")
        finally:
            await conn.close()

        url = cluster.create_database("other_db")
        assert url == f"postgresql+asyncpg://postgres@127.0.0.1:{port}/other_db"
        assert cluster.create_database("other_db") == url  # idempotent
        assert await _select_one(cluster.dsn("other_db")) == 1

        # "The store restarts": same port, same data; refused while down.
        await asyncio.to_thread(cluster.stop_server)
        with pytest.raises(OSError):
            await asyncpg.connect(cluster.dsn(), timeout=5)
        await asyncio.to_thread(cluster.start_server)
        await asyncio.to_thread(cluster.restart)
        await cluster.arestart(downtime=0.1)
        assert cluster.port == port
        conn = await asyncpg.connect(cluster.dsn(), timeout=10)
        try:
            assert await conn.fetchval("SELECT v FROM kept") == 42
        finally:
            await conn.close()
        assert await _select_one(cluster.dsn("other_db")) == 1

        cluster.drop_database("other_db")
        with pytest.raises(asyncpg.InvalidCatalogNameError):
            await _select_one(cluster.dsn("other_db"))
    finally:
        await asyncio.to_thread(cluster.stop)

    assert not base.exists()
    assert not cluster.running
    with pytest.raises(OSError):
        await asyncpg.connect(f"postgresql://postgres@127.0.0.1:{port}/hookline", timeout=5)


def test_context_manager_and_bad_names() -> None:
    with PostgresCluster(database="ctx_db") as cluster:
        base = cluster.base_dir
        assert cluster.url.endswith("/ctx_db")
        assert cluster.psql("SELECT current_database()", database="ctx_db").strip() == "ctx_db"
        with pytest.raises(ValueError):
            cluster.create_database('x"; DROP DATABASE postgres; --')
    assert not base.exists()
