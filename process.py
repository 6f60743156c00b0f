"""What one hookline process holds, built once and closed once: the store, the HTTP pool, the
secret box (the activities' `Deps`), the process's GC policy and, where workflows run, the
sweep loops (the expiry sweep and the reconciler). The standalone worker and the API (with its
embedded worker) share this builder.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client

from hookline.activities.deps import Deps
from hookline.delivery.transport import delivery_transport
from hookline.infra.config import Settings
from hookline.infra.crypto import SecretBox
from hookline.infra.quiet_gc import QuietCollector
from hookline.infra.reconcile import Reconciler
from hookline.infra.sweeps import ExpirySweep
from hookline.store.engine import create_engine
from hookline.store.transactions import Store
from hookline.workflows.event import EventWorkflow


@dataclass(frozen=True)
class Resources:
    engine: AsyncEngine
    deps: Deps


@asynccontextmanager
async def process_resources(
    settings: Settings,
    *,
    runs_workflows: bool,
    temporal: Callable[[], Client | None] | None = None,
) -> AsyncIterator[Resources]:
    """The process's resources; with `runs_workflows`, the sweeps every worker process runs
    beside its worker: the expiry sweep (infra/sweeps.py) and, given `temporal` (the
    process's client, or None while it has none), the reconciler (infra/reconcile.py). The
    store tells the GC collector when it is busy (no full collection then)."""
    engine = create_engine(settings.resolved_database_url)
    collector = QuietCollector()
    deps = Deps(
        settings=settings,
        store=Store(settings.resolved_database_url, engine, on_work=collector.touch),
        http=delivery_transport(settings),
        secrets=SecretBox(settings.encryption_keys),
    )
    loops = [asyncio.create_task(collector.run(), name="hookline-quiet-gc")]
    if runs_workflows:
        sweep = ExpirySweep(deps.store, every=settings.expiry_sweep_interval)
        loops.append(asyncio.create_task(sweep.run(), name="hookline-expiry-sweep"))
        if temporal is not None:
            reconciler = Reconciler(deps.store, settings, temporal, EventWorkflow.run)
            loops.append(
                asyncio.create_task(
                    reconciler.run_forever(settings.reconcile_interval), name="hookline-reconcile"
                )
            )
    try:
        yield Resources(engine, deps)
    finally:
        for loop in loops:
            loop.cancel()
        await asyncio.gather(*loops, return_exceptions=True)
        await deps.http.aclose()
        deps.store.close()
        await engine.dispose()
