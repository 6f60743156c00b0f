"""The one HTTP client of a process for all deliveries: an aiohttp session built from Settings.

aiohttp directly rather than httpx's client API over `httpx-aiohttp`: the same connections,
without the httpx layer's CPU per POST (docs/PERFORMANCE.md, "Delivery HTTP on aiohttp").

What the session does, and why:
- at most `max_concurrent_deliveries` connections (HTTP/1.1: one request per connection, so
  that many requests in flight; the rest wait for one). The wait is hookline's, not the
  receiver's: it does not use up the attempt's timeout, and is itself bounded by it
  (`send()`), so one tenant's hanging receivers holding every connection of a process
  delay another's deliveries there but never fail them as timeouts. No limit per origin by
  default (`max_requests_per_endpoint` 0): an origin often serves many webhooks of many
  tenants, and a limit there was capacity one tenant's hanging webhooks could take from the
  others on it. A receiver is spared a flood by each webhook's in-flight cap (admission).
- connects only to addresses `VettingResolver` vetted (SSRF, DNS rebinding); no DNS cache,
  so every new connection is vetted on a fresh lookup;
- no cookies kept or sent (`DummyCookieJar`): one receiver's cookie never reaches another
  delivery; no proxies from the environment; no `Accept-Encoding` asked, nothing decompressed:
  the excerpt is the bytes the receiver sent;
- keep-alive: a connection is reused for its origin (by host name, so one verified for one
  name never carries another's request) while the receiver allows it.

With `HOOKLINE_DELIVERY_PROXY` every request goes through that HTTP proxy (a static egress IP
receivers can allow-list): https in a CONNECT tunnel (TLS end to end with the receiver), http
in absolute form. The proxy's credentials are sent as Proxy-Authorization to the proxy only
(in the CONNECT request; for http, in the request the proxy takes off), never to a receiver,
never logged: the URL kept here has none, `proxy_shown` masks the password. `send.py` says
how the SSRF rules hold through it.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from types import SimpleNamespace

import aiohttp
from yarl import URL

from hookline.delivery.resolver import VettingResolver
from hookline.infra.config import Settings

USER_AGENT = "hookline/0.1 (+https://github.com/hookline/hookline)"

log = logging.getLogger("hookline.delivery")


class DeliveryTransport:
    """The session and the policy it was built with; `aclose()` it once (at process exit)."""

    def __init__(self, settings: Settings, *, ssl_context: ssl.SSLContext | None = None) -> None:
        self.allow_private = settings.allow_private_urls
        self.connections = settings.max_concurrent_deliveries
        proxy = settings.delivery_proxy_url
        # The proxy without credentials, and the Proxy-Authorization value (None: no proxy, or
        # no credentials); `send()` passes both with each request.
        self.proxy: str | None = proxy.url if proxy else None
        self.proxy_authorization: str | None = None
        self.proxy_shown: str | None = proxy.shown if proxy else None
        if proxy is not None and proxy.user is not None:
            self.proxy_authorization = aiohttp.encode_basic_auth(proxy.user, proxy.password or "")
        if proxy is not None:
            log.info("deliveries go through the egress proxy %s", proxy.shown)
        connector = aiohttp.TCPConnector(
            limit=settings.max_concurrent_deliveries,
            limit_per_host=settings.max_requests_per_endpoint,
            resolver=VettingResolver(
                allow_private=self.allow_private,
                proxy_host=URL(proxy.url).raw_host if proxy else None,
            ),
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
            trace_configs=[_queue_clock()],
        )

    async def aclose(self) -> None:
        await self.session.close()

    async def __aenter__(self) -> DeliveryTransport:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


class QueueWait(SimpleNamespace):
    """Passed with one request (`trace_request_ctx`): the seconds it waited for a connection
    slot of the session, which is hookline's queueing, not the receiver's time; whether it
    waits now; and the attempt's deadline, moved later by each wait once it ends."""

    seconds: float = 0.0
    since: float = 0.0
    waiting: bool = False
    deadline: asyncio.Timeout | None = None


def _queue_clock() -> aiohttp.TraceConfig:
    trace = aiohttp.TraceConfig()

    async def queued(_session, context, _params) -> None:
        if isinstance(context.trace_request_ctx, QueueWait):
            context.trace_request_ctx.since = time.perf_counter()
            context.trace_request_ctx.waiting = True

    async def dequeued(_session, context, _params) -> None:
        wait = context.trace_request_ctx
        if isinstance(wait, QueueWait):
            waited = time.perf_counter() - wait.since
            wait.seconds += waited
            wait.waiting = False
            when = wait.deadline.when() if wait.deadline is not None else None
            if when is not None:  # the receiver's time starts now
                wait.deadline.reschedule(when + waited)

    trace.on_connection_queued_start.append(queued)
    trace.on_connection_queued_end.append(dequeued)
    return trace


def delivery_transport(
    settings: Settings, *, ssl_context: ssl.SSLContext | None = None
) -> DeliveryTransport:
    """The process's delivery client (call it in the running event loop). `ssl_context`
    replaces the system's trust store, e.g. with a test CA."""
    return DeliveryTransport(settings, ssl_context=ssl_context)
