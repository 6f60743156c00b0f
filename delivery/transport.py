"""The one HTTP client of a process for all deliveries: an aiohttp session built from Settings.

aiohttp directly rather than httpx's client API over `httpx-aiohttp`: the same connections,
without the httpx layer's CPU per POST (docs/PERFORMANCE.md, "Delivery HTTP on aiohttp").

What the session does, and why:
- at most `max_concurrent_deliveries` connections, `max_requests_per_endpoint` per origin
  (HTTP/1.1: one request per connection, so that many requests in flight; the rest wait,
  within their timeout). It spares a receiver a flood when a fan-out or a backlog targets it.
- connects only to addresses `VettingResolver` vetted (SSRF, DNS rebinding); no DNS cache,
  so every new connection is vetted on a fresh lookup;
- no cookies kept or sent (`DummyCookieJar`): one receiver's cookie never reaches another
  delivery; no proxies from the environment; no `Accept-Encoding` asked, nothing decompressed:
  the excerpt is the bytes the receiver sent;
- keep-alive: a connection is reused for its origin (by host name, so one verified for one
  name never carries another's request) while the receiver allows it.
"""

from __future__ import annotations

import ssl

import aiohttp

from hookline.delivery.resolver import VettingResolver
from hookline.infra.config import Settings

USER_AGENT = "hookline/0.1 (+https://github.com/hookline/hookline)"


class DeliveryTransport:
    """The session and the policy it was built with; `aclose()` it once (at process exit)."""

    def __init__(self, settings: Settings, *, ssl_context: ssl.SSLContext | None = None) -> None:
        self.allow_private = settings.allow_private_urls
        connector = aiohttp.TCPConnector(
            limit=settings.max_concurrent_deliveries,
            limit_per_host=settings.max_requests_per_endpoint,
            resolver=VettingResolver(allow_private=self.allow_private),
            use_dns_cache=False,
            # None: the system's trust store, hostnames checked (aiohttp's default, True).
            ssl=ssl_context if ssl_context is not None else True,
        )
        self.session = aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),
            trust_env=False,
            auto_decompress=False,
            skip_auto_headers=("Accept-Encoding",),
            headers={"User-Agent": USER_AGENT},
            # send() bounds each attempt as a whole; no other limit of the session's own.
            timeout=aiohttp.ClientTimeout(total=None),
        )

    async def aclose(self) -> None:
        await self.session.close()

    async def __aenter__(self) -> DeliveryTransport:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


def delivery_transport(
    settings: Settings, *, ssl_context: ssl.SSLContext | None = None
) -> DeliveryTransport:
    """The process's delivery client (call it in the running event loop). `ssl_context`
    replaces the system's trust store, e.g. with a test CA."""
    return DeliveryTransport(settings, ssl_context=ssl_context)
