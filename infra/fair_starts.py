"""Workflow starts taken in turns by tenant, per process.

A publish waits for Temporal's answer to its start. A tenant's burst (batches of 100, many at
once) sent every start at once, and the server answered them in about the order they came: a
quiet tenant's one publish waited behind the whole burst. So at most `limit` starts are in
flight per client (process); beyond it, waiting starts are let through one tenant at a time
in turn, each tenant's in the order they came. A quiet tenant's start then waits for one slot
to free, not for the burst. The bound is also all the burst puts on the server at once from
this process; the server stays as busy, in a shorter queue.

A start waits at most TURN_WAIT for its turn, then fails with `StartsBusy`, never sent: the
API answers 503 to retry (api/publish.py), saying the event was not accepted. The caller's
deadline for Temporal's answer starts when the turn is taken (`TURN_TAKEN`), so a wait in
this queue is never mistaken for a server that does not answer.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextvars import ContextVar
from typing import Any

from temporalio.client import (
    Interceptor,
    OutboundInterceptor,
    StartWorkflowInput,
    WorkflowHandle,
)

TURN_WAIT = 20.0  # seconds
# Called (in the starting task) once its start has its turn and is sent.
TURN_TAKEN: ContextVar[Callable[[], None] | None] = ContextVar("turn_taken", default=None)


class StartsBusy(Exception):
    """A start that waited TURN_WAIT for its turn: it was not sent."""


class FairTurns:
    """At most `limit` holders at once; waiters served round robin by key, FIFO per key."""

    def __init__(self, limit: int) -> None:
        self._free = limit
        # key: its waiters, oldest first; the dict's order is the turn order.
        self._waiting: dict[str, deque[asyncio.Future[None]]] = {}

    @property
    def waiting(self) -> int:
        return sum(len(queue) for queue in self._waiting.values())

    @contextlib.asynccontextmanager
    async def turn(self, key: str) -> AsyncIterator[None]:
        await self.take(key)
        try:
            yield
        finally:
            self.give_back()

    async def take(self, key: str) -> None:
        """A slot, at once when one is free and nobody waits; else in `key`'s turn."""
        if self._free > 0 and not self._waiting:
            self._free -= 1
            return
        granted = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(key, deque()).append(granted)
        try:
            await granted
        except asyncio.CancelledError:
            if granted.done() and not granted.cancelled():
                self.give_back()  # let through as it was cancelled: the slot goes on
            else:
                self._forget(key, granted)
            raise

    def give_back(self) -> None:
        """A slot freed: to the oldest waiter of the key whose turn it is (that key then goes
        to the back of the line), or kept free."""
        while self._waiting:
            key = next(iter(self._waiting))
            queue = self._waiting.pop(key)
            granted = queue.popleft()
            if queue:
                self._waiting[key] = queue
            if not granted.done():
                granted.set_result(None)
                return
        self._free += 1

    def _forget(self, key: str, granted: asyncio.Future[None]) -> None:
        queue = self._waiting.get(key)
        if queue is not None and granted in queue:
            queue.remove(granted)
            if not queue:
                del self._waiting[key]


class FairStarts(Interceptor):
    """A client interceptor: `start_workflow` takes a turn keyed by the workflow's tenant (its
    input's `tenant_id`; workflows without one share a key)."""

    def __init__(self, limit: int, wait: float | None = None) -> None:
        self.turns = FairTurns(limit)
        self.wait = TURN_WAIT if wait is None else wait

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        return _TakingTurns(next, self)


class _TakingTurns(OutboundInterceptor):
    def __init__(self, next: OutboundInterceptor, fair: FairStarts) -> None:
        super().__init__(next)
        self._fair = fair

    async def start_workflow(self, input: StartWorkflowInput) -> WorkflowHandle[Any, Any]:
        tenant = getattr(input.args[0], "tenant_id", "") if input.args else ""
        try:
            async with asyncio.timeout(self._fair.wait):
                await self._fair.turns.take(str(tenant))
        except TimeoutError:
            raise StartsBusy(f"no turn to start within {self._fair.wait:g} s") from None
        if (taken := TURN_TAKEN.get()) is not None:
            taken()
        try:
            return await super().start_workflow(input)
        finally:
            self._fair.turns.give_back()
