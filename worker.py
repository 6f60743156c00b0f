"""Builds the Worker: the workflow, the activities, one shared HTTP client and the store."""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.worker import PollerBehaviorAutoscaling, UnsandboxedWorkflowRunner, Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from hookline.activities.delivery import DeliveryActivities
from hookline.activities.deps import Deps
from hookline.activities.events import EventActivities
from hookline.core.config import Settings
from hookline.core.crypto import SecretBox, data_converter
from hookline.core.db import create_engine
from hookline.core.quiet_gc import QuietCollector
from hookline.core.retention import ExpirySweep
from hookline.core.store import Store
from hookline.core.temporal_connection import connect_options
from hookline.core.tracing import setup_tracing, shutdown_tracing, tracing_interceptors
from hookline.delivery import delivery_transport
from hookline.workflows.event import EventWorkflow

log = logging.getLogger("hookline.worker")

# Our modules are deterministic at import and pure where the workflow touches them: passing
# them through the sandbox (when it is on) saves re-importing them for every workflow run.
# opentelemetry: as the SDK's own OpenTelemetryPlugin passes it, for the tracing interceptor's
# workflow side (core/tracing.py): one copy of its context, never re-imported per run.
PASSTHROUGH = (
    "hookline",
    "pydantic",
    "pydantic_core",
    "orjson",
    "sqlalchemy",
    "httpx",
    "opentelemetry",
)


@functools.cache
def sdk_runtime(metrics_address: str | None) -> Runtime | None:
    """A Temporal runtime exporting the SDK's own metrics (task latencies, slots, polls,
    schedule-to-start, sticky cache...) for Prometheus at `metrics_address` (host:port).
    One per process; None (the default runtime) when no address is set or it cannot bind."""
    if not metrics_address:
        return None
    try:
        return Runtime(
            telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=metrics_address))
        )
    except Exception as exc:  # e.g. the port is taken: run on, without SDK metrics
        log.warning("Temporal SDK metrics not exported on %s: %s", metrics_address, exc)
        return None


async def connect(settings: Settings, *, lazy: bool = False) -> Client:
    """Every client hookline builds (API, worker, CLI): TLS, mTLS or an API key per settings."""
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=data_converter(settings.encryption_keys),
        lazy=lazy,
        runtime=sdk_runtime(settings.sdk_metrics_address),
        **connect_options(settings),
        interceptors=tracing_interceptors(),
    )


def activities(deps: Deps) -> list:
    events, delivery = EventActivities(deps), DeliveryActivities(deps)
    return [
        events.accept_event,
        events.settle_event,
        # No new run calls it (the sweep deletes expired events): kept for the runs begun
        # before the patch `one-window-timer`, which still end with it (workflows/event.py).
        events.expire_event,
        delivery.deliver_first,
        delivery.deliver,
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
        workflows=[EventWorkflow],
        activities=activities(deps),
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
    )


def shared_deps(settings: Settings, engine: AsyncEngine, collector: QuietCollector) -> Deps:
    """What the activities of one process share, on `engine`: the store, one HTTP pool, the
    secret box. For the worker (worker_deps) and the API, which sends its test deliveries with
    them and hands them to its embedded worker; the caller closes them. The store tells the
    process's `collector` (its GC policy, run by the entry point) when it is busy."""
    return Deps(
        settings=settings,
        store=Store(settings.resolved_database_url, engine, on_work=collector.touch),
        http=delivery_transport(settings),
        secrets=SecretBox(settings.encryption_keys),
    )


@asynccontextmanager
async def worker_deps(settings: Settings) -> AsyncIterator[Deps]:
    engine = create_engine(settings.resolved_database_url)
    collector = QuietCollector()
    deps = shared_deps(settings, engine, collector)
    collecting = asyncio.create_task(collector.run(), name="hookline-quiet-gc")
    sweeping = start_expiry_sweep(deps)
    try:
        yield deps
    finally:
        collecting.cancel()
        await stop_expiry_sweep(sweeping)
        await deps.http.aclose()
        deps.store.close()
        await engine.dispose()


def start_expiry_sweep(deps: Deps) -> asyncio.Task[None]:
    """Every worker process deletes expired events from the store (core/retention.py)."""
    sweep = ExpirySweep(deps.store, every=deps.settings.expiry_sweep_interval)
    return asyncio.create_task(sweep.run(), name="hookline-expiry-sweep")


async def stop_expiry_sweep(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def connect_when_up(settings: Settings, retry_every: float = 1.0) -> Client:
    """A connected client, once the server answers; retries until then."""
    while True:
        try:
            return await connect(settings)
        except Exception:  # unreachable or still starting: the API meanwhile answers 503
            await asyncio.sleep(retry_every)


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


def tune_gc() -> None:
    """Once started: startup objects (modules, app, SDK) never die, so keep them out of every
    GC pass, and collect less often (attempts allocate many short-lived objects). Measured
    with `hookline bench`: fewer latency spikes in the open-loop scenario."""
    gc.freeze()
    gc.set_threshold(10_000, 20, 20)


async def run_worker(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Polls until `stop` is set (or forever), then shuts down cleanly."""
    tracer_provider = setup_tracing("hookline-worker")
    try:
        client = await connect(settings)
        async with worker_deps(settings) as deps:
            worker = build_worker(client, deps, settings)
            tune_gc()
            async with worker:
                await (stop or asyncio.Event()).wait()
    finally:
        await shutdown_tracing(tracer_provider)
