"""The delivery HTTP client keeps no cookies: what one receiver sets never reaches the next
delivery (tenants may share a receiver's host)."""

from __future__ import annotations

import httpx

from hookline.activities.deps import http_client
from hookline.core.config import Settings
from tests.support.receiver import Reply

SET_COOKIE = Reply(headers={"Set-Cookie": "session=tenant-a-secret; Path=/"})


async def _two_posts(http: httpx.AsyncClient, receiver) -> None:
    receiver.script("/hook", [SET_COOKIE, Reply()])
    for _ in range(2):
        (await http.post(receiver.url("/hook"), content=b"{}")).raise_for_status()


async def test_a_cookie_set_by_a_receiver_is_not_sent_back(receiver):
    http = http_client(Settings(allow_private_urls=True))
    try:
        await _two_posts(http, receiver)
    finally:
        await http.aclose()
    first, second = receiver.for_path("/hook")
    assert "cookie" not in second.headers
    assert len(http.cookies) == 0


async def test_a_default_httpx_client_would_send_it_back(receiver):
    """The control: the scripted Set-Cookie does come back through a plain client."""
    async with httpx.AsyncClient() as http:
        await _two_posts(http, receiver)
    assert receiver.for_path("/hook")[1].headers.get("cookie") == "session=tenant-a-secret"
