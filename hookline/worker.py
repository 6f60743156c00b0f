"""Builds the Worker: the workflow, the activities, one shared httpx client and the store."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from hookline.activities.delivery import DeliveryActivities
from hookline.activities.deps import Deps, http_client
from hookline.activities.events import EventActivities
from hookline.activities.matching import MatchingActivities
from hookline.core.config import Settings
from hookline.core.crypto import SecretBox, data_converter
from hookline.core.db import create_engine, session_maker
from hookline.workflows.event import EventWorkflow

# Our modules are deterministic at import and pure where the workflow touches them: passing
# them through the sandbox saves re-importing them for every workflow run (worker CPU).
PASSTHROUGH = ("hookline", "pydantic", "pydantic_core", "orjson", "sqlalchemy", "httpx")


async def connect(settings: Settings, *, lazy: bool = False) -> Client:
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=data_converter(settings.encryption_keys),
        lazy=lazy,
    )


def activities(deps: Deps) -> list:
    events, matching, delivery = (
        EventActivities(deps),
        MatchingActivities(deps),
        DeliveryActivities(deps),
    )
    return [
        events.record_event,
        events.settle_event,
        events.expire_event,
        matching.match_webhooks,
        delivery.deliver,
    ]


def build_worker(client: Client, deps: Deps, settings: Settings) -> Worker:
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=[EventWorkflow],
        activities=activities(deps),
        workflow_runner=SandboxedWorkflowRunner(
            restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH)
        ),
        max_concurrent_activities=settings.max_concurrent_deliveries,
        max_concurrent_local_activities=settings.max_concurrent_deliveries,
    )


@asynccontextmanager
async def worker_deps(settings: Settings) -> AsyncIterator[Deps]:
    engine = create_engine(settings.resolved_database_url)
    http = http_client(settings)
    try:
        yield Deps(
            settings=settings,
            sessions=session_maker(engine),
            http=http,
            secrets=SecretBox(settings.encryption_keys),
        )
    finally:
        await http.aclose()
        await engine.dispose()


async def run_worker(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Polls until `stop` is set (or forever), then shuts down cleanly."""
    client = await connect(settings)
    async with worker_deps(settings) as deps:
        worker = build_worker(client, deps, settings)
        async with worker:
            await (stop or asyncio.Event()).wait()
