"""The delivery client's resolver: every address a webhook's host resolves to is vetted before
anything connects, and the connection goes to exactly those addresses.

aiohttp's connector asks its resolver (the public `aiohttp.abc.AbstractResolver` interface)
for a host's addresses whenever it opens a connection, then connects to what the resolver
returned, keeping the host name for the Host header, TLS SNI and the certificate check. So
the name is resolved once per connection, here: had the check resolved it and the connection
resolved it again, a hostile DNS server could answer a public address to the first and
127.0.0.1 or 169.254.169.254 to the second (DNS rebinding). The connector's DNS cache is off
(`transport.py`), so no address reaches a connection without passing through `resolve`.

A refusal raises `core.urls.UrlError`, which `send()` reports as "refused: ...". IP literals
in URLs never reach a resolver (aiohttp connects to them as written): `send()` vets those.
"""

from __future__ import annotations

import socket

from aiohttp import ThreadedResolver
from aiohttp.abc import AbstractResolver, ResolveResult

from hookline.core import urls


class VettingResolver(AbstractResolver):
    """aiohttp's threaded resolver (getaddrinfo), refusing hosts with a forbidden address."""

    def __init__(self, *, allow_private: bool) -> None:
        self.allow_private = allow_private
        self.inner = ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        if self.allow_private:  # dev: local receivers; a failed lookup is a connection error
            return await self.inner.resolve(host, port, family)
        try:
            found = await self.inner.resolve(host, port, family)
        except OSError as exc:  # socket.gaierror: no such name
            raise urls.UrlError(f"host {host} does not resolve") from exc
        if not found:
            raise urls.UrlError(f"host {host} does not resolve")
        # One forbidden answer refuses the host: the connector may try any of them.
        urls.vet_addresses(host, list(dict.fromkeys(result["host"] for result in found)))
        return found

    async def close(self) -> None:
        await self.inner.close()
