"""Secured connections to Temporal, for real: `hookline worker` and `hookline api`
reach the dev server only through a TLS-terminating proxy that requires a client certificate
(tests/support/tls_proxy.py); an event is published and delivered through it. A wrong CA or a
missing client certificate stops a process at start with one line."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.receiver import Receiver
from tests.support.stack import Stack
from tests.support.tls_proxy import Pki, TlsProxy


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    (tmp_path / "pki").mkdir()
    return Pki(tmp_path / "pki")


@pytest.fixture
def plain_temporal(tmp_path: Path) -> Iterator[Stack]:
    """The dev server alone (the stack's API and worker are started per test)."""
    stack = Stack(data_dir=tmp_path / "hl")
    stack.data_dir.mkdir(parents=True)
    stack.migrate()
    stack.start_temporal()
    try:
        yield stack
    finally:
        stack.stop()


def mtls_env(pki: Pki, port: int, **override: str) -> dict[str, str]:
    return {
        "HOOKLINE_TEMPORAL_ADDRESS": f"127.0.0.1:{port}",
        "HOOKLINE_TEMPORAL_TLS": "true",
        "HOOKLINE_TEMPORAL_TLS_CA_CERT": str(pki.path("test-ca.crt")),
        "HOOKLINE_TEMPORAL_TLS_CLIENT_CERT": str(pki.path("client.crt")),
        "HOOKLINE_TEMPORAL_TLS_CLIENT_KEY": str(pki.path("client.key")),
        "HOOKLINE_TEMPORAL_TLS_SERVER_NAME": "localhost",
        **override,
    }


def start_fails(stack: Stack, command: list[str], env: dict[str, str]) -> str:
    """Runs a hookline command that must refuse to start; its one stderr line."""
    done = subprocess.run(
        [sys.executable, "-m", "hookline.cli", *command],
        env=stack.env | env,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert done.returncode == 1, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr, done.stderr
    [line] = done.stderr.strip().splitlines()
    return line


async def test_worker_and_api_deliver_through_mtls(plain_temporal: Stack, pki: Pki):
    stack = plain_temporal
    with TlsProxy(pki, stack.temporal_port) as proxy:
        # Without its embedded worker the API only publishes: the standalone worker delivers.
        stack.extra_env = mtls_env(pki, proxy.port, HOOKLINE_EMBEDDED_WORKER="false")
        stack.start_worker()
        stack.start_api()
        stack.wait_api()
        async with Receiver() as receiver, httpx.AsyncClient(base_url=stack.base_url) as api:
            created = await api.post(
                "/api/v1/webhooks",
                headers=stack.headers,
                json={"url": receiver.url("/tls"), "events": ["user.*"]},
            )
            assert created.status_code == 201, created.text
            published = await api.post(
                "/api/v1/events",
                headers=stack.headers,
                json={"type": "user.created", "data": {"over": "mtls"}},
            )
            assert published.status_code == 202, published.text
            [request] = await receiver.wait_for(1, path="/tls", timeout=30)
            assert request.json()["data"] == {"over": "mtls"}
            assert (await api.get("/healthz")).json()["temporal"] == "ok"
        # Every client of the two processes came through the proxy with the CA's certificate.
        assert proxy.verified_clients >= 2


@pytest.mark.parametrize("command", [["worker"], ["api", "--port", "0"]])
async def test_wrong_ca_or_missing_client_certificate_fails_at_start(
    plain_temporal: Stack, pki: Pki, command: list[str]
):
    stack = plain_temporal
    with TlsProxy(pki, stack.temporal_port) as proxy:
        wrong_ca = start_fails(
            stack,
            command,
            mtls_env(pki, proxy.port, HOOKLINE_TEMPORAL_TLS_CA_CERT=str(pki.path("other-ca.crt"))),
        )
        assert wrong_ca.startswith(
            f"hookline {command[0]}: cannot connect to Temporal at 127.0.0.1:{proxy.port} "
            "namespace default (mTLS): the server's certificate is not signed by "
            "HOOKLINE_TEMPORAL_TLS_CA_CERT"
        ), wrong_ca
        no_client_cert = {k: v for k, v in mtls_env(pki, proxy.port).items() if "CLIENT" not in k}
        line = start_fails(stack, command, no_client_cert)
        assert line.startswith(f"hookline {command[0]}: cannot connect to Temporal"), line
        assert (
            "(TLS): the server closed the TLS connection: it requires a client certificate" in line
        )
        assert proxy.verified_clients == 0
