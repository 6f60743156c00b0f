"""One delivery attempt over HTTP: sign, POST, read a bounded excerpt, report what happened.

`send()` never raises for what the receiver, the network or DNS does: every outcome is a
`SendResult` (a status code, or an error text). An error starting with "refused:" means the
URL's host is not one hookline may reach (core/urls.py); the caller does not retry it.

Everything in a `SendResult` that the receiver wrote is bounded, and the texts that are
stored and travel in workflow payloads (`body`, `error`) are valid UTF-8 without NUL: any
store (PostgreSQL's text holds no NUL), JSON and protobuf take them as they are.

Through an egress proxy (`HOOKLINE_DELIVERY_PROXY`, `transport.py`) the SSRF rules hold as
they do without one, and the proxy resolves nothing: `send()` resolves the webhook's host
itself (`resolve_vetted`: every address public, or "refused:" and the proxy is never
contacted) and asks the proxy for a vetted address, not the name. For https that is
`CONNECT <address>:<port>`; TLS inside the tunnel sends the name as SNI and verifies the
certificate for the name (aiohttp's `server_hostname`), and `Host` is the name: the receiver
sees what it would without the proxy. Had the proxy been given the name, it would resolve it
again, and a hostile DNS server could answer it 127.0.0.1 or 169.254.169.254 (rebinding),
in the proxy's network. For http (only with a store edited by hand: webhooks must be https
unless private URLs are allowed) the request line is `POST http://<address>:<port>/...` with
`Host` the name; a proxy may replace `Host` with the address. With private URLs allowed
(dev) nothing is vetted and the proxy is given the name.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime
from typing import Any

import aiohttp
import orjson
from yarl import URL

from hookline.core import signing, urls
from hookline.core.headers import as_recorded, deliverable
from hookline.core.models import SendResult, storable_headers, storable_text, utc_text
from hookline.delivery.resolver import resolve_vetted
from hookline.delivery.transport import DeliveryTransport, QueueWait
from hookline.infra.crypto import SecretBox

BODY_EXCERPT_BYTES = 4096
ERROR_TEXT_CHARS = 1024  # an error text may quote what the receiver sent
HEADER_TEXT_CHARS = 256  # of a header value kept (Retry-After): more is never meant

log = logging.getLogger("hookline.delivery")


def event_body(event_id: str, event_type: str, created: datetime, data: dict, tenant: str) -> bytes:
    """The payload of the delivery rules: {"id","type","created","data","tenant"}."""
    stamp = utc_text(created)
    payload = {"id": event_id, "type": event_type, "created": stamp, "data": data, "tenant": tenant}
    return orjson.dumps(payload)


def webhook_secrets(webhook: Any, box: SecretBox, now: datetime) -> list[str]:
    """The current secret, then the previous one while its rotation grace lasts (`webhook`:
    a row or an ORM object with the webhook's columns)."""
    current = [box.open(webhook.secret)]
    expires = webhook.previous_secret_expires_at
    if webhook.previous_secret and expires is not None and expires > now:
        current.append(box.open(webhook.previous_secret))
    return current


def webhook_headers(webhook: Any, box: SecretBox) -> dict[str, str]:
    """The webhook's custom headers, opened (`webhook.headers`: {name: sealed value}); a name
    reserved for hookline's own headers is never sent, whatever the store holds."""
    stored = webhook.headers or {}
    return deliverable({name: box.open(value) for name, value in stored.items()})


async def send(
    http: DeliveryTransport,
    url: str,
    body: bytes,
    *,
    secrets: list[str],
    event_id: str,
    event_type: str,
    delivery_id: str,
    attempt: int,
    timeout: float,
    extra_headers: dict[str, str] | None = None,
) -> SendResult:
    """Sign and POST one payload within `timeout` seconds (connecting, writing and reading the
    excerpt, all together), after waiting at most `timeout` seconds for a connection slot of
    the process (core/retry.py `attempt_limit`): neither the wait nor `duration_ms` count
    hookline's queueing as the receiver's time. `extra_headers` (the webhook's custom
    headers, the attempt's `traceparent`) go with the request."""
    started_at = datetime.now(UTC)
    started = time.perf_counter()
    timestamp = int(started_at.timestamp())
    headers = signing.signature_headers(secrets, msg_id=event_id, timestamp=timestamp, body=body)
    headers.update(
        {
            "Content-Type": "application/json",
            "X-Webhook-Delivery-Id": delivery_id,
            "X-Webhook-Event": event_type,
            "X-Webhook-Attempt": str(attempt),
        }
    )
    recorded = as_recorded(headers, extra_headers or {})
    headers.update(extra_headers or {})
    status_code = excerpt = error = retry_after = answered = None
    received: list[bytes] = []  # of the body, as it comes: kept if it stops coming
    queued = QueueWait()
    try:
        async with asyncio.timeout(timeout) as queued.deadline:
            target = URL(url)
            if not http.allow_private:
                _vet_target(target)
            proxied: dict[str, Any] = {}
            if http.proxy is not None:
                target, proxied = await _through_proxy(http, target, headers)
            async with http.session.post(
                target,
                data=body,
                headers=headers,
                allow_redirects=False,
                trace_request_ctx=queued,
                **proxied,
            ) as reply:
                status_code = reply.status  # a 3xx is an answer: never followed
                retry_after = _header(reply, "Retry-After")
                answered = _headers(reply)
                excerpt = await _excerpt(reply, received)
    except TimeoutError:  # ours, or aiohttp's own connect/read timeouts
        if queued.waiting:  # never sent: said as such, not as the receiver's timeout
            error = (
                f"not sent: all {http.connections} connections of this process stayed busy "
                f"for {timeout:g}s (HOOKLINE_MAX_CONCURRENT_DELIVERIES)"
            )
        elif status_code is not None:  # the head came: its status is the answer
            excerpt = _decoded(received)
            error = f"the body did not end within {timeout:g}s (kept: what came of it)"
        else:
            error = f"timeout after {timeout:g}s"
    except (aiohttp.ClientError, OSError, ValueError) as exc:  # UrlError is a ValueError
        error = error_text(exc)
    except Exception as exc:  # not ours to raise: the attempt's error, retried
        log.warning("unexpected error in a delivery attempt", exc_info=True)
        error = error_text(exc, "unexpected error: ")
    return SendResult(
        sent=not queued.waiting,
        status_code=status_code,
        body=excerpt,
        error=error,
        # The receiver's time: what waiting for a connection slot took is hookline's.
        duration_ms=int((time.perf_counter() - started - queued.seconds) * 1000),
        retry_after=retry_after,
        started_at=started_at,
        request_headers=storable_headers(recorded),
        response_headers=answered,
    )


async def _through_proxy(
    http: DeliveryTransport, target: URL, headers: dict[str, str]
) -> tuple[URL, dict[str, Any]]:
    """The URL to ask the proxy for and the request's proxy options; sets the headers it
    needs in `headers`. Raises `urls.UrlError` for a host that resolves to a forbidden
    address, before anything connects."""
    proxied: dict[str, Any] = {"proxy": http.proxy}
    secure = target.scheme == "https"
    if http.proxy_authorization is not None:
        if secure:  # in the CONNECT request only: nothing of it enters the tunnel
            proxied["proxy_headers"] = {"Proxy-Authorization": http.proxy_authorization}
        else:  # absolute form: the proxy takes it off the request (hop-by-hop)
            headers["Proxy-Authorization"] = http.proxy_authorization
    host = target.raw_host or ""
    if http.allow_private or not _is_name(host):
        return target, proxied  # dev: nothing vetted; or an address _vet_target vetted
    addresses = await resolve_vetted(str(target), allow_private=False)
    address = next((a for a in addresses if ":" not in a), addresses[0])  # IPv4 first
    headers["Host"] = target.host_port_subcomponent or host
    if secure:
        proxied["server_hostname"] = host.rstrip(".")  # SNI and the certificate's name
    return target.with_host(address), proxied


def _is_name(host: str) -> bool:
    """A host name, not an address (anything with a colon, or only digits and dots)."""
    return ":" not in host and not host.replace(".", "").isdigit()


def _vet_target(target: URL) -> None:
    """The checks no resolver makes: the port policy (a webhook saved before it, or in a
    store edited by hand, is held to it too), and a host written as an address (anything
    with a colon, or only digits and dots), which is connected to as written: it must be a
    valid, public address."""
    host = target.raw_host
    if not host:
        raise urls.UrlError("url must have a host")
    if target.port is not None:
        urls.check_port(target.port)
    if _is_name(host):
        return  # a name: the resolver (or, through a proxy, send()) vets what it resolves to
    try:
        urls.vet_addresses(host, [host])
    except urls.UrlError:
        raise
    except ValueError as exc:  # e.g. 2130706433 or 127.1, which socket maps onto 127.0.0.1
        raise urls.UrlError(f"host {host} is not a valid IP address") from exc


def _header(reply: aiohttp.ClientResponse, name: str) -> str | None:
    """A header's first value, bounded; None when absent or unreadable."""
    try:
        value = reply.headers.get(name)
    except Exception:  # a header multidict aiohttp could not give: no value
        return None
    return value[:HEADER_TEXT_CHARS] if isinstance(value, str) else None


def _headers(reply: aiohttp.ClientResponse) -> dict[str, str] | None:
    """The response's headers, bounded (core/models.py); None when unreadable."""
    try:
        return storable_headers(list(reply.headers.items()))
    except Exception:  # a header multidict aiohttp could not give: none kept
        return None


def error_text(exc: BaseException, prefix: str = "") -> str:
    """The attempt's error for `exc`: described, bounded, storable; never raises."""
    try:
        text = prefix + _describe(exc)
    except Exception:  # an exception whose str() raises
        text = f"{prefix}{type(exc).__name__}"
    return storable_text(text, ERROR_TEXT_CHARS)


async def _excerpt(reply: aiohttp.ClientResponse, chunks: list[bytes]) -> str:
    """The first BODY_EXCERPT_BYTES of the answer, whatever its size: the rest is never read
    (the connection is then closed rather than drained), appended to `chunks` as they come.
    Invalid UTF-8 and NUL are U+FFFD."""
    size = 0
    while size < BODY_EXCERPT_BYTES:
        chunk = await reply.content.read(BODY_EXCERPT_BYTES - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return _decoded(chunks)


def _decoded(chunks: list[bytes]) -> str:
    return storable_text(b"".join(chunks).decode("utf-8", errors="replace"), BODY_EXCERPT_BYTES)


def _describe(exc: BaseException) -> str:
    """The error text recorded with the attempt; "refused: ..." for what core/urls.py refuses."""
    cause: BaseException | None = exc
    while cause is not None:  # aiohttp may wrap what the resolver raised
        if isinstance(cause, urls.UrlError):
            return f"refused: {cause}"
        cause = cause.__cause__
    if isinstance(exc, aiohttp.InvalidURL):  # e.g. 2130706433: retrying will not fix it
        return f"refused: url is not valid: {exc}"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        # Its message is the reply head read so far when the receiver closed mid-head.
        cut = "" if isinstance(exc.message, str) else " mid-reply"
        return f"connection error: the server disconnected{cut}"
    if isinstance(exc, aiohttp.ClientProxyConnectionError):
        return f"connection error: the egress proxy: {exc}"
    if isinstance(exc, aiohttp.ClientHttpProxyError):  # CONNECT answered other than 200
        return f"proxy error: the egress proxy answered {exc.status} {exc.message}"
    if isinstance(exc, aiohttp.ClientSSLError):  # its text names the TLS failure
        return f"connection error: {exc}"
    if isinstance(exc, aiohttp.ClientConnectorError):  # aiohttp's text says "ssl:default"
        # The OS's error names the address tried (the host may be a name).
        reason = str(exc.os_error) or type(exc.os_error).__name__
        return f"connection error: cannot connect to {exc.host}:{exc.port}: {reason}"
    if isinstance(exc, aiohttp.ClientResponseError):  # a reply aiohttp could not parse
        return f"protocol error: {exc.message or type(exc).__name__}"
    if isinstance(exc, aiohttp.ClientError):
        return f"{type(exc).__name__}: {exc}"
    if isinstance(exc, OSError):
        return f"network error: {exc}"
    return f"{type(exc).__name__}: {exc}"
