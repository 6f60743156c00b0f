"""A webhook's custom headers: names and values a tenant may add to every delivery.

Refused: names that are not RFC 9110 tokens, values with control characters (CR, LF, NUL...:
no header injection), and the names hookline or HTTP itself owns: the signatures and Standard
Webhooks headers, `X-Webhook-*`, the body's framing (`Content-Type`, `Content-Length`,
`Content-Encoding`, `Transfer-Encoding`), `Host`, `User-Agent`, trace context, and the
hop-by-hop headers (RFC 9110 7.6.1), which a proxy would drop or act on.
"""

from __future__ import annotations

import re

MAX_HEADERS = 20
MAX_NAME_LENGTH = 64
MAX_VALUE_LENGTH = 1024

TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # fullmatch: "$" would let "\n" end it
# Visible ASCII, with spaces and tabs inside (RFC 9110 5.5, without obs-text): no CR, LF, NUL
# nor any other control character.
VALUE = re.compile(r"[\x21-\x7e]([\x20-\x7e\t]*[\x21-\x7e])?")

RESERVED = frozenset(
    {
        # Signatures, Standard Webhooks, the body.
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
        "content-type",
        "content-length",
        "content-encoding",
        "transfer-encoding",
        "host",
        "user-agent",
        # Trace context (sent while tracing is on).
        "traceparent",
        "tracestate",
        "baggage",
        # Hop-by-hop and connection management.
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "upgrade",
        "expect",
    }
)
RESERVED_PREFIXES = ("x-webhook-",)
# A custom header's value wherever it is shown: webhook reads, an attempt's recorded request.
MASKED_VALUE = "\u2022" * 8
# Sent with an attempt beside the custom headers, and not secret: recorded as they are.
TRACE_CONTEXT = frozenset({"traceparent", "tracestate"})


class HeaderRefused(ValueError):
    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"header {name!r}: {reason}" if name else reason)
        self.name = name
        self.reason = reason


def is_reserved(name: str) -> bool:
    lowered = name.lower()
    return lowered in RESERVED or lowered.startswith(RESERVED_PREFIXES)


def check_headers(headers: dict[str, str]) -> dict[str, str]:
    """The headers as given, or HeaderRefused naming the first one refused and why."""
    if len(headers) > MAX_HEADERS:
        raise HeaderRefused("", f"at most {MAX_HEADERS} headers")
    seen: set[str] = set()
    for name, value in headers.items():
        if not name or len(name) > MAX_NAME_LENGTH or not TOKEN.fullmatch(name):
            raise HeaderRefused(
                name, f"not a valid header name (an HTTP token of 1-{MAX_NAME_LENGTH} characters)"
            )
        if is_reserved(name):
            raise HeaderRefused(name, "reserved: hookline or HTTP sets this header")
        if name.lower() in seen:
            raise HeaderRefused(name, "given twice (names are case-insensitive)")
        seen.add(name.lower())
        if not isinstance(value, str) or len(value) > MAX_VALUE_LENGTH:
            raise HeaderRefused(
                name, f"the value must be text of at most {MAX_VALUE_LENGTH} characters"
            )
        if not VALUE.fullmatch(value):
            raise HeaderRefused(
                name,
                "the value must be visible ASCII, non-empty, without control characters "
                "(CR, LF, NUL...) nor leading or trailing spaces",
            )
    return headers


def deliverable(headers: dict[str, str]) -> dict[str, str]:
    """What a delivery sends of stored headers: reserved names are left out even if a store
    edited by hand holds them, so they never override hookline's own."""
    return {name: value for name, value in headers.items() if not is_reserved(name)}


def as_recorded(own: dict[str, str], extra: dict[str, str]) -> dict[str, str]:
    """An attempt's request headers as the attempt inspector keeps them: hookline's own as
    sent (the signatures are HMACs of the body: they never reveal the secret), the trace
    context as sent, and every other extra header (the webhook's custom headers, which may be
    credentials) with its value masked."""
    recorded = dict(own)
    for name, value in extra.items():
        recorded[name] = value if name.lower() in TRACE_CONTEXT else MASKED_VALUE
    return recorded
