"""Deliveries through an egress proxy (HOOKLINE_DELIVERY_PROXY), with the SSRF rules kept.

The proxy is a real forwarding proxy on 127.0.0.1 (tests/support/egress_proxy.py). Webhook
names are made up and answered by a fake DNS on the event loop; they resolve to a public
address (PUBLIC), which the proxy, a stand-in for the internet, reaches at 127.0.0.1 on the
port asked for. So the delivery policy runs as in production (private addresses refused)
and every connection still stays on this machine.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import socket
import ssl
from collections.abc import AsyncIterator
from urllib.parse import quote

import pytest

from hookline.core import retry, signing
from hookline.core.models import SendResult
from hookline.delivery.transport import DeliveryTransport, delivery_transport
from hookline.infra.config import Settings
from tests.support.dns import StaticDns
from tests.support.egress_proxy import EgressProxy
from tests.support.receiver import Receiver
from tests.support.send import post
from tests.unit import test_send_pinning as pinning

NAME = "hooks.example.test"
PROXY_NAME = "proxy.example.test"
PUBLIC = "93.184.216.34"  # answered for NAME; the proxy reaches it at 127.0.0.1
SECRET = signing.new_secret()
BODY = b'{"hello":"world"}'
USER, PASSWORD = "hookline", "pa:ss@w/rd"  # URL-encoded in the setting
BASIC = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode("ascii")

pki = pinning.pki  # a CA and a certificate for NAME only
tls_receiver = pinning.tls_receiver  # TLS on 127.0.0.1, recording each handshake's SNI


@pytest.fixture
async def dns(monkeypatch: pytest.MonkeyPatch) -> StaticDns:
    fake = StaticDns({})
    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", fake.getaddrinfo)
    return fake


@pytest.fixture
async def proxy() -> AsyncIterator[EgressProxy]:
    async with EgressProxy(credentials=(USER, PASSWORD), internet_at_loopback=True) as p:
        yield p


def proxy_setting(proxy: EgressProxy, host: str = "127.0.0.1") -> str:
    return f"http://{USER}:{quote(PASSWORD, safe='')}@{host}:{proxy.port}"


def settings(proxy_url: str, *, allow_private: bool = False) -> Settings:
    return Settings(allow_private_urls=allow_private, delivery_proxy=proxy_url)


async def _send(http: DeliveryTransport, url: str) -> SendResult:
    return await post(http, url, body=BODY, secret=SECRET)


def _signed(body: bytes, headers: dict[str, str]) -> bool:
    return signing.verify_hex(SECRET, body, headers["x-webhook-signature"])


# --------------------------------------------------------------------------- through the proxy


async def test_https_goes_through_a_connect_tunnel_to_the_vetted_address(
    dns: StaticDns, proxy: EgressProxy, tls_receiver: pinning.TlsReceiver, pki: pinning.Pki
) -> None:
    dns.answers[NAME] = [PUBLIC]
    trust = ssl.create_default_context(cadata=pki.ca_pem.decode("ascii"))
    async with delivery_transport(settings(proxy_setting(proxy)), ssl_context=trust) as http:
        result = await _send(http, f"https://{NAME}:{tls_receiver.port}/hook")
    assert result.error is None and result.status_code == 200, result
    # The proxy was asked for the address hookline vetted, never for the name, and got the
    # credentials; nothing of them entered the tunnel.
    [asked] = proxy.requests
    assert asked.method == "CONNECT" and asked.target == f"{PUBLIC}:{tls_receiver.port}"
    assert asked.headers["proxy-authorization"] == BASIC
    # TLS end to end: SNI and the certificate (for NAME only) checked against the name.
    assert tls_receiver.server_names == [NAME]
    [got] = tls_receiver.requests
    assert got.headers["host"] == f"{NAME}:{tls_receiver.port}"
    assert "proxy-authorization" not in got.headers
    assert got.body == BODY and _signed(got.body, got.headers)
    assert dns.calls == [NAME]  # hookline's one lookup; the proxy's host is an address


async def test_http_goes_in_absolute_form_to_the_vetted_address(
    dns: StaticDns, proxy: EgressProxy, receiver: Receiver
) -> None:
    dns.answers[NAME] = [PUBLIC]
    async with delivery_transport(settings(proxy_setting(proxy))) as http:
        result = await _send(http, f"http://{NAME}:{receiver.port}/hook?x=1")
    assert result.error is None and result.status_code == 200, result
    [asked] = proxy.requests
    assert asked.method == "POST"
    assert asked.target == f"http://{PUBLIC}:{receiver.port}/hook?x=1"
    assert asked.headers["host"] == f"{NAME}:{receiver.port}"
    assert asked.headers["proxy-authorization"] == BASIC
    [got] = receiver.requests
    assert got.path == "/hook" and got.query == "x=1"
    assert got.headers["host"] == f"{NAME}:{receiver.port}"
    assert "proxy-authorization" not in got.headers  # hop-by-hop: the proxy took it off
    assert got.body == BODY and _signed(got.body, got.headers)


async def test_the_proxy_named_by_a_private_name_is_reached(
    dns: StaticDns, proxy: EgressProxy, receiver: Receiver
) -> None:
    # The proxy's host is the operator's choice: resolved, not vetted (it is usually on a
    # private network); webhook hosts still are.
    dns.answers[PROXY_NAME] = ["127.0.0.1"]
    dns.answers[NAME] = [PUBLIC]
    async with delivery_transport(settings(proxy_setting(proxy, PROXY_NAME))) as http:
        result = await _send(http, f"http://{NAME}:{receiver.port}/hook")
        assert result.error is None and result.status_code == 200, result
        dns.answers[NAME] = ["10.0.0.7"]
        refused = await _send(http, f"http://{NAME}:{receiver.port}/hook")
    assert refused.error == f"refused: host {NAME} resolves to 10.0.0.7, a private address"
    assert sorted(dns.calls) == sorted([NAME, PROXY_NAME, NAME])
    assert len(proxy.requests) == 1 and receiver.total == 1


async def test_with_private_urls_allowed_the_proxy_is_given_the_name(
    dns: StaticDns, receiver: Receiver
) -> None:
    # Dev: nothing is vetted, so nothing is resolved here; the proxy resolves the name.
    async with EgressProxy(names={NAME: "127.0.0.1"}) as proxy:
        setting = proxy.url()
        async with delivery_transport(settings(setting, allow_private=True)) as http:
            result = await _send(http, f"http://{NAME}:{receiver.port}/hook")
    assert result.error is None and result.status_code == 200, result
    [asked] = proxy.requests
    assert asked.target == f"http://{NAME}:{receiver.port}/hook"
    assert "proxy-authorization" not in asked.headers  # none configured
    assert dns.calls == []
    [got] = receiver.requests
    assert got.headers["host"] == f"{NAME}:{receiver.port}" and _signed(got.body, got.headers)


# --------------------------------------------------------------------------- SSRF


@pytest.mark.parametrize(
    "answer",
    [["127.0.0.1"], ["169.254.169.254"], [PUBLIC, "10.0.0.7"], ["::ffff:127.0.0.1"]],
)
async def test_a_name_resolving_to_a_forbidden_address_is_refused_before_the_proxy(
    dns: StaticDns, proxy: EgressProxy, receiver: Receiver, answer: list[str]
) -> None:
    dns.answers[NAME] = answer
    async with delivery_transport(settings(proxy_setting(proxy))) as http:
        for scheme in ("https", "http"):
            result = await _send(http, f"{scheme}://{NAME}:{receiver.port}/hook")
            assert result.status_code is None and result.error is not None
            assert result.error.startswith(f"refused: host {NAME} resolves to "), result.error
    assert proxy.connections == 0 and proxy.requests == []
    assert receiver.connections == 0


async def test_forbidden_literals_and_ports_are_refused_before_the_proxy(
    dns: StaticDns, proxy: EgressProxy
) -> None:
    dns.answers[NAME] = [PUBLIC]
    urls = [
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]:8443/hook",
        "https://10.1.2.3/hook",
        f"https://{NAME}:25/hook",
    ]
    async with delivery_transport(settings(proxy_setting(proxy))) as http:
        results = [await _send(http, url) for url in urls]
    assert all(r.error is not None and r.error.startswith("refused: ") for r in results), results
    assert proxy.connections == 0


# --------------------------------------------------------------------------- failures


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_proxy_down_is_a_connection_error_and_retried(dns: StaticDns) -> None:
    dns.answers[NAME] = [PUBLIC]
    setting = f"http://{USER}:{quote(PASSWORD, safe='')}@127.0.0.1:{_free_port()}"
    async with delivery_transport(settings(setting)) as http:
        results = [await _send(http, f"{s}://{NAME}:8443/hook") for s in ("https", "http")]
    for result in results:
        assert result.status_code is None and result.error is not None
        assert result.error.startswith("connection error: the egress proxy: "), result.error
        assert PASSWORD not in result.error and quote(PASSWORD, safe="") not in result.error
        decision = retry.decide(result.status_code, 1, Settings().retry_spec())
        assert decision.outcome is retry.Outcome.RETRY


async def test_credentials_the_proxy_refuses_are_a_proxy_error_and_retried(
    dns: StaticDns, proxy: EgressProxy, receiver: Receiver
) -> None:
    dns.answers[NAME] = [PUBLIC]
    wrong = f"http://{USER}:nope@127.0.0.1:{proxy.port}"
    async with delivery_transport(settings(wrong)) as http:
        result = await _send(http, f"https://{NAME}:{receiver.port}/hook")
    assert result.status_code is None
    assert result.error == "proxy error: the egress proxy answered 407 " + (
        "Proxy Authentication Required"
    )
    assert retry.decide(None, 1, Settings().retry_spec()).outcome is retry.Outcome.RETRY
    [asked] = proxy.requests
    assert asked.headers["proxy-authorization"] == "Basic " + base64.b64encode(
        f"{USER}:nope".encode()
    ).decode("ascii")
    assert receiver.connections == 0


# --------------------------------------------------------------------------- the setting


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("https://u:hunter2@proxy.internal:3128", "must be an http:// URL"),
        ("http://u:hunter2@proxy.internal", "needs a port"),
        ("http://u:hunter2@proxy.internal:3128/path", "no path or query"),
        ("http://u:hunter2@:3128", "not a URL"),
        ("http:", "has no host"),
        ("http://u:hunter2@proxy.internal:99999", "not a URL"),
        ("socks5://u:hunter2@proxy.internal:1080", "must be an http:// URL"),
        ("http://u%3Ax:hunter2@proxy.internal:3128", "may not contain a colon"),
    ],
)
def test_the_setting_is_checked_at_start_without_showing_the_password(
    value: str, message: str
) -> None:
    with pytest.raises(ValueError, match="delivery_proxy") as caught:
        Settings(delivery_proxy=value)
    assert message in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_the_setting_is_shown_masked() -> None:
    value = "http://hookline:hunter2@proxy.internal:3128"
    configured = Settings(delivery_proxy=value)
    assert "hunter2" not in repr(configured) and "hunter2" not in str(configured)
    parsed = configured.delivery_proxy_url
    assert parsed is not None
    assert parsed.url == "http://proxy.internal:3128"
    assert parsed.shown == "http://hookline:***@proxy.internal:3128"
    assert (parsed.user, parsed.password) == ("hookline", "hunter2")
    assert Settings(delivery_proxy=" ").delivery_proxy is None  # Compose's ${VAR:-}


async def test_the_transport_logs_the_proxy_masked(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="hookline.delivery")
    async with delivery_transport(
        Settings(delivery_proxy="http://hookline:hunter2@127.0.0.1:3128")
    ) as http:
        assert http.proxy == "http://127.0.0.1:3128"
        assert http.proxy_shown == "http://hookline:***@127.0.0.1:3128"
    assert "http://hookline:***@127.0.0.1:3128" in caplog.text
    assert "hunter2" not in caplog.text
