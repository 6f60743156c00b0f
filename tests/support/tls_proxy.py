"""A TLS-terminating proxy in front of the dev server (which has no TLS flags), for mTLS tests.

It requires a client certificate signed by its CA (`CERT_REQUIRED`), speaks ALPN h2 as a
Temporal frontend does, and forwards the decrypted bytes to the plain dev server. The test CA,
server and client certificates are made here with `cryptography`.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ipaddress
import ssl
import threading
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _write(path: Path, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> None:
    path.with_suffix(".crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    path.with_suffix(".key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def _cert(subject, issuer, issuer_key, public_key, *, ca: bool, usage=None, sans=None):
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if usage:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def make_ca(directory: Path, name: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _cert(_name(name), _name(name), key, key.public_key(), ca=True)
    _write(directory / name, cert, key)
    return cert, key


def issue(directory: Path, name: str, ca, *, server: bool) -> None:
    ca_cert, ca_key = ca
    key = ec.generate_private_key(ec.SECP256R1())
    sans = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    cert = _cert(
        _name(name),
        ca_cert.subject,
        ca_key,
        key.public_key(),
        ca=False,
        usage=ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH,
        sans=sans if server else None,
    )
    _write(directory / name, cert, key)


@dataclass
class Pki:
    """test-ca.crt signs server.crt and client.crt; other-ca.crt signs nothing here."""

    directory: Path

    def __post_init__(self) -> None:
        ca = make_ca(self.directory, "test-ca")
        make_ca(self.directory, "other-ca")
        issue(self.directory, "server", ca, server=True)
        issue(self.directory, "client", ca, server=False)

    def path(self, name: str) -> Path:
        return self.directory / name


@dataclass
class TlsProxy:
    """127.0.0.1:<port> with mTLS, forwarding to `target_port`; runs in a thread of its own
    (the test's own loop may block while it waits for subprocesses)."""

    pki: Pki
    target_port: int
    port: int = 0
    verified_clients: int = 0  # handshakes that presented a certificate signed by the CA
    _loop: asyncio.AbstractEventLoop = field(default_factory=asyncio.new_event_loop)
    _thread: threading.Thread | None = None

    def _context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.pki.path("server.crt"), self.pki.path("server.key"))
        context.load_verify_locations(self.pki.path("test-ca.crt"))
        context.verify_mode = ssl.CERT_REQUIRED
        context.set_alpn_protocols(["h2"])
        return context

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while chunk := await reader.read(65536):
                writer.write(chunk)
                await writer.drain()
        with contextlib.suppress(ConnectionError, OSError, RuntimeError):
            writer.close()

    async def _handle(self, reader, writer) -> None:
        if writer.get_extra_info("peercert"):
            self.verified_clients += 1
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    def __enter__(self) -> TlsProxy:
        started = threading.Event()

        async def serve() -> None:
            self._server = await asyncio.start_server(
                self._handle, "127.0.0.1", 0, ssl=self._context()
            )
            self.port = self._server.sockets[0].getsockname()[1]
            started.set()

        def run() -> None:
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(serve())
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name="tls-proxy", daemon=True)
        self._thread.start()
        started.wait(10)
        return self

    def __exit__(self, *_: object) -> None:
        async def close() -> None:
            self._server.close()
            pipes = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in pipes:
                task.cancel()
            await asyncio.gather(*pipes, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread:
            self._thread.join(5)
