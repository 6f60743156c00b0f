"""Encryption at rest (webhook secrets in the store) and in Temporal history (payload codec).

``HOOKLINE_ENCRYPTION_KEY`` is a comma-separated list of base64 32-byte AES keys. The first
encrypts; all decrypt, so a key is rotated by putting the new one first and dropping the old
one once nothing written with it remains. Each ciphertext names its key by a short id (the
first 8 hex characters of the SHA-256 of the key), never the key itself.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

import temporalio.converter
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload

from hookline.infra.converter import SharedPayloadConverter

KEY_BYTES = 32
NONCE_BYTES = 12
SEALED_PREFIX = "enc:"
_SEALED_V1 = "enc:v1:"
CODEC_ENCODING = b"binary/encrypted"
CODEC_KEY_ID = "encryption-key-id"
# Distinct associated data per use, so a ciphertext from one can never pass as the other.
_AAD_SECRET = b"hookline/secret/v1"
_AAD_PAYLOAD = b"hookline/payload/v1"


def generate_key() -> str:
    """A new random key, in the form ``HOOKLINE_ENCRYPTION_KEY`` expects."""
    return base64.b64encode(os.urandom(KEY_BYTES)).decode("ascii")


def kept_key(path: Path) -> str:
    """The key kept in `path` (`hookline dev`'s data dir): created once, mode 0600."""
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(generate_key() + "\n")
    path.chmod(0o600)
    key = path.read_text().strip()
    parse_keys([key])  # ValueError (no key in it) if the file was damaged
    return key


def key_id(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:8]


def parse_keys(keys: list[str]) -> list[tuple[str, bytes]]:
    """``[(key id, key bytes)]`` in the given order; blank entries are ignored.

    Raises ``ValueError`` naming the position of a bad key (never its value: it is a secret).
    """
    parsed: list[tuple[str, bytes]] = []
    for position, text in enumerate(keys, start=1):
        text = text.strip()
        if not text:
            continue
        try:
            key = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError(
                f"encryption key #{position} is not valid base64 "
                "(generate one with: python -c 'import hookline.infra.crypto as c; "
                "print(c.generate_key())')"
            ) from exc
        if len(key) != KEY_BYTES:
            raise ValueError(
                f"encryption key #{position} decodes to {len(key)} bytes; it must be {KEY_BYTES}"
            )
        kid = key_id(key)
        if all(kid != existing for existing, _ in parsed):
            parsed.append((kid, key))
    return parsed


def configured_key_ids(keys: list[str]) -> set[str]:
    return {kid for kid, _ in parse_keys(keys)}


def sealed_key_id(stored: str) -> str | None:
    """The key id a stored value was sealed with (``enc:v1:<id>:...``); None if in clear."""
    if not stored.startswith(_SEALED_V1):
        return None
    return stored[len(_SEALED_V1) :].partition(":")[0] or None


def payload_key_id(payload: Payload) -> str | None:
    """The key id a Temporal payload was encrypted with by EncryptionCodec; None if in clear."""
    if payload.metadata.get("encoding") != CODEC_ENCODING:
        return None
    return payload.metadata.get(CODEC_KEY_ID, b"").decode("ascii", "replace")


def missing_key_message(where: str, missing: set[str], configured: set[str]) -> str:
    """One line: which data is sealed by which key ids no longer configured, and what to do."""
    ids = ", ".join(sorted(missing))
    have = (
        f"HOOKLINE_ENCRYPTION_KEY holds {', '.join(sorted(configured))}"
        if configured
        else "HOOKLINE_ENCRYPTION_KEY is not set"
    )
    return (
        f"{where} sealed with encryption key {ids}, which is not configured ({have}): "
        "put that key back in HOOKLINE_ENCRYPTION_KEY after the current one; drop a key only "
        "once nothing sealed with it remains (the event retention after rotating)"
    )


class _Keyring:
    """The first key encrypts, any key decrypts by id."""

    def __init__(self, keys: list[str]) -> None:
        parsed = parse_keys(keys)
        self._ciphers = {kid: AESGCM(key) for kid, key in parsed}
        self.current = parsed[0][0] if parsed else None

    def encrypt(self, plaintext: bytes, aad: bytes) -> tuple[str, bytes]:
        if self.current is None:
            raise ValueError("no encryption key configured")
        nonce = os.urandom(NONCE_BYTES)  # random 96-bit nonce per message, as GCM requires
        return self.current, nonce + self._ciphers[self.current].encrypt(nonce, plaintext, aad)

    def decrypt(self, kid: str, blob: bytes, aad: bytes) -> bytes:
        cipher = self._ciphers.get(kid)
        if cipher is None:
            raise ValueError(
                f"encrypted with key {kid}, which is not in HOOKLINE_ENCRYPTION_KEY"
                if self._ciphers
                else f"encrypted with key {kid}, but HOOKLINE_ENCRYPTION_KEY is not set"
            )
        try:
            return cipher.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], aad)
        except InvalidTag as exc:
            raise ValueError(f"decryption with key {kid} failed: data altered") from exc


class SecretBox:
    """Seals short strings (webhook secrets) for the store.

    With no key, ``seal`` is the identity, and ``open`` returns values that were stored
    before a key was configured unchanged, so enabling encryption needs no migration.
    """

    def __init__(self, keys: list[str]) -> None:
        self._keyring = _Keyring(keys)

    @property
    def enabled(self) -> bool:
        return self._keyring.current is not None

    def seal(self, plaintext: str) -> str:
        """``enc:v1:<key id>:<base64(nonce + ciphertext)>``, or ``plaintext`` without keys."""
        if not self.enabled:
            return plaintext
        kid, blob = self._keyring.encrypt(plaintext.encode("utf-8"), _AAD_SECRET)
        return f"{_SEALED_V1}{kid}:{base64.b64encode(blob).decode('ascii')}"

    def open(self, stored: str) -> str:
        if not stored.startswith(SEALED_PREFIX):
            return stored
        if not stored.startswith(_SEALED_V1):
            raise ValueError("unsupported sealed value version")
        kid, sep, encoded = stored[len(_SEALED_V1) :].partition(":")
        try:
            blob = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError("malformed sealed value") from exc
        if not sep or len(blob) < NONCE_BYTES + 16:  # nonce + GCM tag at least
            raise ValueError("malformed sealed value")
        return self._keyring.decrypt(kid, blob, _AAD_SECRET).decode("utf-8")


class EncryptionCodec(temporalio.converter.PayloadCodec):
    """Encrypts every payload Temporal stores (workflow inputs, results, signals...)."""

    def __init__(self, keys: list[str]) -> None:
        self._keyring = _Keyring(keys)
        if self._keyring.current is None:
            raise ValueError("EncryptionCodec needs at least one key")
        self.key_ids = configured_key_ids(keys)

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        encoded = []
        for payload in payloads:
            kid, blob = self._keyring.encrypt(payload.SerializeToString(), _AAD_PAYLOAD)
            encoded.append(
                Payload(
                    metadata={"encoding": CODEC_ENCODING, CODEC_KEY_ID: kid.encode("ascii")},
                    data=blob,
                )
            )
        return encoded

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        decoded = []
        for payload in payloads:
            # Pass through what we did not encrypt (history from before a key was set).
            if payload.metadata.get("encoding") != CODEC_ENCODING:
                decoded.append(payload)
                continue
            kid = payload.metadata.get(CODEC_KEY_ID, b"").decode("ascii", "replace")
            decoded.append(
                Payload.FromString(self._keyring.decrypt(kid, payload.data, _AAD_PAYLOAD))
            )
        return decoded


def data_converter(keys: list[str]) -> temporalio.converter.DataConverter:
    """The converter for clients and workers: pydantic-aware, encrypted when keys are set."""
    # temporalio.contrib.pydantic's converter, built once (infra/converter.py).
    plain = temporalio.converter.DataConverter(payload_converter_class=SharedPayloadConverter)
    if not parse_keys(keys):
        return plain
    return dataclasses.replace(
        plain,
        payload_codec=EncryptionCodec(keys),
        # Failure messages and stack traces can carry payload data: encrypt them too.
        failure_converter_class=temporalio.converter.DefaultFailureConverterWithEncodedAttributes,
    )
