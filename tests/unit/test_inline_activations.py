"""Workflow activations run on the worker's event loop (hookline/inline_activations.py)."""

from __future__ import annotations

import asyncio
import threading

import pytest

from hookline.inline_activations import InlineActivations


async def test_the_call_runs_on_the_loop_thread_after_the_caller_yields() -> None:
    executor = InlineActivations()
    ran: list[int] = []
    future = asyncio.get_running_loop().run_in_executor(
        executor, lambda: ran.append(threading.get_ident()) or "done"
    )
    assert ran == []  # scheduled, not run inside the dispatching step
    assert await future == "done"
    assert ran == [threading.get_ident()]
    assert not [t for t in threading.enumerate() if t.name.startswith("hookline-unused")]


async def test_the_running_loop_is_restored_after_an_activation_clears_it() -> None:
    loop = asyncio.get_running_loop()

    def activation() -> str:
        # What a workflow activation does: its own loop while it runs, none after.
        asyncio._set_running_loop(None)
        return "completion"

    assert await loop.run_in_executor(InlineActivations(), activation) == "completion"
    assert asyncio.get_running_loop() is loop
    await asyncio.sleep(0)  # the loop still works


async def test_an_exception_reaches_the_awaiting_code() -> None:
    def broken() -> None:
        raise RuntimeError("workflow code failed")

    with pytest.raises(RuntimeError, match="workflow code failed"):
        await asyncio.get_running_loop().run_in_executor(InlineActivations(), broken)
    assert asyncio.get_running_loop() is not None


async def test_a_call_cancelled_before_it_runs_never_runs() -> None:
    ran: list[bool] = []
    future = InlineActivations().submit(lambda: ran.append(True))
    assert future.cancel()
    await asyncio.sleep(0)
    assert ran == []
