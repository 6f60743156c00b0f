"""How a client reaches Temporal: plain (dev), TLS or mTLS (a cluster), API key (Temporal Cloud).

`connect_options` turns the settings into `Client.connect` keyword arguments; every client
(API, worker, CLI) is built by `connect` below, which uses it, with the payload codec, the
tracing interceptor and the SDK's metrics runtime.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from pathlib import Path
from typing import Any

from temporalio.client import Client
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.service import TLSConfig

from hookline.infra.config import Settings
from hookline.infra.crypto import data_converter
from hookline.infra.fair_starts import FairStarts
from hookline.infra.tracing import tracing_interceptors

log = logging.getLogger("hookline.temporal")


class TemporalConfigError(ValueError):
    """The Temporal connection settings contradict each other or name an unreadable file."""


_FILES = {
    "temporal_tls_ca_cert": "HOOKLINE_TEMPORAL_TLS_CA_CERT",
    "temporal_tls_client_cert": "HOOKLINE_TEMPORAL_TLS_CLIENT_CERT",
    "temporal_tls_client_key": "HOOKLINE_TEMPORAL_TLS_CLIENT_KEY",
}


def tls_enabled(settings: Settings) -> bool:
    if settings.temporal_tls is not None:
        return settings.temporal_tls
    # Setting a CA or a client certificate and forgetting TLS would otherwise connect in clear.
    return any(
        (
            settings.temporal_tls_ca_cert,
            settings.temporal_tls_client_cert,
            settings.temporal_tls_client_key,
            settings.temporal_tls_server_name,
            settings.temporal_api_key,
        )
    )


def _read(path: Path, name: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise TemporalConfigError(f"{name}: cannot read {path}: {exc.strerror}") from exc


def connect_options(settings: Settings) -> dict[str, Any]:
    """`tls` and `api_key` for `Client.connect`; empty for a plain connection.

    Raises TemporalConfigError (one line, naming the setting) on contradictions or a file
    that cannot be read, so a process fails at start rather than at its first call.
    """
    named = [env for field, env in _FILES.items() if getattr(settings, field)]
    if settings.temporal_tls is False:
        extra = named + (["HOOKLINE_TEMPORAL_API_KEY"] if settings.temporal_api_key else [])
        if extra:
            raise TemporalConfigError(
                f"HOOKLINE_TEMPORAL_TLS is off but {', '.join(extra)} is set: "
                "turn TLS on or unset them"
            )
    cert, key = settings.temporal_tls_client_cert, settings.temporal_tls_client_key
    if bool(cert) != bool(key):
        raise TemporalConfigError(
            "HOOKLINE_TEMPORAL_TLS_CLIENT_CERT and HOOKLINE_TEMPORAL_TLS_CLIENT_KEY go together: "
            f"only {'the certificate' if cert else 'the key'} is set"
        )
    if not tls_enabled(settings):
        return {}
    options: dict[str, Any] = {}
    if named or settings.temporal_tls_server_name:
        ca = settings.temporal_tls_ca_cert
        options["tls"] = TLSConfig(
            server_root_ca_cert=_read(ca, _FILES["temporal_tls_ca_cert"]) if ca else None,
            domain=settings.temporal_tls_server_name,
            client_cert=_read(cert, _FILES["temporal_tls_client_cert"]) if cert else None,
            client_private_key=_read(key, _FILES["temporal_tls_client_key"]) if key else None,
        )
    else:
        options["tls"] = True  # the system's trusted roots (Temporal Cloud with an API key)
    if settings.temporal_api_key:
        options["api_key"] = settings.temporal_api_key.get_secret_value()
    return options


def describe(settings: Settings) -> str:
    """`127.0.0.1:7233 (mTLS)`: where and how, for start-up messages (never a secret)."""
    if not tls_enabled(settings):
        how = "plain"
    elif settings.temporal_api_key:
        how = "TLS, API key"
    elif settings.temporal_tls_client_cert:
        how = "mTLS"
    else:
        how = "TLS"
    return f"{settings.temporal_address} namespace {settings.temporal_namespace} ({how})"


def unreachable(exc: BaseException) -> bool:
    """True when nothing answered at the address (the server is down or still starting), as
    opposed to a refused handshake or credentials: the API may start and answer 503 then."""
    text = str(exc).lower()
    return any(mark in text for mark in ("connection refused", "tcp connect error", "timed out"))


def _hint(settings: Settings, text: str) -> str | None:
    """What the SDK's transport error (lower case, no spaces) most likely means."""
    if "connectionrefused" in text or "tcpconnecterror" in text:
        return "nothing answers at that address (is the server up?)"
    if "unknownissuer" in text or "certificateverifyfailed" in text:
        return "the server's certificate is not signed by HOOKLINE_TEMPORAL_TLS_CA_CERT"
    if "notvalidforname" in text:
        return "the server's certificate does not name HOOKLINE_TEMPORAL_TLS_SERVER_NAME"
    # The server accepted TCP and the handshake, then cut the first call: rustls reports it
    # as one of these, depending on timing.
    cut = ("close_notify", "certificaterequired", "unexpectedeof", "brokenpipe", "connection")
    if tls_enabled(settings) and any(mark in text for mark in cut):
        if not settings.temporal_tls_client_cert:
            return (
                "the server closed the TLS connection: it requires a client certificate "
                "(HOOKLINE_TEMPORAL_TLS_CLIENT_CERT and _KEY)"
            )
        return "the server closed the TLS connection: it refused the client certificate"
    if "unauthenticated" in text or "permissiondenied" in text:
        return "the server refused the credentials (API key, or the namespace)"
    return None


def connect_failure(settings: Settings, exc: BaseException) -> str:
    """One line for a failed connect: where, how, what it likely means, the SDK's reason."""
    reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    hint = _hint(settings, reason.lower().replace(" ", ""))
    where = f"cannot connect to Temporal at {describe(settings)}"
    return f"{where}: {hint} ({reason})" if hint else f"{where}: {reason}"


@functools.cache
def sdk_runtime(metrics_address: str | None) -> Runtime | None:
    """A Temporal runtime exporting the SDK's own metrics (task latencies, slots, polls,
    schedule-to-start, sticky cache...) for Prometheus at `metrics_address` (host:port).
    One per process; None (the default runtime) when no address is set or it cannot bind."""
    if not metrics_address:
        return None
    try:
        return Runtime(
            telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=metrics_address))
        )
    except Exception as exc:  # e.g. the port is taken: run on, without SDK metrics
        log.warning("Temporal SDK metrics not exported on %s: %s", metrics_address, exc)
        return None


async def connect(settings: Settings, *, lazy: bool = False) -> Client:
    """Every client hookline builds (API, worker, CLI): TLS, mTLS or an API key per settings."""
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=data_converter(settings.encryption_keys),
        lazy=lazy,
        runtime=sdk_runtime(settings.sdk_metrics_address),
        **connect_options(settings),
        interceptors=[*tracing_interceptors(), FairStarts(settings.max_starts_in_flight)],
    )


async def connect_when_up(settings: Settings, retry_every: float = 1.0) -> Client:
    """A connected client, once the server answers; retries until then."""
    while True:
        try:
            return await connect(settings)
        except Exception:  # unreachable or still starting: the API meanwhile answers 503
            await asyncio.sleep(retry_every)
