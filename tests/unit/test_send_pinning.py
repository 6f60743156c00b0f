"""send() connects only to addresses vetted for the webhook's host, through the resolver of
the delivery client (hookline.delivery.resolver), and keeps the host name for Host, TLS SNI
and the certificate check.

A hostile DNS server could otherwise answer a public address to the check and 127.0.0.1 or
169.254.169.254 to the connection (DNS rebinding). The names are made up
(``hooks.example.test``) and answered by a fake resolver on the event loop, the one aiohttp's
threaded resolver asks; every connection goes to 127.0.0.1 (or fails on 127.0.0.2), which the
delivery policy forbids, so the tests that must connect allow those addresses
(``loopback_is_public``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from hookline.core import signing, urls
from hookline.core.models import SendResult
from hookline.delivery.transport import DeliveryTransport, delivery_transport
from hookline.infra.config import Settings
from tests.support.receiver import HOST, Receiver, Reply
from tests.support.send import post

NAME = "hooks.example.test"
OTHER = "other.example.test"  # same address, but the certificate is not for it
SECRET = signing.new_secret()


class FakeDns:
    """Answers the names in ``answers`` from a script (the n-th lookup of a name gets its n-th
    answer, the last one repeats) and records every lookup of them; nothing else is expected."""

    def __init__(self, answers: dict[str, list[list[str]]]) -> None:
        self.answers = answers
        self.calls: list[str] = []

    async def getaddrinfo(self, host: str | bytes, port: int, **_: object) -> list[tuple]:
        name = host.decode("ascii") if isinstance(host, bytes) else host
        if name not in self.answers:
            raise socket.gaierror(socket.EAI_NONAME, f"fake DNS: no answer for {name}")
        self.calls.append(name)
        script = self.answers[name]
        answer = script[min(self.calls.count(name), len(script)) - 1]
        results = []
        for address in answer:
            if ":" in address:
                results.append((socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, port, 0, 0)))
            else:
                results.append((socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port)))
        return results


@pytest.fixture
async def dns(monkeypatch: pytest.MonkeyPatch) -> FakeDns:
    fake = FakeDns({})
    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", fake.getaddrinfo)
    return fake


PUBLIC_FOR_TESTS = ("127.0.0.1", "127.0.0.2")


@pytest.fixture
def loopback_is_public(monkeypatch: pytest.MonkeyPatch) -> None:
    """Test-only allow rule: 127.0.0.1 (the one address tests may reach) and 127.0.0.2
    (where nothing listens) count as public. Everything else in the policy stays (127.0.0.3,
    169.254.169.254... are still refused)."""
    real = urls._forbidden_kind
    monkeypatch.setattr(
        urls, "_forbidden_kind", lambda ip: None if str(ip) in PUBLIC_FOR_TESTS else real(ip)
    )


@pytest.fixture
async def http() -> AsyncIterator[DeliveryTransport]:
    """The delivery client as production builds it: private addresses refused."""
    async with delivery_transport(Settings(allow_private_urls=False)) as transport:
        yield transport


async def _send(http: DeliveryTransport, url: str, *, timeout: float = 5) -> SendResult:
    return await post(http, url, body=b'{"hello":"world"}', secret=SECRET, timeout=timeout)


# --------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    "answer",
    [
        ["127.0.0.1"],
        ["169.254.169.254"],
        ["93.184.216.34", "127.0.0.1"],  # one forbidden answer is enough
        ["::ffff:127.0.0.1"],
    ],
)
async def test_a_name_resolving_to_a_forbidden_address_is_refused_before_connecting(
    dns: FakeDns, receiver: Receiver, http: DeliveryTransport, answer: list[str]
) -> None:
    dns.answers[NAME] = [answer]
    result = await _send(http, f"http://{NAME}:{receiver.port}/hook")
    assert result.status_code is None
    assert result.error is not None
    assert result.error.startswith(f"refused: host {NAME} resolves to "), result.error
    assert dns.calls == [NAME]
    assert receiver.connections == 0 and receiver.total == 0


# --------------------------------------------------------------------------- pinning


async def test_the_request_goes_to_the_vetted_ip_with_the_original_host_header(
    dns: FakeDns, loopback_is_public: None, receiver: Receiver, http: DeliveryTransport
) -> None:
    dns.answers[NAME] = [["127.0.0.1"]]
    result = await _send(http, f"http://{NAME}:{receiver.port}/hook?x=1")
    assert result.error is None and result.status_code == 200 and result.body == "ok"
    [got] = receiver.requests
    assert got.method == "POST" and got.path == "/hook" and got.query == "x=1"
    assert got.headers["host"] == f"{NAME}:{receiver.port}"
    assert got.body == b'{"hello":"world"}'
    assert signing.verify_hex(SECRET, got.body, got.headers["x-webhook-signature"])
    assert dns.calls == [NAME]  # ours only: the transport connected to the vetted 127.0.0.1


async def test_a_second_answer_cannot_redirect_the_connection(
    dns: FakeDns, loopback_is_public: None, receiver: Receiver, http: DeliveryTransport
) -> None:
    # Rebinding: the first lookup answers a vetted address, every later one 127.0.0.3 (a
    # forbidden one; nothing listens there, so it stays on this host even if this regresses).
    # The receiver closes each connection, so every send needs a new one, and a lookup.
    receiver.default(Reply(headers={"Connection": "close"}))
    dns.answers[NAME] = [["127.0.0.1"], ["127.0.0.3"]]
    url = f"http://{NAME}:{receiver.port}/hook"
    first = await _send(http, url)
    assert first.error is None and first.status_code == 200
    assert dns.calls == [NAME]  # exactly one lookup per connection
    assert receiver.requests[0].headers["host"] == f"{NAME}:{receiver.port}"
    # The next connection looks the name up again (once) and vets what it gets now.
    second = await _send(http, url)
    assert second.error == f"refused: host {NAME} resolves to 127.0.0.3, a loopback address"
    assert dns.calls == [NAME, NAME]
    assert receiver.total == 1 and receiver.connections == 1


async def test_a_kept_alive_connection_goes_on_to_the_address_it_was_vetted_for(
    dns: FakeDns, loopback_is_public: None, receiver: Receiver, http: DeliveryTransport
) -> None:
    # No lookup for a reused connection: it was made to a vetted address, and what the name
    # resolves to now cannot move it.
    dns.answers[NAME] = [["127.0.0.1"], ["127.0.0.3"]]
    url = f"http://{NAME}:{receiver.port}/hook"
    results = [await _send(http, url) for _ in range(3)]
    assert [r.status_code for r in results] == [200] * 3
    assert dns.calls == [NAME] and receiver.connections == 1


async def test_allow_private_connects_to_private_answers(dns: FakeDns, receiver: Receiver) -> None:
    dns.answers[NAME] = [["127.0.0.1"]]
    async with delivery_transport(Settings(allow_private_urls=True)) as http:
        result = await _send(http, f"http://{NAME}:{receiver.port}/hook")
    assert result.error is None and result.status_code == 200
    assert receiver.requests[0].headers["host"] == f"{NAME}:{receiver.port}"
    assert dns.calls == [NAME]


async def test_ip_literals_are_vetted_too(http: DeliveryTransport, receiver: Receiver) -> None:
    # No resolver sees a literal: send() vets it itself.
    for host in ("127.0.0.1", "[::ffff:127.0.0.1]", "[fe80::1%25lo]"):
        result = await _send(http, f"http://{host}:{receiver.port}/hook")
        assert result.error is not None and result.error.startswith("refused: host "), result
        assert "a loopback address" in result.error or "a link-local address" in result.error
    # Forms that socket would map onto 127.0.0.1 are not addresses hookline connects to.
    for host in ("2130706433", "127.1", "0x7f.1"):
        result = await _send(http, f"http://{host}:{receiver.port}/hook")
        assert result.error is not None and result.error.startswith("refused: "), result
    assert receiver.connections == 0


async def test_the_port_policy_holds_at_delivery_too(
    dns: FakeDns, loopback_is_public: None, http: DeliveryTransport
) -> None:
    # A webhook saved before the policy (or written into the store by hand) gets no POST to
    # another protocol's port: refused before any lookup or connection, not retried.
    for port in (22, 25, 6667):
        result = await _send(http, f"https://{NAME}:{port}/hook")
        assert result.error is not None and result.error.startswith(f"refused: port {port}"), result
    assert dns.calls == []


# --------------------------------------------------------------------------- several addresses


async def test_a_refused_connection_moves_on_to_the_next_vetted_address(
    dns: FakeDns, loopback_is_public: None, receiver: Receiver, http: DeliveryTransport
) -> None:
    dns.answers[NAME] = [["127.0.0.2", "127.0.0.1"]]  # nothing listens on 127.0.0.2
    result = await _send(http, f"http://{NAME}:{receiver.port}/hook")
    assert result.error is None and result.status_code == 200
    assert dns.calls == [NAME] and receiver.connections == 1


async def test_when_every_address_is_down_it_is_a_connection_error(
    dns: FakeDns, loopback_is_public: None, receiver: Receiver, http: DeliveryTransport
) -> None:
    dns.answers[NAME] = [["127.0.0.2"]]
    result = await _send(http, f"http://{NAME}:{receiver.port}/hook")
    assert result.status_code is None and result.error is not None
    assert result.error.startswith("connection error:") and "127.0.0.2" in result.error
    assert receiver.connections == 0


async def test_one_forbidden_answer_among_several_refuses_the_host(
    dns: FakeDns, loopback_is_public: None, receiver: Receiver, http: DeliveryTransport
) -> None:
    dns.answers[NAME] = [["127.0.0.1", "10.0.0.7"]]
    result = await _send(http, f"http://{NAME}:{receiver.port}/hook")
    assert result.error == f"refused: host {NAME} resolves to 10.0.0.7, a private address"
    assert receiver.connections == 0


# --------------------------------------------------------------------------- TLS


@dataclass
class Pki:
    ca_pem: bytes
    cert_file: Path
    key_file: Path


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A CA and a certificate for NAME only (no IP address in it)."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hookline test CA")])
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, NAME)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(NAME)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("pki")
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return Pki(ca.public_bytes(serialization.Encoding.PEM), cert_file, key_file)


class TlsReceiver(Receiver):
    """The test receiver behind TLS on 127.0.0.1; records the SNI name of each handshake."""

    def __init__(self, pki: Pki) -> None:
        super().__init__()
        self.server_names: list[str | None] = []
        self._tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._tls.load_cert_chain(pki.cert_file, pki.key_file)
        self._tls.sni_callback = lambda _sock, name, _ctx: self.server_names.append(name)

    async def start(self, port: int = 0) -> None:
        self._server = await asyncio.start_server(self._serve_connection, HOST, port, ssl=self._tls)
        self._port = self._server.sockets[0].getsockname()[1]


@pytest.fixture
async def tls_receiver(pki: Pki) -> AsyncIterator[TlsReceiver]:
    async with TlsReceiver(pki) as rx:
        yield rx


@pytest.fixture
async def https(pki: Pki) -> AsyncIterator[DeliveryTransport]:
    """Trusts the test CA (instead of the system's), verifies hostnames as in production."""
    context = ssl.create_default_context(cadata=pki.ca_pem.decode("ascii"))
    settings = Settings(allow_private_urls=False)
    async with delivery_transport(settings, ssl_context=context) as transport:
        yield transport


async def test_https_sends_the_original_name_as_sni_and_verifies_the_certificate_for_it(
    dns: FakeDns,
    loopback_is_public: None,
    tls_receiver: TlsReceiver,
    https: DeliveryTransport,
) -> None:
    # The certificate names NAME, not 127.0.0.1: it verifies only against the original host.
    dns.answers[NAME] = [["127.0.0.1"]]
    result = await _send(https, f"https://{NAME}:{tls_receiver.port}/hook")
    assert result.error is None and result.status_code == 200
    assert tls_receiver.server_names == [NAME]
    [got] = tls_receiver.requests
    assert got.headers["host"] == f"{NAME}:{tls_receiver.port}"
    assert dns.calls == [NAME]


async def test_https_to_a_name_the_certificate_does_not_cover_fails_verification(
    dns: FakeDns,
    loopback_is_public: None,
    tls_receiver: TlsReceiver,
    https: DeliveryTransport,
) -> None:
    dns.answers[OTHER] = [["127.0.0.1"]]
    result = await _send(https, f"https://{OTHER}:{tls_receiver.port}/hook")
    assert result.status_code is None and result.error is not None
    assert result.error.startswith("connection error:"), result.error
    assert "CERTIFICATE_VERIFY_FAILED" in result.error and OTHER in result.error
    assert tls_receiver.server_names == [OTHER] and tls_receiver.total == 0


async def test_a_connection_verified_for_one_name_is_not_reused_for_another(
    dns: FakeDns,
    loopback_is_public: None,
    tls_receiver: TlsReceiver,
    https: DeliveryTransport,
) -> None:
    # Two names at one address: the pool keys connections by name, so NAME's kept-alive
    # connection serves NAME again (no new handshake) but never carries OTHER's request.
    dns.answers[NAME] = [["127.0.0.1"]]
    dns.answers[OTHER] = [["127.0.0.1"]]
    first = await _send(https, f"https://{NAME}:{tls_receiver.port}/hook")
    other = await _send(https, f"https://{OTHER}:{tls_receiver.port}/hook")
    again = await _send(https, f"https://{NAME}:{tls_receiver.port}/hook")
    assert first.status_code == 200 and again.status_code == 200
    assert other.status_code is None and other.error is not None
    assert "CERTIFICATE_VERIFY_FAILED" in other.error
    assert tls_receiver.server_names == [NAME, OTHER]  # NAME's second send: keep-alive
    assert tls_receiver.connections == 1  # both of NAME's; OTHER's failed its handshake
    assert [r.headers["host"] for r in tls_receiver.requests] == [
        f"{NAME}:{tls_receiver.port}",
        f"{NAME}:{tls_receiver.port}",
    ]
    assert dns.calls == [NAME, OTHER]  # one lookup per connection made
