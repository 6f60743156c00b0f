"""Verifying a delivery on the receiving side: both of hookline's signature schemes
(``core/signing.py`` signs; this checks with the same functions).

    from hookline.client import Webhook, InvalidSignature

    wh = Webhook("whsec_…")                         # or [new, old] while you rotate
    try:
        event = wh.verify(request_body_bytes, request.headers)
    except InvalidSignature:
        return 400

- ``webhook-signature`` (Standard Webhooks): ``v1,<base64>`` entries, one per secret while
  hookline rotates, over ``{webhook-id}.{webhook-timestamp}.{body}``; the timestamp must be
  within ``tolerance`` of now (5 minutes by default, either way), so a captured request cannot
  be replayed later.
- ``X-Webhook-Signature`` (and ``X-Webhook-Signature-Previous`` during a rotation): the hex
  HMAC-SHA256 of the body keyed with the secret string. It has no timestamp.

Every scheme listed in ``schemes`` whose header is present must verify, and at least one must
be present. ``schemes=("standard",)`` refuses a request without a timestamp (replay
protection even against someone who strips the Standard Webhooks headers).
"""

from __future__ import annotations

import hmac
import json
import time
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from hookline.core import signing

__all__ = ["DEFAULT_TOLERANCE", "InvalidSignature", "Webhook", "verify"]

DEFAULT_TOLERANCE = 300.0  # seconds either way of now, as the Standard Webhooks libraries
Scheme = Literal["standard", "hex"]


class InvalidSignature(ValueError):
    """The request is not a delivery signed with one of these secrets (or is too old, too new,
    or not JSON): answer it 400 and do not act on it."""


def _lowered(headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> dict[str, str]:
    items = headers.items() if isinstance(headers, Mapping) else headers
    out: dict[str, str] = {}
    for name, value in items:
        key = name.decode("latin-1") if isinstance(name, bytes) else str(name)
        text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
        out[key.lower()] = text
    return out


class Webhook:
    """A receiver's verifier: ``Webhook(secret).verify(body, headers) -> dict``.

    ``secret`` is the webhook's ``whsec_…`` secret, or several of them (the new and the old
    one while you roll a rotation out on your side).
    """

    def __init__(
        self,
        secret: str | Iterable[str],
        *,
        tolerance: float = DEFAULT_TOLERANCE,
        schemes: Iterable[Scheme] = ("standard", "hex"),
    ) -> None:
        secrets = [secret] if isinstance(secret, str) else list(secret)
        if not secrets:
            raise ValueError("at least one secret is needed")
        for one in secrets:
            # Refuse a secret that cannot key the Standard Webhooks scheme now, not at the
            # first delivery (a typo, a masked secret copied from a read).
            signing.sign_standard(one, "x", 0, b"")
        self.secrets = secrets
        self.tolerance = float(tolerance)
        self.schemes = frozenset(schemes)
        if not self.schemes or not self.schemes <= {"standard", "hex"}:
            raise ValueError('schemes are "standard" and/or "hex"')

    def verify(
        self,
        body: bytes | str,
        headers: Mapping[str, str] | Iterable[tuple[str, str]],
        *,
        now: float | None = None,
    ) -> dict[str, Any]:
        """The delivered event (``{"id","type","created","data","tenant"}``) once the
        signatures verify; else ``InvalidSignature``. ``body`` must be the raw bytes as
        received (not parsed and dumped again)."""
        raw = body.encode("utf-8") if isinstance(body, str) else bytes(body)
        found = _lowered(headers)
        checked = 0
        if "standard" in self.schemes and signing.HEADER_STANDARD_SIGNATURE in found:
            self._verify_standard(raw, found, time.time() if now is None else now)
            checked += 1
        if "hex" in self.schemes and signing.HEADER_SIGNATURE.lower() in found:
            self._verify_hex(raw, found)
            checked += 1
        if not checked:
            wanted = " or ".join(
                name
                for scheme, name in (
                    ("standard", signing.HEADER_STANDARD_SIGNATURE),
                    ("hex", signing.HEADER_SIGNATURE),
                )
                if scheme in self.schemes
            )
            raise InvalidSignature(f"no signature header ({wanted})")
        try:
            event = json.loads(raw)
        except ValueError as exc:
            raise InvalidSignature("the body is not JSON") from exc
        if not isinstance(event, dict):
            raise InvalidSignature("the body is not a JSON object")
        return event

    def _verify_standard(self, body: bytes, headers: dict[str, str], now: float) -> None:
        msg_id = headers.get(signing.HEADER_ID)
        stamp = headers.get(signing.HEADER_TIMESTAMP)
        if not msg_id or not stamp:
            raise InvalidSignature(
                f"{signing.HEADER_STANDARD_SIGNATURE} without {signing.HEADER_ID} "
                f"and {signing.HEADER_TIMESTAMP}"
            )
        stamp = stamp.strip()
        # Digits only, as signed: int() would also take "+17…" or "1_7…", and the signature
        # would then be checked over a text the sender never signed.
        if not (stamp.isascii() and stamp.isdigit() and len(stamp) <= 15):
            raise InvalidSignature(f"{signing.HEADER_TIMESTAMP} is not an integer")
        timestamp = int(stamp)
        if str(timestamp) != stamp:
            raise InvalidSignature(f"{signing.HEADER_TIMESTAMP} has leading zeros")
        if timestamp < now - self.tolerance:
            raise InvalidSignature("the message timestamp is too old")
        if timestamp > now + self.tolerance:
            raise InvalidSignature("the message timestamp is too new")
        # Entries of another version, or with nothing after "v1,", are skipped, not fatal:
        # one of the others may be the one signed with this secret.
        given = [
            signature
            for entry in headers[signing.HEADER_STANDARD_SIGNATURE].split()
            for version, _, signature in [entry.rstrip(",").partition(",")]
            if version == "v1" and signature
        ]
        for secret in self.secrets:
            expected = signing.sign_standard(secret, msg_id, timestamp, body).split(",", 1)[1]
            for signature in given:
                if hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace")):
                    return
        raise InvalidSignature(f"no matching {signing.HEADER_STANDARD_SIGNATURE}")

    def _verify_hex(self, body: bytes, headers: dict[str, str]) -> None:
        given = [
            headers[name.lower()]
            for name in (signing.HEADER_SIGNATURE, signing.HEADER_SIGNATURE_PREVIOUS)
            if name.lower() in headers
        ]
        for secret in self.secrets:
            if any(signing.verify_hex(secret, body, signature) for signature in given):
                return
        raise InvalidSignature(f"no matching {signing.HEADER_SIGNATURE}")


def verify(
    secret: str | Iterable[str],
    body: bytes | str,
    headers: Mapping[str, str] | Iterable[tuple[str, str]],
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    schemes: Iterable[Scheme] = ("standard", "hex"),
    now: float | None = None,
) -> dict[str, Any]:
    """``Webhook(secret, tolerance=..., schemes=...).verify(body, headers)``."""
    return Webhook(secret, tolerance=tolerance, schemes=schemes).verify(body, headers, now=now)
