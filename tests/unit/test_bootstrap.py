"""`hookline api --processes N` starts N processes that each make sure the bootstrap tenant
and token exist, at the same moment: none may fail its startup because another made them
first (a unique-name violation once killed one of two processes, which then served nothing)."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from hookline.store.admin import ensure_bootstrap, get_or_create_tenant
from hookline.store.engine import create_engine, session_maker
from hookline.store.tables import Tenant, Token

PROCESSES = 4
VALUE = "hl_bootstrap_for_every_process_0123456789"


async def _bootstrap_alone(url: str, start: asyncio.Event) -> str:
    """One process's startup: its own engine, its own transaction."""
    engine = create_engine(url)
    try:
        await start.wait()
        async with session_maker(engine).begin() as session:
            return (await ensure_bootstrap(session, VALUE)).id
    finally:
        await engine.dispose()


async def test_processes_bootstrapping_at_once_all_start_with_one_tenant_and_token(settings):
    url = settings.resolved_database_url
    start = asyncio.Event()
    starting = [asyncio.create_task(_bootstrap_alone(url, start)) for _ in range(PROCESSES)]
    await asyncio.sleep(0.2)  # every engine waiting at the line
    start.set()
    tenant_ids = await asyncio.gather(*starting)
    assert len(set(tenant_ids)) == 1
    engine = create_engine(url)
    try:
        async with session_maker(engine)() as session:
            assert await session.scalar(select(func.count()).select_from(Tenant)) == 1
            assert await session.scalar(select(func.count()).select_from(Token)) == 1
    finally:
        await engine.dispose()


async def test_a_tenant_made_twice_by_name_is_one_tenant(sessions):
    async with sessions.begin() as session:
        first = await get_or_create_tenant(session, "acme")
    async with sessions.begin() as session:
        assert (await get_or_create_tenant(session, "acme")).id == first.id
