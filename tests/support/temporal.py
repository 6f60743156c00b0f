"""Temporal for tests: the pip-installed binaries only (never a download)."""

from __future__ import annotations

import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from hookline.activities.deps import Deps
from hookline.core import search_attributes as sa
from hookline.devserver import TUNING_ARGS
from hookline.infra.config import Settings
from hookline.infra.crypto import data_converter
from hookline.process import process_resources
from hookline.worker import PASSTHROUGH, build_worker

BIN = Path(sys.executable).parent


async def start_time_skipping(keys: list[str] | None = None) -> WorkflowEnvironment:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(BIN / "temporal-test-server"),
        data_converter=data_converter(keys or []),
    )
    # The Java test server knows no custom search attribute until told.
    kinds = {
        "Keyword": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
        "KeywordList": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST,
    }
    await env.client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            search_attributes={name: kinds[kind] for name, kind in sa.REGISTRATION.items()},
            namespace=env.client.namespace,
        )
    )
    return env


async def start_dev_server(
    keys: list[str] | None = None, db_file: Path | None = None
) -> WorkflowEnvironment:
    return await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(BIN / "temporal"),
        search_attributes=sa.ALL,
        data_converter=data_converter(keys or []),
        dev_server_extra_args=TUNING_ARGS,  # as `hookline dev` runs it
        dev_server_database_filename=str(db_file) if db_file else None,
    )


def isolated_settings(settings: Settings, **changes: object) -> Settings:
    """A unique task queue per test, so runs never steal each other's tasks."""
    values = settings.model_dump() | {"task_queue": f"test-{uuid.uuid4().hex[:12]}", **changes}
    return Settings(**values)


@asynccontextmanager
async def running_worker(client: Client, settings: Settings) -> AsyncIterator[Deps]:
    async with process_resources(settings, runs_workflows=True) as process:
        deps = process.deps
        async with build_worker(client, deps, settings):
            yield deps


@asynccontextmanager
async def sandboxed_worker(
    client: Client, workflows: list[type], activities: list, prefix: str
) -> AsyncIterator[str]:
    """A worker of `workflows` run in the SDK's sandbox, as in production, with the given
    (scripted) activities, on a task queue of its own, whose name it yields."""
    task_queue = f"{prefix}-{uuid.uuid4().hex[:8]}"
    runner = SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH)
    )
    async with Worker(
        client,
        task_queue=task_queue,
        workflows=workflows,
        activities=activities,
        workflow_runner=runner,
    ):
        yield task_queue
