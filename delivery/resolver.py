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

Through an egress proxy (`HOOKLINE_DELIVERY_PROXY`) the connector connects only to the proxy:
its host, which the operator chose, is the one name resolved here without vetting (it is
usually a private address). `send()` then vets each webhook's host with `resolve_vetted`
before the proxy is asked, and asks it for a vetted address, not the name (`send.py`).
"""

from __future__ import annotations

import asyncio
import socket

import httpx
from aiohttp import ThreadedResolver
from aiohttp.abc import AbstractResolver, ResolveResult

from hookline.core import urls


class VettingResolver(AbstractResolver):
    """aiohttp's threaded resolver (getaddrinfo), refusing hosts with a forbidden address."""

    def __init__(self, *, allow_private: bool, proxy_host: str | None = None) -> None:
        self.allow_private = allow_private
        self.proxy_host = proxy_host  # the egress proxy's host: the operator's, not vetted
        self.inner = ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        if self.allow_private or host == self.proxy_host:
            # dev: local receivers; or the proxy. A failed lookup is a connection error.
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


async def resolve_vetted(url: str, *, allow_private: bool) -> list[str]:
    """Resolve the URL's host once; return its addresses (resolver order, no duplicates), or
    raise ``urls.UrlError`` if it does not resolve or, unless ``allow_private``, if ANY of them is
    forbidden (DNS can change after saving).

    The name resolved is the one httpx would connect to (IDNA 2008, lowercase), so that the
    addresses vetted here belong to the name sent in ``Host`` and SNI. Connect to these
    addresses (``hookline.delivery.resolver`` does): resolving again could give another answer.
    Only the host is looked at: run ``validate_webhook_url`` as well.
    """
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, UnicodeError) as exc:
        raise urls.UrlError(f"url is not valid: {exc}") from exc
    host = parsed.raw_host.decode("ascii")
    if not host:
        raise urls.UrlError("url must have a host")
    port = parsed.port
    if port is None:
        port = 80 if parsed.scheme == "http" else 443
    elif not 1 <= port <= 65535:  # httpx.URL accepts any integer
        raise urls.UrlError(f"url is not valid: port {port} out of range 1-65535")
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:  # socket.gaierror is an OSError
        raise urls.UrlError(f"host {host} does not resolve") from exc
    addresses = list(dict.fromkeys(str(sockaddr[0]) for *_, sockaddr in infos))
    if not addresses:
        raise urls.UrlError(f"host {host} does not resolve")
    if not allow_private:
        urls.vet_addresses(host, addresses)
    return addresses


async def check_resolved_host(url: str, *, allow_private: bool) -> None:
    """``resolve_vetted`` without the addresses: refuse the URL's host if it does not resolve
    or, unless ``allow_private``, if any of its addresses is forbidden."""
    await resolve_vetted(url, allow_private=allow_private)
