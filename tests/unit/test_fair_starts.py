"""Workflow starts beyond the process's bound wait, tenants taking turns: a quiet tenant's
publish waits for one slot, not behind another tenant's burst."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from hookline.infra.fair_starts import FairStarts, FairTurns, StartsBusy


async def test_a_quiet_key_is_served_before_the_rest_of_a_burst() -> None:
    turns = FairTurns(1)
    served: list[str] = []
    release = asyncio.Event()

    async def take(name: str, key: str, hold: bool = False) -> None:
        async with turns.turn(key):
            served.append(name)
            if hold:
                await release.wait()

    first = asyncio.create_task(take("a0", "tenant-a", hold=True))
    await asyncio.sleep(0)
    burst = [asyncio.create_task(take(f"a{n}", "tenant-a")) for n in range(1, 6)]
    await asyncio.sleep(0)
    quiet = asyncio.create_task(take("b1", "tenant-b"))
    await asyncio.sleep(0)
    assert served == ["a0"] and turns.waiting == 6
    release.set()
    await asyncio.gather(first, *burst, quiet)
    assert served == ["a0", "a1", "b1", "a2", "a3", "a4", "a5"]


async def test_waiters_cancelled_leave_every_slot_free() -> None:
    turns = FairTurns(2)
    release = asyncio.Event()

    async def hold(key: str) -> None:
        async with turns.turn(key):
            await release.wait()

    holders = [asyncio.create_task(hold("a")) for _ in range(2)]
    waiters = [asyncio.create_task(hold(key)) for key in ("a", "b", "a", "c")]
    await asyncio.sleep(0)
    assert turns.waiting == 4
    waiters[0].cancel()
    waiters[1].cancel()
    release.set()
    await asyncio.sleep(0)  # the holders leave, handing their slots to the two waiters left
    assert turns.waiting == 0 and not waiters[3].done()
    waiters[3].cancel()  # granted its slot, cancelled before it ran: the slot goes on
    results = await asyncio.gather(*holders, *waiters, return_exceptions=True)
    assert [isinstance(r, asyncio.CancelledError) for r in results] == [
        False, False, True, True, False, True,
    ]  # fmt: skip
    # Both slots are free again: two turns at once, neither waits.
    await asyncio.wait_for(_two_at_once(turns), 5)


async def _two_at_once(turns: FairTurns) -> None:
    async with turns.turn("x"), turns.turn("y"):
        assert turns.waiting == 0


async def test_the_interceptor_keys_a_start_by_its_input_tenant() -> None:
    sent: list[str] = []
    gate = asyncio.Event()

    class Server:  # the next interceptor: the SDK's call to the server
        async def start_workflow(self, input):
            sent.append(input.args[0].tenant_id)
            await gate.wait()

    fair = FairStarts(1)
    client = fair.intercept_client(Server())  # type: ignore[arg-type]

    def start(tenant: str) -> asyncio.Task:
        event = SimpleNamespace(tenant_id=tenant)
        return asyncio.create_task(client.start_workflow(SimpleNamespace(args=[event])))  # type: ignore[arg-type]

    starts = [start("ten_a") for _ in range(4)] + [start("ten_b")]
    await asyncio.sleep(0.01)
    assert sent == ["ten_a"] and fair.turns.waiting == 4
    gate.set()
    await asyncio.gather(*starts)
    assert sent == ["ten_a", "ten_a", "ten_b", "ten_a", "ten_a"]


async def test_a_start_with_no_turn_in_time_is_busy_and_never_sent() -> None:
    sent: list[str] = []
    gate = asyncio.Event()

    class Server:
        async def start_workflow(self, input):
            sent.append(input.args[0].tenant_id)
            await gate.wait()

    fair = FairStarts(1, wait=0.2)
    client = fair.intercept_client(Server())  # type: ignore[arg-type]

    def start(tenant: str):
        return client.start_workflow(SimpleNamespace(args=[SimpleNamespace(tenant_id=tenant)]))  # type: ignore[arg-type]

    held = asyncio.create_task(start("ten_a"))
    await asyncio.sleep(0.01)
    with pytest.raises(StartsBusy):
        await start("ten_b")
    assert sent == ["ten_a"] and fair.turns.waiting == 0
    gate.set()
    await held
    await asyncio.wait_for(start("ten_b"), 5)  # the slot came back
    assert sent == ["ten_a", "ten_b"]
