"""Signatures as receivers check them: the official standardwebhooks library and plain hmac."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from hookline.core.signing import (
    new_secret,
    sign_hex,
    sign_standard,
    signature_headers,
    verify_hex,
)

EVENT = {
    "id": "evt_1",
    "type": "user.created",
    "created": "2024-01-01T00:00:00Z",
    "data": {"n": "é"},
}
BODY = json.dumps(EVENT, separators=(",", ":"), ensure_ascii=False).encode()
FIXED_SECRET = "whsec_" + base64.b64encode(bytes(range(32))).decode()


def test_new_secret_is_prefixed_base64_of_32_random_bytes() -> None:
    secret = new_secret()
    assert secret.startswith("whsec_")
    raw = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    assert len(raw) == 32
    assert new_secret() != secret


def test_sign_hex_matches_independent_hmac_keyed_with_whole_secret_string() -> None:
    expected = hmac.new(FIXED_SECRET.encode(), BODY, hashlib.sha256).hexdigest()
    assert sign_hex(FIXED_SECRET, BODY) == expected
    # Not keyed with the decoded bytes: that is the Standard Webhooks scheme, not this one.
    decoded = base64.b64decode(FIXED_SECRET.removeprefix("whsec_"))
    assert sign_hex(FIXED_SECRET, BODY) != hmac.new(decoded, BODY, hashlib.sha256).hexdigest()


def test_sign_hex_known_vector() -> None:
    # RFC 4231 test case 2: key "Jefe".
    assert (
        sign_hex("Jefe", b"what do ya want for nothing?")
        == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    )


def test_verify_hex() -> None:
    signature = sign_hex(FIXED_SECRET, BODY)
    assert verify_hex(FIXED_SECRET, BODY, signature)
    assert verify_hex(FIXED_SECRET, BODY, signature.upper())
    assert not verify_hex(FIXED_SECRET, BODY + b" ", signature)
    assert not verify_hex(new_secret(), BODY, signature)
    assert not verify_hex(FIXED_SECRET, BODY, "")
    assert not verify_hex(FIXED_SECRET, BODY, "é" * 64)


def test_sign_standard_matches_library_signature() -> None:
    ts = 1_700_000_000
    ours = sign_standard(FIXED_SECRET, "evt_1", ts, BODY)
    theirs = Webhook(FIXED_SECRET).sign("evt_1", datetime.fromtimestamp(ts, UTC), BODY.decode())
    assert ours == theirs
    assert ours.startswith("v1,")


def test_sign_standard_rejects_secret_that_is_not_base64() -> None:
    with pytest.raises(ValueError, match="base64"):
        sign_standard("whsec_not base64!", "evt_1", 1, BODY)
    with pytest.raises(ValueError, match="empty"):
        sign_standard("whsec_", "evt_1", 1, BODY)


def test_headers_with_one_secret_verify_with_standardwebhooks() -> None:
    secret = new_secret()
    ts = int(time.time())
    headers = signature_headers([secret], msg_id="evt_abc", timestamp=ts, body=BODY)

    assert set(headers) == {
        "X-Webhook-Signature",
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
    }
    assert headers["webhook-id"] == "evt_abc"
    assert headers["webhook-timestamp"] == str(ts)
    assert (
        headers["X-Webhook-Signature"]
        == hmac.new(secret.encode(), BODY, hashlib.sha256).hexdigest()
    )
    assert Webhook(secret).verify(BODY, headers) == EVENT
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(BODY, headers)


def test_rotation_both_current_and_previous_secret_verify() -> None:
    current, previous, oldest = new_secret(), new_secret(), new_secret()
    ts = int(time.time())
    headers = signature_headers(
        [current, previous, oldest], msg_id="evt_rot", timestamp=ts, body=BODY
    )

    assert len(headers["webhook-signature"].split(" ")) == 3
    for secret in (current, previous, oldest):
        Webhook(secret).verify(BODY, headers)  # raises when no entry matches
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(BODY, headers)

    assert verify_hex(current, BODY, headers["X-Webhook-Signature"])
    assert verify_hex(previous, BODY, headers["X-Webhook-Signature-Previous"])
    assert not verify_hex(previous, BODY, headers["X-Webhook-Signature"])


def test_tampered_body_fails_every_check() -> None:
    current, previous = new_secret(), new_secret()
    headers = signature_headers(
        [current, previous], msg_id="evt_t", timestamp=int(time.time()), body=BODY
    )
    tampered = BODY.replace(b"user.created", b"user.deleted")
    for secret in (current, previous):
        with pytest.raises(WebhookVerificationError):
            Webhook(secret).verify(tampered, headers)
    assert not verify_hex(current, tampered, headers["X-Webhook-Signature"])
    assert not verify_hex(previous, tampered, headers["X-Webhook-Signature-Previous"])


def test_tampered_id_or_timestamp_fails_standard_verification() -> None:
    secret = new_secret()
    ts = int(time.time())
    headers = signature_headers([secret], msg_id="evt_1", timestamp=ts, body=BODY)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY, {**headers, "webhook-id": "evt_2"})
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY, {**headers, "webhook-timestamp": str(ts - 1)})


def test_signature_headers_needs_a_secret() -> None:
    with pytest.raises(ValueError):
        signature_headers([], msg_id="evt_1", timestamp=1, body=BODY)
