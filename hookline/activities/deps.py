"""What activities share in one worker process: settings, the store, one HTTP client."""

from __future__ import annotations

from dataclasses import dataclass, field
from http.cookiejar import CookieJar

import httpx

from hookline.activities.endpoints import EndpointLimits
from hookline.activities.pinning import PinningTransport
from hookline.core.config import Settings
from hookline.core.crypto import SecretBox
from hookline.core.store import Store


@dataclass
class Deps:
    settings: Settings
    store: Store
    http: httpx.AsyncClient
    secrets: SecretBox
    endpoints: EndpointLimits = field(init=False)

    def __post_init__(self) -> None:
        self.endpoints = EndpointLimits(self.settings.max_requests_per_endpoint)


class NoCookies(CookieJar):
    """Deliveries neither keep nor send cookies: a cookie one receiver sets must never reach
    another delivery (tenants may share a receiver's host)."""

    def extract_cookies(self, response, request) -> None:
        return None

    def add_cookie_header(self, request) -> None:
        return None


def http_client(settings: Settings) -> httpx.AsyncClient:
    """One pooled client for all deliveries; never follows redirects (a 3xx is an answer)."""
    limit = settings.max_concurrent_deliveries
    return httpx.AsyncClient(
        # Connects only to the addresses send() vetted for the host (DNS rebinding).
        transport=PinningTransport(
            limits=httpx.Limits(max_connections=limit, max_keepalive_connections=min(limit, 50)),
            trust_env=False,
        ),
        follow_redirects=False,
        timeout=httpx.Timeout(settings.delivery_timeout.total_seconds()),
        headers={"User-Agent": "hookline/0.1 (+https://github.com/hookline/hookline)"},
        cookies=NoCookies(),
        trust_env=False,
    )
