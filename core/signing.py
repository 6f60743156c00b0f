"""Webhook signatures: our hex HMAC header and Standard Webhooks (https://standardwebhooks.com).

A secret is ``whsec_`` + base64 of 32 random bytes. The two schemes key the HMAC differently,
on purpose, so both match what receivers already have:

- ``X-Webhook-Signature``: hex HMAC-SHA256 of the raw body keyed with the whole secret string
  as UTF-8, i.e. Node's ``createHmac('sha256', secret).update(body).digest('hex')``.
- ``webhook-signature``: ``v1,<base64 HMAC-SHA256>`` of ``{id}.{timestamp}.{body}`` keyed with
  the base64-decoded part after ``whsec_``, so the official ``standardwebhooks`` libraries verify.

During a secret rotation the older secrets still sign, so receivers can switch at their pace.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets as _random

SECRET_PREFIX = "whsec_"

HEADER_SIGNATURE = "X-Webhook-Signature"
HEADER_SIGNATURE_PREVIOUS = "X-Webhook-Signature-Previous"
HEADER_ID = "webhook-id"
HEADER_TIMESTAMP = "webhook-timestamp"
HEADER_STANDARD_SIGNATURE = "webhook-signature"


def new_secret() -> str:
    """A fresh ``whsec_`` secret: base64 (standard alphabet, padded) of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(_random.token_bytes(32)).decode("ascii")


def sign_hex(secret: str, body: bytes) -> str:
    """Hex HMAC-SHA256 of ``body`` keyed with the secret string exactly as stored."""
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def verify_hex(secret: str, body: bytes, signature: str) -> bool:
    """True when ``signature`` is the hex signature of ``body``; constant-time comparison."""
    # Lower-case both sides: hex is case-insensitive, and compare_digest wants ASCII str.
    try:
        return hmac.compare_digest(sign_hex(secret, body), signature.strip().lower())
    except TypeError:  # non-ASCII characters in the received header
        return False


def _standard_key(secret: str) -> bytes:
    encoded = secret.removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("webhook secret is not whsec_ followed by base64") from exc
    if not key:
        raise ValueError("webhook secret is empty")
    return key


def sign_standard(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """Standard Webhooks ``v1,<base64>`` signature of ``{msg_id}.{timestamp}.{body}``."""
    # Sign the raw bytes (not a decoded str) so what we sign is exactly what we send.
    message = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(_standard_key(secret), message, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def signature_headers(
    secrets: list[str], *, msg_id: str, timestamp: int, body: bytes
) -> dict[str, str]:
    """All signature headers for one request.

    ``secrets[0]`` is the current secret; ``secrets[1:]`` are older ones still within their
    rotation grace period. The hex header carries the current secret and, when rotating, the
    previous one; ``webhook-signature`` carries one ``v1,...`` entry per secret.
    """
    if not secrets:
        raise ValueError("at least one secret is needed to sign")
    headers = {HEADER_SIGNATURE: sign_hex(secrets[0], body)}
    if len(secrets) > 1:
        headers[HEADER_SIGNATURE_PREVIOUS] = sign_hex(secrets[1], body)
    headers[HEADER_ID] = msg_id
    headers[HEADER_TIMESTAMP] = str(timestamp)
    headers[HEADER_STANDARD_SIGNATURE] = " ".join(
        sign_standard(secret, msg_id, timestamp, body) for secret in secrets
    )
    return headers
