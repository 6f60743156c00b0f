"""Settings from the environment (``HOOKLINE_*``); one object, read once per process."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from yarl import URL

from hookline.core import retry
from hookline.core.rate_limit import parse_rate
from hookline.store.admission import BreakerPolicy
from hookline.store.engine import database_url

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, None: 1}


def parse_duration(value: str | int | float | timedelta) -> timedelta:
    """``"7d"``, ``"36h"``, ``"90s"``, ``"250ms"`` or a number of seconds."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float):
        return timedelta(seconds=value)
    match = _DURATION.match(value)
    if not match:
        raise ValueError(f"not a duration: {value!r} (use e.g. 7d, 36h, 90s, 250ms)")
    return timedelta(seconds=float(match.group(1)) * _UNIT_SECONDS[match.group(2)])


def split_address(address: str) -> tuple[str, int]:
    """``host:port`` (``[::1]:9466`` for IPv6) -> (host, port)."""
    host, sep, port = address.strip().rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"not a host:port address: {address!r} (e.g. 127.0.0.1:9466)")
    return host, int(port)


@dataclass(frozen=True)
class ProxyUrl:
    """``HOOKLINE_DELIVERY_PROXY`` taken apart: ``url`` has no credentials (they go in
    Proxy-Authorization, never in a URL aiohttp might show); ``shown`` masks the password."""

    url: str
    user: str | None
    password: str | None
    shown: str


def parse_proxy_url(text: str) -> ProxyUrl:
    """``http://[user[:password]@]host:port`` (user and password percent-encoded). Errors
    never quote the text: it may hold the password."""
    try:
        url = URL(text.strip())
        host, port = url.raw_host, url.explicit_port
    except (ValueError, TypeError):
        raise ValueError("not a URL (use http://[user:password@]host:port)") from None
    if url.scheme != "http":
        raise ValueError(
            "must be an http:// URL: an HTTP proxy (https deliveries go through it in a "
            "CONNECT tunnel, still TLS end to end)"
        )
    if not host:
        raise ValueError("has no host (use http://[user:password@]host:port)")
    if port is None:
        raise ValueError("needs a port (e.g. http://proxy.internal:3128)")
    if url.raw_path not in ("", "/") or url.raw_query_string or url.raw_fragment:
        raise ValueError("must be just http://[user:password@]host:port (no path or query)")
    if url.user is not None and ":" in url.user:
        raise ValueError("its user name may not contain a colon (Basic authentication)")
    plain = url.with_user(None).with_path("")
    shown = plain
    if url.user is not None:
        shown = plain.with_user(url.user).with_password("***" if url.password else None)
    return ProxyUrl(str(plain), url.user, url.password, str(shown))


DEFAULT_DATA_DIR = Path(".hookline")
# An origin a CSP frame-ancestors takes: http(s), a host name (optionally `*.` first), an IPv4
# or a bracketed IPv6 address, an optional port; nothing else (no path, quote, space, `;`).
_EMBED_ORIGIN = re.compile(
    r"https?://(?:(?:\*\.)?[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?"
)


class Settings(BaseSettings):
    # Errors name the setting and say what is wrong, never echo its value: some values are
    # secrets (a proxy's or a database's password, keys, tokens).
    model_config = SettingsConfigDict(
        env_prefix="HOOKLINE_", extra="ignore", hide_input_in_errors=True
    )

    data_dir: Path = DEFAULT_DATA_DIR
    database_url: str = ""  # empty: SQLite file under data_dir
    temporal_address: str = "127.0.0.1:7233"
    temporal_namespace: str = "default"
    task_queue: str = "hookline"
    # Secured connections (a TLS cluster, Temporal Cloud): infra/temporal.py.
    # TLS is on when set true, or when any file below or an API key is set; unset by `hookline dev`.
    temporal_tls: bool | None = None
    temporal_tls_ca_cert: Path | None = None  # PEM: the CA that signed the frontend's cert
    temporal_tls_client_cert: Path | None = None  # PEM: mTLS client certificate (chain)
    temporal_tls_client_key: Path | None = None  # PEM: its private key
    temporal_tls_server_name: str | None = None  # the name to verify, if not the address's host
    temporal_api_key: SecretStr | None = None  # Temporal Cloud API key (implies TLS)

    event_retention: timedelta = timedelta(days=7)
    # How often each worker process deletes expired events from the store (store/retention.py).
    expiry_sweep_interval: timedelta = Field(default=timedelta(minutes=1), gt=timedelta(0))
    # How often each worker process looks for unfinished events whose workflow is missing or
    # closed without finishing them, and repairs them (infra/reconcile.py).
    reconcile_interval: timedelta = Field(default=timedelta(minutes=1), gt=timedelta(0))
    allow_private_urls: bool = False
    bootstrap_token: str | None = None
    # Comma-separated base64 keys (32 bytes each); the first encrypts, all decrypt.
    encryption_key: str | None = None

    # Delivery
    # At most retry.MAX_DELIVERY_TIMEOUT: the workflow bounds its first step by it.
    delivery_timeout: timedelta = Field(
        default=timedelta(seconds=retry.DELIVERY_TIMEOUT), le=retry.MAX_DELIVERY_TIMEOUT
    )
    # The retry schedule: defaults and bounds are core/retry.py's (checked in _retry_bounds).
    max_attempts: int = retry.MAX_ATTEMPTS
    client_error_max_attempts: int = retry.CLIENT_ERROR_MAX_ATTEMPTS
    retry_initial_interval: timedelta = timedelta(seconds=retry.INITIAL_INTERVAL)
    retry_backoff: float = retry.BACKOFF
    retry_max_interval: timedelta = timedelta(seconds=retry.MAX_INTERVAL)
    retry_after_cap: timedelta = timedelta(seconds=retry.RETRY_AFTER_CAP)
    secret_rotation_grace: timedelta = timedelta(hours=24)
    # A webhook failing every attempt for this long is disabled (and a system.alert sent).
    auto_disable_after: timedelta = timedelta(days=5)
    # An HTTP proxy every delivery goes through (static egress IP): http://[user:pass@]host:port.
    # Webhook hosts are still resolved and vetted here first (delivery/transport.py).
    delivery_proxy: SecretStr | None = None
    max_concurrent_deliveries: int = Field(default=100, ge=1)
    # Requests in flight from one process to one origin (scheme, host, port); more wait. 0:
    # none. Receivers share origins across tenants (one host serves many webhooks), so a limit
    # here would let one tenant's hanging webhooks hold the others': each webhook is held to
    # its own in-flight cap instead, across every process.
    max_requests_per_endpoint: int = Field(default=0, ge=0)
    # Deliveries in flight to one webhook at once, across every process (a webhook's own
    # `max_in_flight` overrides it); more wait durably, throttled, holding no worker slot.
    max_in_flight_per_webhook: int = Field(default=10, ge=1)
    # The circuit breaker (store/admission.py): an endpoint whose attempts in the window
    # number at least `min_attempts` and fail at `failure_ratio` or more is opened; after
    # `open_for` (doubling per failed probe) one probe decides.
    breaker_min_attempts: int = Field(default=10, ge=1)
    breaker_failure_ratio: float = Field(default=0.7, gt=0, le=1)
    breaker_window: timedelta = timedelta(minutes=5)
    breaker_open_for: timedelta = timedelta(seconds=30)
    # Settled events wait out their 7-day window; an evicted one is replayed from history if
    # a redelivery arrives, so the cache can stay small (memory).
    max_cached_workflows: int = Field(default=250, ge=0)
    # Workflow tasks a worker runs at once; with the happy path in one local activity, this
    # is also how many events a worker has in flight (an eager start needs a free one).
    max_concurrent_workflow_tasks: int = Field(default=100, ge=2)
    # The sandbox re-runs workflow code in isolation to catch non-determinism; it costs worker
    # CPU per workflow task. The test suite runs with it on, production without it.
    workflow_sandbox: bool = False
    # The API runs a worker too, so a published event starts eagerly on it: the first
    # workflow task comes back with the start response (no task-queue round trip).
    embedded_worker: bool = True
    # host:port where a process running a worker exports the Temporal SDK's Prometheus
    # metrics (its own HTTP server; `hookline dev` sets one for the worker and one for the API).
    sdk_metrics_address: str | None = None
    # host:port where `hookline worker` serves the hookline metrics (infra/metrics.py) at
    # /metrics; the API serves them on its own port and ignores this.
    metrics_address: str | None = None
    # API processes sharing the port (`hookline api`): one Python process uses one core.
    api_processes: int = Field(default=1, ge=1, le=64)

    # Redelivery jobs (bulk redelivery, a webhook's replay; workflows/redelivery_job.py): the
    # events each job signals per second at most (so live traffic is not starved), the events
    # per batch, the batches per run before it continues as new (its history stays bounded).
    redelivery_job_rate: float = Field(default=50.0, gt=0, le=10_000)
    redelivery_job_page_size: int = Field(default=100, ge=1, le=500)
    redelivery_job_batches_per_run: int = Field(default=50, ge=1, le=100)

    log_level: str = "INFO"

    # API
    max_payload_bytes: int = 256 * 1024
    max_request_bytes: int = 1024 * 1024
    # The API's connections (uvicorn's own settings, and api/limits.py for bodies). A kept-alive
    # connection idle this long after a response is closed (uvicorn's timeout_keep_alive).
    keep_alive_timeout: timedelta = Field(default=timedelta(seconds=5), ge=timedelta(seconds=1))
    # A request's body must have arrived whole within this of the app's first read of it; else
    # 408 and the connection is closed.
    request_body_timeout: timedelta = Field(default=timedelta(seconds=30), gt=timedelta(0))
    # A request's line and headers must have arrived whole within this of the connection's
    # opening (or of the previous response); else the connection is closed (api/connections.py).
    request_head_timeout: timedelta = Field(default=timedelta(seconds=10), gt=timedelta(0))
    # Connections (and requests in flight) per API process; beyond it new requests get 503
    # (uvicorn's limit_concurrency).
    max_connections: int = Field(default=1000, ge=1)
    # Workflow starts in flight per process; more wait, tenants taking turns
    # (infra/fair_starts.py).
    max_starts_in_flight: int = Field(default=32, ge=1, le=10_000)
    # A request's line and headers together (h11's max_incomplete_event_size); beyond: 400.
    max_header_bytes: int = Field(default=16 * 1024, ge=1024)
    rate_limit: str = "6000/minute"
    cors_origins: str = "http://127.0.0.1:8233,http://localhost:8233"
    # Dev only (`hookline dev` sets a random one per run): the local Temporal UI has no login,
    # so it cannot send a bearer token; its codec endpoint is /codec/ui/<this secret>, which
    # decodes every tenant's payloads (the UI shows every workflow anyway). Unset: no such
    # endpoint. An Origin header is no proof of anything: any client sets it.
    codec_ui_secret: SecretStr | None = None
    event_types: str = ""  # extra "type=description" entries, comma separated
    # The console (api/console/): where its "open in Temporal UI" links point; how long a
    # signed-in session lasts.
    temporal_ui_url: str = "http://127.0.0.1:8233"
    # Where people reach this API: console sign-in links are built on it, never on the
    # request's Host header (a client sets that). `hookline dev` sets its own address.
    public_url: str = "http://127.0.0.1:8000"
    console_session_lifetime: timedelta = timedelta(hours=8)
    # Origins whose pages may show the console in an iframe (an app portal in the platform's
    # own dashboard), comma separated: `https://app.example.com`, `https://*.example.com`.
    # Empty: the console is never framed by another site (frame-ancestors 'self', SameSite=
    # Strict cookies). Set: the CSP's frame-ancestors lists them and the console's cookies are
    # `SameSite=None; Secure; Partitioned` (CHIPS), so they work inside a cross-site iframe.
    console_embed_origins: str = ""

    @property
    def cors_origin_list(self) -> list[str]:
        return [o.strip() for o in self.cors_origins.split(",") if o.strip()]

    @property
    def console_embed_origin_list(self) -> list[str]:
        return [o.strip() for o in self.console_embed_origins.split(",") if o.strip()]

    @field_validator(
        "event_retention",
        "expiry_sweep_interval",
        "reconcile_interval",
        "delivery_timeout",
        "retry_initial_interval",
        "retry_max_interval",
        "retry_after_cap",
        "secret_rotation_grace",
        "auto_disable_after",
        "console_session_lifetime",
        "keep_alive_timeout",
        "request_body_timeout",
        "request_head_timeout",
        "breaker_window",
        "breaker_open_for",
        mode="before",
    )
    @classmethod
    def _duration(cls, value: object) -> timedelta:
        return parse_duration(value)  # type: ignore[arg-type]

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        return database_url(value)

    @model_validator(mode="after")
    def _retry_bounds(self) -> Settings:
        retry.check_bounds(self.retry_spec())  # fails at start-up, naming the field
        return self

    @field_validator(
        "temporal_tls",
        "temporal_tls_ca_cert",
        "temporal_tls_client_cert",
        "temporal_tls_client_key",
        "temporal_tls_server_name",
        "temporal_api_key",
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        # Compose passes `${VAR:-}` through as "": the same as not setting it.
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("metrics_address", mode="before")
    @classmethod
    def _address(cls, value: object) -> object:
        if isinstance(value, str):
            if not value.strip():
                return None  # Compose's `${VAR:-}`: unset
            split_address(value)  # fails at start-up, not when the worker binds
        return value

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s?#]+(/[^\s?#]*)?$", value.strip()):
            raise ValueError(f"not an http(s) base URL: {value!r} (e.g. https://hooks.example.com)")
        return value.strip().rstrip("/")

    @field_validator("delivery_proxy", mode="before")
    @classmethod
    def _blank_proxy(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("delivery_proxy")
    @classmethod
    def _proxy(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            parse_proxy_url(value.get_secret_value())  # fails at start-up, naming the field
        return value

    @property
    def delivery_proxy_url(self) -> ProxyUrl | None:
        if self.delivery_proxy is None:
            return None
        return parse_proxy_url(self.delivery_proxy.get_secret_value())

    @field_validator("console_embed_origins")
    @classmethod
    def _embed_origins(cls, value: str) -> str:
        # Checked at start-up: each goes into a CSP header as it is written.
        for origin in (o.strip() for o in value.split(",")):
            if origin and not _EMBED_ORIGIN.fullmatch(origin):
                raise ValueError(
                    f"not an origin: {origin!r} (scheme://host[:port], no path, e.g. "
                    "https://app.example.com or https://*.example.com)"
                )
        return value

    @field_validator("codec_ui_secret", mode="before")
    @classmethod
    def _blank_secret(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("rate_limit")
    @classmethod
    def _rate(cls, value: str) -> str:
        parse_rate(value)  # fails at start-up, not at the first request
        return value

    def breaker_policy(self) -> BreakerPolicy:
        return BreakerPolicy(
            min_attempts=self.breaker_min_attempts,
            failure_ratio=self.breaker_failure_ratio,
            window=self.breaker_window,
            open_for=self.breaker_open_for,
        )

    def retry_spec(self) -> retry.RetrySpec:
        """The server-wide retry policy; a webhook's own `retry_policy` goes on top."""
        return retry.RetrySpec(
            max_attempts=self.max_attempts,
            client_error_max_attempts=self.client_error_max_attempts,
            initial_interval=self.retry_initial_interval.total_seconds(),
            backoff=self.retry_backoff,
            max_interval=self.retry_max_interval.total_seconds(),
            retry_after_cap=self.retry_after_cap.total_seconds(),
            timeout=self.delivery_timeout.total_seconds(),
        )

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'hookline.db').resolve()}"

    @property
    def encryption_keys(self) -> list[str]:
        if not self.encryption_key:
            return []
        return [k.strip() for k in self.encryption_key.split(",") if k.strip()]


def settings_errors(exc: ValidationError) -> str:
    """Settings refused at start-up, one line per variable, named as it is set."""
    lines = []
    for error in exc.errors():
        name = "HOOKLINE_" + "_".join(str(part) for part in error["loc"]).upper()
        message = error["msg"].removeprefix("Value error, ")
        lines.append(f"{name}: {message}" if error["loc"] else message)
    return "invalid settings:\n  " + "\n  ".join(lines)


@lru_cache
def get_settings() -> Settings:
    return Settings()
