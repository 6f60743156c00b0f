"""Ids: random where a thing is born, derived where it follows from others."""

from __future__ import annotations

import hashlib
import secrets

_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"


def _encode(raw: bytes, length: int) -> str:
    number = int.from_bytes(raw, "big")
    chars = []
    for _ in range(length):
        number, rest = divmod(number, 36)
        chars.append(_ALPHABET[rest])
    return "".join(chars)


def new_id(prefix: str) -> str:
    return f"{prefix}_{_encode(secrets.token_bytes(16), 24)}"


TENANT_PREFIX = "ten_"


def tenant_id() -> str:
    return new_id(TENANT_PREFIX.rstrip("_"))


def token_id() -> str:
    return new_id("tok")


def webhook_id() -> str:
    return new_id("wh")


def event_id() -> str:
    return new_id("evt")


def delivery_id(event_id: str, webhook_id: str) -> str:
    """Stable for an (event, webhook) pair: the receiver's idempotency key across retries."""
    digest = hashlib.sha256(f"{event_id}\x00{webhook_id}".encode()).digest()
    return f"dlv_{_encode(digest, 24)}"


def attempt_id(delivery_id: str, series: int, number: int) -> str:
    """One per try; the same try recorded twice (activity retried after a crash) is one row."""
    digest = hashlib.sha256(f"{delivery_id}\x00{series}\x00{number}".encode()).digest()
    return f"att_{_encode(digest, 24)}"


def tenant_scoped_event_id(tenant_id: str, client_id: str) -> str:
    """Client-chosen ids are scoped to the tenant so two tenants never collide."""
    digest = hashlib.sha256(f"{tenant_id}\x00{client_id}".encode()).digest()
    return f"evt_{_encode(digest, 24)}"
