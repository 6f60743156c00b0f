"""At most N requests in flight to one endpoint origin; other origins do not wait for it."""

from __future__ import annotations

import asyncio
import time

import httpx

from hookline.activities.endpoints import EndpointLimits
from tests.support.receiver import Receiver, Reply
from tests.support.send import post

SLOW = 0.3


async def test_one_origin_gets_at_most_n_at_once_and_others_do_not_wait(receiver):
    receiver.default(Reply(delay=SLOW))
    limits = EndpointLimits(2)
    async with Receiver() as other, httpx.AsyncHTTPTransport() as http:
        start = time.monotonic()
        busy = [
            asyncio.create_task(
                post(http, receiver.url(f"/slow/{i}"), n=i, timeout=10, endpoints=limits)
            )
            for i in range(6)
        ]
        await asyncio.sleep(0.05)
        quick = await post(
            http, other.url("/quick"), n=99, timeout=10, endpoints=limits
        )  # another port: own slots
        quick_took = time.monotonic() - start
        results = await asyncio.gather(*busy)

    assert quick.status_code == 200 and quick_took < SLOW
    assert [r.status_code for r in results] == [200] * 6
    arrivals = sorted(r.at for r in receiver.requests)
    # Answers take SLOW each and only 2 run at once: 3 waves, SLOW apart.
    assert all(b - a >= SLOW * 0.8 for a, b in zip(arrivals, arrivals[2:], strict=False))
    assert arrivals[-1] - arrivals[0] >= 2 * SLOW * 0.8


async def test_an_idle_origin_keeps_no_state():
    limits = EndpointLimits(3)
    slot = limits.slot("http://127.0.0.1:9/a")
    assert limits.slot("http://127.0.0.1:9/b?x=1") is slot  # same origin, any path
    assert limits.slot("http://127.0.0.1:10/a") is not slot
    del slot
    assert len(limits._slots) == 0
