"""The delivery client's connection limits, against scripted receivers on 127.0.0.1: requests
beyond the process's connections queue and all complete, one origin gets at most its own
limit, and the wait for a connection is hookline's time, never the receiver's timeout."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from hookline.delivery.transport import delivery_transport
from hookline.infra.config import Settings
from tests.support.scripted_server import Scripted, Serve, ok, scripted_servers, send_to


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    async with scripted_servers() as start:
        yield start


async def test_more_requests_than_connections_queue_and_all_complete(serve: Serve) -> None:
    scripted = Scripted(lambda n: ok(), hold=True)
    port = await serve(scripted)
    settings = Settings(allow_private_urls=True, max_concurrent_deliveries=3)
    async with delivery_transport(settings) as http:
        sends = [asyncio.create_task(send_to(http, port)) for _ in range(20)]
        await scripted.wait_in_flight(3)
        scripted.release.set()
        results = await asyncio.gather(*sends)
    assert [r.status_code for r in results] == [200] * 20
    assert scripted.max_in_flight == 3 and scripted.connections == 3


async def test_one_origin_gets_at_most_its_limit_and_others_do_not_wait(serve: Serve) -> None:
    busy = Scripted(lambda n: ok(), hold=True)
    busy_port = await serve(busy)
    quick = Scripted(lambda n: ok())
    quick_port = await serve(quick)
    settings = Settings(allow_private_urls=True, max_requests_per_endpoint=2)
    async with delivery_transport(settings) as http:
        held = [asyncio.create_task(send_to(http, busy_port)) for _ in range(6)]
        await busy.wait_in_flight(2)
        # Another origin (another port) has its own slots: it is answered meanwhile.
        other = await send_to(http, quick_port)
        assert (other.status_code, busy.in_flight, busy.served) == (200, 2, 2)
        busy.release.set()
        results = await asyncio.gather(*held)
    assert [r.status_code for r in results] == [200] * 6
    assert busy.max_in_flight == 2  # the other four waited for a slot, then went two by two


async def test_the_wait_for_a_connection_slot_is_not_the_receivers_time(serve: Serve) -> None:
    """An attempt's duration is the receiver's: one queued behind a held request shows the
    time it was answered in, not the time it waited for the slot (admission reads it)."""
    scripted = Scripted(lambda n: ok(), hold=True)
    port = await serve(scripted)
    settings = Settings(allow_private_urls=True, max_requests_per_endpoint=1)
    async with delivery_transport(settings) as http:
        first = asyncio.create_task(send_to(http, port))
        await scripted.wait_in_flight(1)
        queued = asyncio.create_task(send_to(http, port))
        await asyncio.sleep(1.0)  # the second waits for the one connection all along
        scripted.hold = False
        scripted.release.set()
        held, waited = await asyncio.gather(first, queued)
    assert (held.status_code, waited.status_code) == (200, 200)
    assert held.duration_ms >= 1000
    assert waited.duration_ms < 500


async def held_then_answered(scripted: Scripted, after: float) -> None:
    """Lets the held requests of `scripted` be answered `after` seconds from now."""
    await asyncio.sleep(after)
    scripted.hold = False
    scripted.release.set()


async def test_waiting_for_a_busy_process_connection_does_not_use_up_the_timeout(
    serve: Serve,
) -> None:
    """Another receiver's requests hold every connection of the process; the one queued behind
    them waits for a connection, and then has its whole timeout with its own receiver: a
    receiver that answers within its timeout is not recorded as timing out."""
    hanging = Scripted(lambda n: ok(), hold=True)
    hanging_port = await serve(hanging)
    slow = Scripted(lambda n: ok(b"slow but in time"), hold=True)
    slow_port = await serve(slow)
    settings = Settings(allow_private_urls=True, max_concurrent_deliveries=2)
    async with delivery_transport(settings) as http:
        held = [asyncio.create_task(send_to(http, hanging_port, timeout=5)) for _ in range(2)]
        await hanging.wait_in_flight(2)
        queued = asyncio.create_task(send_to(http, slow_port, timeout=0.8))
        # The connections come free after 0.6 s; the receiver then takes 0.5 s of its 0.8 s.
        freed = asyncio.create_task(held_then_answered(hanging, 0.6))
        await slow.wait_in_flight(1)
        await held_then_answered(slow, 0.5)
        result = await queued
        await asyncio.gather(freed, *held)
    assert (result.status_code, result.error, result.body) == (200, None, "slow but in time")
    assert 450 <= result.duration_ms < 800  # the receiver's time, not the wait


async def test_a_request_that_never_gets_a_connection_is_not_sent_not_timed_out(
    serve: Serve,
) -> None:
    hanging = Scripted(lambda n: ok(), hold=True)
    hanging_port = await serve(hanging)
    quick = Scripted(lambda n: ok())
    quick_port = await serve(quick)
    settings = Settings(allow_private_urls=True, max_concurrent_deliveries=1)
    async with delivery_transport(settings) as http:
        held = asyncio.create_task(send_to(http, hanging_port, timeout=5))
        await hanging.wait_in_flight(1)
        result = await send_to(http, quick_port, timeout=0.3)
        hanging.release.set()
        await held
    assert result.status_code is None and quick.served == 0 and not result.sent
    assert result.error == (
        "not sent: all 1 connections of this process stayed busy for 0.3s "
        "(HOOKLINE_MAX_CONCURRENT_DELIVERIES)"
    )
