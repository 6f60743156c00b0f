"""Deliveries keep and send no cookies, and take no proxy from the environment: what one
receiver sets never reaches the next delivery (tenants may share a receiver's host), and a
delivery goes to the webhook's host, not wherever HTTP_PROXY points."""

from __future__ import annotations

import aiohttp
import pytest

from hookline.delivery.transport import delivery_transport
from hookline.infra.config import Settings
from tests.support.receiver import Receiver, Reply
from tests.support.send import post

SET_COOKIE = Reply(headers={"Set-Cookie": "session=tenant-a-secret; Path=/"})


def by_name(receiver: Receiver) -> str:
    """The receiver's URL by host name: cookie jars keep no cookie of an IP address."""
    return f"http://localhost:{receiver.port}/hook"


async def test_a_cookie_set_by_a_receiver_is_not_sent_back(receiver):
    receiver.script("/hook", [SET_COOKIE, Reply()])
    async with delivery_transport(Settings(allow_private_urls=True)) as http:
        for n in range(2):
            result = await post(http, by_name(receiver), n=n)
            assert result.status_code == 200
    _, second = receiver.for_path("/hook")
    assert "cookie" not in second.headers
    assert second.headers["user-agent"].startswith("hookline/")


async def test_a_client_with_a_cookie_jar_would_send_it_back(receiver):
    """The control: the scripted Set-Cookie does come back through a default session."""
    receiver.script("/hook", [SET_COOKIE, Reply()])
    async with aiohttp.ClientSession() as http:
        for _ in range(2):
            async with http.post(by_name(receiver), data=b"{}") as reply:
                reply.raise_for_status()
    assert receiver.for_path("/hook")[1].headers.get("cookie") == "session=tenant-a-secret"


@pytest.fixture
async def proxy(monkeypatch: pytest.MonkeyPatch):
    """A receiver posing as the environment's HTTP proxy."""
    async with Receiver() as rx:
        for name in ("HTTP_PROXY", "http_proxy"):
            monkeypatch.setenv(name, f"http://127.0.0.1:{rx.port}")
        for name in ("NO_PROXY", "no_proxy"):
            monkeypatch.delenv(name, raising=False)
        yield rx


async def test_proxies_from_the_environment_are_ignored(receiver, proxy):
    async with delivery_transport(Settings(allow_private_urls=True)) as http:
        result = await post(http, receiver.url("/hook"))
    assert result.status_code == 200 and receiver.total == 1 and proxy.total == 0


async def test_a_client_trusting_the_environment_would_use_the_proxy(receiver, proxy):
    """The control: the environment does name a proxy that a trusting client would use."""
    async with aiohttp.ClientSession(trust_env=True) as http:
        async with http.post(receiver.url("/hook"), data=b"{}") as reply:
            assert reply.status == 200
    assert proxy.total == 1 and receiver.total == 0


async def test_the_worker_closes_its_delivery_client(tmp_path):
    """An aiohttp session left open warns "Unclosed client session" at exit."""
    from hookline.process import process_resources

    settings = Settings(data_dir=tmp_path, allow_private_urls=True)
    async with process_resources(settings, runs_workflows=True) as process:
        deps = process.deps
        session = deps.http.session
        assert not session.closed
    assert session.closed
