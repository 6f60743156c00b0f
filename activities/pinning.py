"""Connections that go only to addresses vetted for their host (no second DNS lookup).

`send()` resolves a webhook's host once and vets every address (core/urls.py). Had httpx then
resolved the name again to connect, a hostile DNS server could answer a public address to the
check and 127.0.0.1 or 169.254.169.254 to the connection (DNS rebinding). So `send()` puts the
vetted addresses in a context variable for the duration of its request, and the connection
pool's network backend connects to one of those instead of resolving the name.

The URL keeps the webhook's host name, so the pool still keys connections by name (keep-alive
reuses only a connection made to a vetted address of that name), and TLS sends the name as
SNI and verifies the certificate against it.
"""

from __future__ import annotations

import contextlib
import typing
from collections.abc import Iterator
from contextvars import ContextVar

import httpcore
import httpx

from hookline.activities.asyncio_backend import AsyncioBackend
from hookline.activities.pool import DeliveryPool

# host (IDNA, as httpcore sees it) -> vetted addresses, in the resolver's order
_VETTED: ContextVar[dict[str, list[str]] | None] = ContextVar("hookline_vetted", default=None)


@contextlib.contextmanager
def vetted_addresses(host: str, addresses: list[str]) -> Iterator[None]:
    """Within this block (this task), connections to `host` go to `addresses` only."""
    token = _VETTED.set({host: addresses})
    try:
        yield
    finally:
        _VETTED.reset(token)


class PinningBackend(httpcore.AsyncNetworkBackend):
    def __init__(self, inner: httpcore.AsyncNetworkBackend) -> None:
        self.inner = inner

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[typing.Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        vetted = _VETTED.get()
        if vetted is None:  # private URLs allowed (dev): resolve as usual
            return await self.inner.connect_tcp(host, port, timeout, local_address, socket_options)
        addresses = vetted.get(host)
        if not addresses:
            raise httpcore.ConnectError(f"no vetted address for {host}")
        error: Exception | None = None
        for address in addresses:  # the next one only if nothing could be sent to this one
            try:
                return await self.inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except httpcore.ConnectError as exc:
                error = exc
        assert error is not None
        raise error

    async def connect_unix_socket(self, *args: typing.Any, **kwargs: typing.Any):
        raise httpcore.ConnectError("webhooks are delivered over TCP only")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


class PinningTransport(httpx.AsyncHTTPTransport):
    """httpx's transport with the pinning backend, over plain asyncio streams, under its pool
    (httpx takes no backend or pool argument, so both are set on the pool it built;
    tests/unit/test_send_pinning.py and test_asyncio_backend.py fail if a new httpx stops
    honouring them)."""

    def __init__(self, **kwargs: typing.Any) -> None:
        super().__init__(**kwargs)
        pool = self._pool
        pool.__class__ = DeliveryPool  # same state, linear bookkeeping (activities/pool.py)
        pool._network_backend = PinningBackend(AsyncioBackend())  # type: ignore[attr-defined]
