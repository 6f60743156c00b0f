"""Shared fixtures: the store on SQLite and on a throwaway PostgreSQL 15, settings, tenants,
a real HTTP receiver on 127.0.0.1."""

from __future__ import annotations

import itertools
import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from hookline.infra.config import Settings
from hookline.store.admin import get_or_create_tenant, issue_token
from hookline.store.engine import create_engine, session_maker
from hookline.store.migrate import upgrade
from hookline.store.transactions import Store
from tests.support.receiver import Receiver

_counter = itertools.count()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with Receiver() as r:
        yield r


@pytest.fixture(scope="session")
def postgres() -> Iterator[object]:
    from tests.support.postgres import PostgresCluster, available

    if not available():
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL 15 binaries are required in CI (see .ci/run)")
        pytest.skip("PostgreSQL 15 is not installed")
    cluster = PostgresCluster()
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(params=["sqlite", "postgres"])
def store_kind(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
async def database_url(store_kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A fresh, migrated database for one test, on the parametrised store."""
    if store_kind == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'hookline.db'}"
    else:
        cluster = request.getfixturevalue("postgres")
        url = cluster.create_database(f"test_{os.getpid()}_{next(_counter)}")
    await upgrade(url)
    return url


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path,
        database_url=database_url,
        allow_private_urls=True,
        rate_limit="100000/minute",
        # The circuit breaker opens on an endpoint's failures and then holds its deliveries:
        # tests that publish to failing receivers expect them to fail, so it is off here;
        # tests/workflows/test_throttling.py turns it on.
        breaker_min_attempts=1_000_000,
        workflow_sandbox=True,  # catches non-determinism; production runs without it
        embedded_worker=False,  # API tests bring their own worker when they need one
        public_url="http://test",  # the in-process API's base URL: sign-in links point there
    )


@dataclass
class TenantCreds:
    tenant_id: str
    token: str
    headers: dict[str, str]


async def make_tenant(
    settings: Settings, name: str, scopes: list[str] | None = None
) -> TenantCreds:
    engine = create_engine(settings.resolved_database_url)
    try:
        async with session_maker(engine).begin() as session:
            tenant = await get_or_create_tenant(session, name)
            issued = await issue_token(session, tenant, name=f"{name}-test", scopes=scopes)
            return TenantCreds(
                tenant_id=tenant.id,
                token=issued.value,
                headers={"Authorization": f"Bearer {issued.value}"},
            )
    finally:
        await engine.dispose()


@pytest.fixture
async def tenant(settings: Settings) -> TenantCreds:
    return await make_tenant(settings, "acme")


@pytest.fixture
async def other_tenant(settings: Settings) -> TenantCreds:
    return await make_tenant(settings, "globex")


@pytest.fixture
async def sessions(settings: Settings) -> AsyncIterator[object]:
    engine = create_engine(settings.resolved_database_url)
    yield session_maker(engine)
    await engine.dispose()


@pytest.fixture
async def store(settings: Settings) -> AsyncIterator[Store]:
    """The store's hot transactions (store/transactions.py) on the test's database."""
    engine = create_engine(settings.resolved_database_url)
    store = Store(settings.resolved_database_url, engine)
    yield store
    store.close()
    await engine.dispose()
