from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.support.temporal import start_dev_server, start_time_skipping


@pytest.fixture
async def time_env() -> AsyncIterator[WorkflowEnvironment]:
    """One per test: skipped days stay in a server's clock, events are stamped by the wall's."""
    env = await start_time_skipping()
    yield env
    await env.shutdown()


@pytest.fixture(scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await start_dev_server()
    yield env
    await env.shutdown()


@pytest.fixture
def store_kind() -> str:
    """Workflow tests run on SQLite; the ones marked with `store_kind` run on PostgreSQL too."""
    return "sqlite"
