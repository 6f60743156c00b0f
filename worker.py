"""Builds the Worker: the workflow, the activities, one shared HTTP client and the store."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import timedelta

from temporalio.client import Client
from temporalio.worker import PollerBehaviorAutoscaling, UnsandboxedWorkflowRunner, Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from hookline.activities.delivery import DeliveryActivities
from hookline.activities.deps import Deps
from hookline.activities.events import EventActivities
from hookline.activities.jobs import JobActivities
from hookline.infra.config import Settings
from hookline.infra.quiet_gc import tune_gc
from hookline.infra.temporal import connect, connect_when_up
from hookline.infra.tracing import setup_tracing, shutdown_tracing
from hookline.process import process_resources
from hookline.workflows.chunk import DeliveryChunkWorkflow
from hookline.workflows.event import EventWorkflow
from hookline.workflows.redelivery_job import RedeliveryJobWorkflow

log = logging.getLogger("hookline.worker")

# Passed through the sandbox (imported once, outside it): the pure modules the workflow
# imports (core/) and the activity classes it references, with the libraries their models
# use. The workflow modules themselves (workflows/) are not: the sandbox checks them.
# opentelemetry: as the SDK's own OpenTelemetryPlugin passes it, for the tracing interceptor's
# workflow side (infra/tracing.py): one copy of its context, never re-imported per run.
PASSTHROUGH = (
    "hookline.core",
    "hookline.activities",
    "pydantic",
    "pydantic_core",
    "orjson",
    "opentelemetry",
)


def activities(deps: Deps, client: Client | None = None) -> list:
    """The worker's activities; `client` wakes fifo webhooks' next deliveries (activities/
    turns.py), local activities having no client of their own."""
    events, delivery = EventActivities(deps, client), DeliveryActivities(deps, client)
    jobs = JobActivities(deps)
    return [
        events.accept_event,
        events.settle_event,
        events.load_chunk,
        # No new run calls it (the sweep deletes expired events): kept for the runs begun
        # before the one window timer, which still end with it (workflows/event.py).
        events.expire_event,
        delivery.deliver_first,
        delivery.deliver,
        # Redelivery jobs (workflows/redelivery_job.py).
        jobs.count_job_events,
        jobs.job_page,
        jobs.signal_batch,
    ]


def workflow_runner(settings: Settings):
    if settings.workflow_sandbox:
        return SandboxedWorkflowRunner(
            restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH)
        )
    return UnsandboxedWorkflowRunner()


def build_worker(client: Client, deps: Deps, settings: Settings) -> Worker:
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=[EventWorkflow, DeliveryChunkWorkflow, RedeliveryJobWorkflow],
        activities=activities(deps, client),
        workflow_runner=workflow_runner(settings),
        # Pollers scale with the server's backlog hints: with the SDK's fixed 5 (about one on
        # the shared queue), tasks whose eager start was refused under load waited 4-10 s
        # for a poll while new events started eagerly (B's p99 9.6 s in a default run; 1.6-3.5 s
        # in the runs since).
        workflow_task_poller_behavior=PollerBehaviorAutoscaling(),
        max_cached_workflows=settings.max_cached_workflows,
        max_concurrent_activities=settings.max_concurrent_deliveries,
        max_concurrent_local_activities=settings.max_concurrent_deliveries,
        max_concurrent_workflow_tasks=settings.max_concurrent_workflow_tasks,
        # On SIGTERM, attempts in flight finish (and get recorded) instead of being cut off
        # mid-POST and made again elsewhere; within a container's usual 10 s stop grace.
        graceful_shutdown_timeout=timedelta(seconds=8),
        # Only a redelivery job's batch heartbeats: its progress is recorded, and a cancel
        # request reaches it, within a second (not 80 % of its heartbeat timeout).
        max_heartbeat_throttle_interval=timedelta(seconds=1),
    )


class EmbeddedWorker:
    """A worker inside the API process: events published there start eagerly on it.

    Eager start needs the publishing client to be the worker's client, and a worker needs a
    connected (not lazy) client: so this connects one as soon as Temporal answers, hands it
    to `on_client` for publishing, and starts polling. The API can come up first (and answer
    503). The standalone worker polls the same task queue: retries, signals and workflows
    evicted from this worker's cache go to whichever worker is free; a dead API loses nothing.
    It shares the API's `Deps` (store, HTTP pool, secret box); the API closes them.
    """

    def __init__(
        self, deps: Deps, on_client: Callable[[Client], None], client: Client | None = None
    ) -> None:
        self.deps, self.on_client, self.client = deps, on_client, client
        self.worker: Worker | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="hookline-embedded-worker")

    async def _run(self) -> None:
        if self.client is None:
            self.client = await connect_when_up(self.deps.settings)
            self.on_client(self.client)
        try:
            self.worker = build_worker(self.client, self.deps, self.deps.settings)
            await self.worker.run()
        except Exception:
            log.exception("the embedded worker stopped; the standalone worker carries on")
            raise

    async def stop(self) -> None:
        """Finishes the tasks in hand (bounded by the worker's graceful timeout), then stops."""
        if self._task is None:
            return
        if self.worker is not None and not self._task.done():
            await self.worker.shutdown()
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


async def run_worker(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Polls until `stop` is set (or forever), then shuts down cleanly. With
    `metrics_address`, serves the hookline metrics there from the start (a port that cannot
    be bound raises MetricsServerError before anything else starts)."""
    from hookline.infra.metrics import MetricsServer

    metrics_server = MetricsServer(settings.metrics_address) if settings.metrics_address else None
    try:
        tracer_provider = setup_tracing("hookline-worker")
        try:
            client = await connect(settings)
            async with process_resources(
                settings, runs_workflows=True, temporal=lambda: client
            ) as resources:
                worker = build_worker(client, resources.deps, settings)
                tune_gc()
                async with worker:
                    await (stop or asyncio.Event()).wait()
        finally:
            await shutdown_tracing(tracer_provider)
    finally:
        if metrics_server is not None:
            metrics_server.close()
