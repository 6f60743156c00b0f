"""connect_options: how the settings become Client.connect's `tls` and `api_key`."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.service import TLSConfig

from hookline.infra.config import Settings
from hookline.infra.temporal import (
    TemporalConfigError,
    connect_failure,
    connect_options,
    describe,
    unreachable,
)


def settings(**env: object) -> Settings:
    return Settings(**env)


@pytest.fixture
def pem(tmp_path: Path) -> dict[str, Path]:
    files = {}
    for name in ("ca", "cert", "key"):
        files[name] = tmp_path / f"{name}.pem"
        files[name].write_bytes(f"-----{name}-----\n".encode())
    return files


def test_plain_by_default_and_when_turned_off():
    assert connect_options(settings()) == {}
    assert connect_options(settings(temporal_tls=False)) == {}
    assert describe(settings()) == "127.0.0.1:7233 namespace default (plain)"


def test_tls_on_alone_uses_the_system_roots():
    assert connect_options(settings(temporal_tls=True)) == {"tls": True}


def test_mtls_reads_the_three_files_and_the_server_name(pem):
    options = connect_options(
        settings(
            temporal_tls=True,
            temporal_tls_ca_cert=pem["ca"],
            temporal_tls_client_cert=pem["cert"],
            temporal_tls_client_key=pem["key"],
            temporal_tls_server_name="temporal.internal",
        )
    )
    assert options == {
        "tls": TLSConfig(
            server_root_ca_cert=b"-----ca-----\n",
            domain="temporal.internal",
            client_cert=b"-----cert-----\n",
            client_private_key=b"-----key-----\n",
        )
    }


def test_a_ca_file_turns_tls_on_by_itself(pem):
    [tls] = connect_options(settings(temporal_tls_ca_cert=pem["ca"])).values()
    assert isinstance(tls, TLSConfig) and tls.server_root_ca_cert == b"-----ca-----\n"
    assert tls.client_cert is None


def test_an_api_key_implies_tls_and_is_never_described():
    cloud = settings(
        temporal_address="ns.acct.tmprl.cloud:7233",
        temporal_namespace="ns.acct",
        temporal_api_key="secret-key-value",
    )
    assert connect_options(cloud) == {"tls": True, "api_key": "secret-key-value"}
    assert describe(cloud) == "ns.acct.tmprl.cloud:7233 namespace ns.acct (TLS, API key)"
    assert "secret-key-value" not in repr(cloud)


def test_blank_environment_values_are_unset(monkeypatch):
    # Compose passes `${HOOKLINE_TEMPORAL_TLS:-}` through as an empty string.
    for name in ("TLS", "TLS_CA_CERT", "TLS_SERVER_NAME", "API_KEY"):
        monkeypatch.setenv(f"HOOKLINE_TEMPORAL_{name}", "")
    assert connect_options(Settings()) == {}


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"temporal_tls": False, "temporal_api_key": "k"},
            "HOOKLINE_TEMPORAL_TLS is off but HOOKLINE_TEMPORAL_API_KEY is set",
        ),
        (
            {"temporal_tls_client_cert": "cert"},
            "HOOKLINE_TEMPORAL_TLS_CLIENT_CERT and HOOKLINE_TEMPORAL_TLS_CLIENT_KEY go together",
        ),
        (
            {"temporal_tls_ca_cert": "/nonexistent/ca.pem"},
            "HOOKLINE_TEMPORAL_TLS_CA_CERT: cannot read /nonexistent/ca.pem",
        ),
    ],
)
def test_contradictions_and_unreadable_files_fail_in_one_line(env, message):
    with pytest.raises(TemporalConfigError) as raised:
        connect_options(settings(**env))
    assert message in str(raised.value) and "\n" not in str(raised.value)


def test_connect_failures_are_one_line_and_told_apart():
    refused = RuntimeError(
        "Failed client connect: tcp connect error: Connection refused (os error 111)"
    )
    assert unreachable(refused)
    bad_ca = RuntimeError("Failed client connect: invalid peer certificate: UnknownIssuer\nmore")
    assert not unreachable(bad_ca)
    line = connect_failure(settings(temporal_tls=True), bad_ca)
    assert line == (
        "cannot connect to Temporal at 127.0.0.1:7233 namespace default (TLS): "
        "the server's certificate is not signed by HOOKLINE_TEMPORAL_TLS_CA_CERT "
        "(Failed client connect: invalid peer certificate: UnknownIssuer)"
    )
    odd = connect_failure(settings(), RuntimeError("Failed client connect: odd"))
    assert odd == "cannot connect to Temporal at 127.0.0.1:7233 namespace default (plain): " + (
        "Failed client connect: odd"
    )


def test_tls_failures_get_a_hint_in_the_settings_words(tmp_path):
    mtls = settings(temporal_tls_ca_cert=tmp_path / "ca.pem")
    wrong_ca = RuntimeError(
        "Failed client connect: Server connection error: tonic::transport::Error(Transport, "
        "ConnectError(Custom { kind: InvalidData, error: InvalidCertificate(UnknownIssuer) }))"
    )
    assert "not signed by HOOKLINE_TEMPORAL_TLS_CA_CERT" in connect_failure(mtls, wrong_ca)
    no_cert = RuntimeError(
        'Failed client connect: ... "peer closed connection without sending TLS close_notify"'
    )
    assert "requires a client certificate" in connect_failure(mtls, no_cert)


def test_nothing_listening_is_not_mistaken_for_a_refused_certificate(tmp_path):
    mtls = settings(temporal_tls_ca_cert=tmp_path / "ca.pem")
    refused = RuntimeError("Failed client connect: tcp connect error: Connection refused")
    assert "nothing answers at that address" in connect_failure(mtls, refused)
