"""At most N requests in flight from one process to one endpoint origin (scheme, host, port).

It spares a receiver a flood when a fan-out or a backlog targets it, and it keeps the delivery
pool small: the pool re-examines its connections whenever a request starts or ends
(activities/pool.py), so its cost per request grows with the connections it holds. Queued
here, a request waits on a semaphore instead.
"""

from __future__ import annotations

import asyncio
import weakref

import httpx


class EndpointLimits:
    def __init__(self, per_endpoint: int) -> None:
        self.per_endpoint = per_endpoint
        # Weak: an origin's semaphore lives while a request holds or awaits it.
        self._slots: weakref.WeakValueDictionary[tuple[str, str, int | None], asyncio.Semaphore]
        self._slots = weakref.WeakValueDictionary()

    def slot(self, url: str | httpx.URL) -> asyncio.Semaphore:
        origin = url if isinstance(url, httpx.URL) else httpx.URL(url)
        key = (origin.scheme, origin.host, origin.port)
        semaphore = self._slots.get(key)
        if semaphore is None:
            semaphore = self._slots[key] = asyncio.Semaphore(self.per_endpoint)
        return semaphore
