"""Workflow activations run on the worker's own event loop instead of a thread pool.

The SDK hands every workflow activation (start, local activity result, timer, eviction) to a
`ThreadPoolExecutor`: a thread hop, a `Future` with its `Condition`, and GIL hand-offs, three
times per event on the happy path, for code that holds the GIL throughout anyway. hookline's
workflow is ours, never blocks and does no I/O, so the activation runs on the loop, the way
the SDK itself runs it in `debug_mode` (without the rest of that mode). What is given up: the
SDK's 2-second deadlock detection, which could not interrupt our loop anyway.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any


class InlineActivations(ThreadPoolExecutor):
    """An executor that never starts a thread, for `loop.run_in_executor` only (the SDK's one
    use of it): `submit` schedules the call on the running loop (`call_soon`, so it runs
    outside the dispatching task's step) and returns an asyncio future, which
    `run_in_executor` hands back as it is: no `concurrent.futures.Future`, no cross-thread
    wake-up. Typed as the `ThreadPoolExecutor` the Worker's signature asks for."""

    def __init__(self) -> None:
        super().__init__(max_workers=1, thread_name_prefix="hookline-unused")

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        loop = asyncio.get_running_loop()
        future = loop.create_future()

        def run() -> None:
            if future.cancelled():
                return
            try:
                future.set_result(fn(*args, **kwargs))
            except BaseException as exc:  # handed to the awaiting SDK code, as a thread would
                future.set_exception(exc)
            finally:
                # A workflow activation sets its own loop as the running one and clears it
                # on exit; put ours back.
                asyncio._set_running_loop(loop)

        loop.call_soon(run)
        return future
