"""Deliveries keep and send no cookies: what one receiver sets never reaches the next
delivery (tenants may share a receiver's host)."""

from __future__ import annotations

import httpx

from hookline.activities.deps import delivery_transport
from hookline.core.config import Settings
from tests.support.receiver import Reply
from tests.support.send import post

SET_COOKIE = Reply(headers={"Set-Cookie": "session=tenant-a-secret; Path=/"})


async def test_a_cookie_set_by_a_receiver_is_not_sent_back(receiver):
    receiver.script("/hook", [SET_COOKIE, Reply()])
    async with delivery_transport(Settings(allow_private_urls=True)) as http:
        for n in range(2):
            result = await post(http, receiver.url("/hook"), n=n)
            assert result.status_code == 200
    _, second = receiver.for_path("/hook")
    assert "cookie" not in second.headers
    assert second.headers["user-agent"].startswith("hookline/")


async def test_a_client_with_a_cookie_jar_would_send_it_back(receiver):
    """The control: the scripted Set-Cookie does come back through a plain httpx client."""
    receiver.script("/hook", [SET_COOKIE, Reply()])
    async with httpx.AsyncClient() as http:
        for _ in range(2):
            (await http.post(receiver.url("/hook"), content=b"{}")).raise_for_status()
    assert receiver.for_path("/hook")[1].headers.get("cookie") == "session=tenant-a-secret"
