"""hookline.client's receiver helper against what core/signing.py signs (and what the official
Standard Webhooks library signs), its error parsing, and that it pulls in no server code."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest
from standardwebhooks import Webhook as StandardWebhook

from hookline.client import (
    BadRequest,
    HooklineError,
    InvalidSignature,
    NotFound,
    RateLimited,
    ServiceUnavailable,
    Webhook,
    verify,
)
from hookline.client.errors import error_from_response, parse_retry_after
from hookline.core import signing

SECRET = "whsec_" + base64.b64encode(b"s" * 32).decode()
OLD_SECRET = "whsec_" + base64.b64encode(b"o" * 32).decode()
OTHER_SECRET = "whsec_" + base64.b64encode(b"x" * 32).decode()
EVENT = {
    "id": "evt_1",
    "type": "user.created",
    "created": "2026-01-01T00:00:00Z",
    "data": {"id": "usr_1"},
    "tenant": "ten_1",
}
BODY = json.dumps(EVENT, separators=(",", ":")).encode()


def signed(
    secrets: list[str] | None = None, body: bytes = BODY, timestamp: int | None = None
) -> dict[str, str]:
    """The headers hookline sends with a delivery (core/signing.py)."""
    stamp = int(time.time()) if timestamp is None else timestamp
    return signing.signature_headers(
        secrets or [SECRET], msg_id="dlv_1", timestamp=stamp, body=body
    )


def test_a_signed_delivery_verifies_and_returns_the_event():
    headers = signed()
    assert Webhook(SECRET).verify(BODY, headers) == EVENT
    assert verify(SECRET, BODY, headers) == EVENT
    # Header names in any case, as a list of pairs, or httpx's headers; a str body too.
    lowered = [(name.upper(), value) for name, value in headers.items()]
    assert Webhook(SECRET).verify(BODY.decode(), lowered) == EVENT
    assert Webhook(SECRET).verify(BODY, httpx.Headers(headers)) == EVENT


def test_each_scheme_verifies_alone():
    headers = signed()
    hex_only = {signing.HEADER_SIGNATURE: headers[signing.HEADER_SIGNATURE]}
    standard_only = {k: v for k, v in headers.items() if not k.startswith("X-Webhook")}
    assert Webhook(SECRET).verify(BODY, hex_only) == EVENT
    assert Webhook(SECRET).verify(BODY, standard_only) == EVENT
    # Asking for the timestamped scheme refuses a request without it (no replay by stripping).
    with pytest.raises(InvalidSignature, match="no signature header"):
        Webhook(SECRET, schemes=["standard"]).verify(BODY, hex_only)
    assert Webhook(SECRET, schemes=["hex"]).verify(BODY, hex_only) == EVENT


@pytest.mark.parametrize(
    "tamper",
    ["body", "secret", "timestamp", "msg_id", "hex signature", "standard signature"],
)
def test_tampering_is_rejected(tamper: str):
    headers = signed()
    body = BODY
    secret = SECRET
    if tamper == "body":
        body = BODY.replace(b"usr_1", b"usr_2")
    elif tamper == "secret":
        secret = OTHER_SECRET
    elif tamper == "timestamp":  # still within the tolerance, but not what was signed
        headers[signing.HEADER_TIMESTAMP] = str(int(headers[signing.HEADER_TIMESTAMP]) - 10)
    elif tamper == "msg_id":
        headers[signing.HEADER_ID] = "dlv_2"
    elif tamper == "hex signature":
        headers[signing.HEADER_SIGNATURE] = signing.sign_hex(SECRET, b"other")
    else:
        headers[signing.HEADER_STANDARD_SIGNATURE] = signing.sign_standard(
            SECRET, "dlv_1", int(headers[signing.HEADER_TIMESTAMP]), b"other"
        )
    with pytest.raises(InvalidSignature):
        Webhook(secret).verify(body, headers)


def test_a_valid_hex_signature_does_not_excuse_a_bad_standard_one():
    headers = signed()
    headers[signing.HEADER_STANDARD_SIGNATURE] = "v1," + base64.b64encode(b"0" * 32).decode()
    with pytest.raises(InvalidSignature, match="webhook-signature"):
        Webhook(SECRET).verify(BODY, headers)


def test_the_timestamp_tolerance_both_ways():
    now = time.time()
    for offset in (-299, 299):
        headers = signed(timestamp=int(now) + offset)
        assert Webhook(SECRET).verify(BODY, headers, now=now) == EVENT
    with pytest.raises(InvalidSignature, match="too old"):
        Webhook(SECRET).verify(BODY, signed(timestamp=int(now) - 301), now=now)
    with pytest.raises(InvalidSignature, match="too new"):
        Webhook(SECRET).verify(BODY, signed(timestamp=int(now) + 301), now=now)
    old = signed(timestamp=int(now) - 3600)
    assert Webhook(SECRET, tolerance=7200).verify(BODY, old, now=now) == EVENT
    old[signing.HEADER_TIMESTAMP] = "yesterday"
    with pytest.raises(InvalidSignature, match="not an integer"):
        Webhook(SECRET).verify(BODY, old)


@pytest.mark.parametrize("stamp_form", ["+{}", "{:_}", "0{}", "{}.0", "{:e}", " {} "])
def test_a_timestamp_in_another_form_than_signed_is_refused(stamp_form: str):
    """The signature covers the timestamp's text: "+17…" or "1_7…" is not what was signed,
    even where int() reads the same number. Surrounding spaces are only header whitespace."""
    headers = signed()
    stamp = int(headers[signing.HEADER_TIMESTAMP])
    headers[signing.HEADER_TIMESTAMP] = stamp_form.format(stamp)
    if stamp_form == " {} ":
        assert Webhook(SECRET).verify(BODY, headers) == EVENT
        return
    with pytest.raises(InvalidSignature, match="webhook-timestamp"):
        Webhook(SECRET).verify(BODY, headers)


@pytest.mark.parametrize(
    "entries",
    ["v1,", "v1, {valid}", "v1 {valid}", "v2,abc {valid}", "v1,,, {valid}", ", {valid}", ""],
)
def test_a_malformed_signature_entry_is_skipped_not_a_crash(entries: str):
    """A receiver's verifier must answer InvalidSignature or verify, never raise anything else,
    whatever the header holds: an empty or foreign entry beside the valid one is skipped."""
    headers = signed()
    valid = headers[signing.HEADER_STANDARD_SIGNATURE]
    headers[signing.HEADER_STANDARD_SIGNATURE] = entries.format(valid=valid)
    if "{valid}" in entries:
        assert Webhook(SECRET, schemes=["standard"]).verify(BODY, headers) == EVENT
    else:
        with pytest.raises(InvalidSignature, match="no matching webhook-signature"):
            Webhook(SECRET, schemes=["standard"]).verify(BODY, headers)


def test_during_a_rotation_either_secret_verifies():
    """hookline signs with the new and the old secret while it rotates: a receiver holding
    either one (or both) accepts; one holding neither does not."""
    headers = signed([SECRET, OLD_SECRET])
    assert len(headers[signing.HEADER_STANDARD_SIGNATURE].split()) == 2
    for secrets in ([SECRET], [OLD_SECRET], [OTHER_SECRET, OLD_SECRET]):
        assert Webhook(secrets).verify(BODY, headers) == EVENT
        for scheme in ("hex", "standard"):
            assert Webhook(secrets, schemes=[scheme]).verify(BODY, headers) == EVENT
    with pytest.raises(InvalidSignature):
        Webhook(OTHER_SECRET).verify(BODY, headers)


def test_what_the_official_library_signs_verifies():
    stamp = datetime.now(UTC)
    signature = StandardWebhook(SECRET).sign("msg_1", stamp, BODY.decode())
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(int(stamp.timestamp())),
        "webhook-signature": signature,
    }
    assert Webhook(SECRET).verify(BODY, headers) == EVENT
    # ... and the official library accepts what hookline signs.
    assert StandardWebhook(SECRET).verify(BODY, signed()) == EVENT


def test_refusals_that_are_not_about_the_signature():
    with pytest.raises(InvalidSignature, match="no signature header"):
        Webhook(SECRET).verify(BODY, {"content-type": "application/json"})
    headers = signed()
    del headers[signing.HEADER_ID]
    with pytest.raises(InvalidSignature, match="webhook-id"):
        Webhook(SECRET).verify(BODY, headers)
    not_json = b"not json"
    with pytest.raises(InvalidSignature, match="not JSON"):
        Webhook(SECRET).verify(not_json, signed(body=not_json))
    with pytest.raises(ValueError, match="whsec_"):
        Webhook("whsec_not base64!")
    with pytest.raises(ValueError):
        Webhook([])
    assert issubclass(InvalidSignature, ValueError)


def test_error_answers_become_typed_exceptions():
    body = json.dumps({"error": {"code": "not_found", "message": "gone", "details": {"a": 1}}})
    error = error_from_response(404, {}, body.encode())
    assert isinstance(error, NotFound)
    assert (error.status, error.code, error.message, error.details) == (
        404,
        "not_found",
        "gone",
        {"a": 1},
    )
    limited = error_from_response(429, {"retry-after": "7"}, b'{"error": {"code": "x"}}')
    assert isinstance(limited, RateLimited) and limited.retry_after == 7.0
    # A proxy's page: still the class of its status, the body's start as the message.
    proxy = error_from_response(503, {}, b"<html>Bad gateway</html>")
    assert isinstance(proxy, ServiceUnavailable) and proxy.retry_after is None
    assert proxy.code == "http_503" and "Bad gateway" in proxy.message
    other = error_from_response(418, {}, b"")
    assert type(other) is HooklineError and other.status == 418 and other.message == "HTTP 418"
    assert str(error_from_response(400, {}, body.encode())) == "400 not_found: gone"
    assert isinstance(error_from_response(400, {}, b"{}"), BadRequest)


def test_retry_after_as_seconds_or_a_date():
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert parse_retry_after("5") == 5.0
    assert parse_retry_after(format_datetime(now + timedelta(seconds=30), True), now) == 30.0
    assert parse_retry_after(format_datetime(now - timedelta(seconds=30), True), now) == 0.0
    assert parse_retry_after("-3") == 0.0
    for unreadable in (None, "soon", "nan", "inf"):
        assert parse_retry_after(unreadable) is None


def test_the_client_pulls_in_no_server_code():
    """A publisher installs hookline for its client: importing it must not load the API, the
    store, the engine or the workflows (nor FastAPI, SQLAlchemy, Temporal)."""
    code = (
        "import sys, hookline.client\n"
        "print(' '.join(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('hookline', 'fastapi', 'sqlalchemy', 'temporalio', 'aiohttp'))))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert {m.split(".")[1] for m in loaded if m.startswith("hookline.")} <= {"client", "core"}
    assert not [m for m in loaded if not m.startswith("hookline")], loaded
