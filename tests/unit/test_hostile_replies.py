"""What `send()` keeps of a hostile reply (a real receiver on 127.0.0.1 writing raw bytes): the
body excerpt and the error text are valid UTF-8 without NUL and bounded, whatever came; the
Retry-After it keeps parses without raising; an AttemptRecord makes any result storable."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from hookline.core.models import DeliverInput, SendResult, storable_text
from hookline.core.retry import Decision, Outcome, RetrySpec, StatusClass, parse_retry_after
from hookline.delivery.send import BODY_EXCERPT_BYTES, ERROR_TEXT_CHARS
from hookline.delivery.transport import DeliveryTransport, delivery_transport
from hookline.infra.config import Settings
from hookline.store.attempts import AttemptRecord
from tests.support.receiver import Receiver, Reply
from tests.support.send import post

R = Reply.raw_reply

REPLIES = {
    "superscript-retry-after": R(headers=[(b"Retry-After", "²".encode())]),
    "nul-body": Reply(200, body=b"a\x00b\x00"),
    "nul-body-large": Reply(500, body=b"\x00" * 10_000),
    "invalid-utf8-body": Reply(500, body=b"\xff\xfe bad \xc3"),
    "body-cut-mid-character": Reply(200, body=b"x" * (BODY_EXCERPT_BYTES - 1) + "é".encode()),
    "invalid-utf8-headers": R(
        b"HTTP/1.1 503 \xff\xfe", [(b"Retry-After", b"\xff\xfe\x80"), (b"X-J", b"\xc3\x28")]
    ),
    "nul-in-header-value": R(headers=[(b"X-Nul", b"a\x00b")]),
    "nul-in-retry-after": R(b"HTTP/1.1 503 Busy", [(b"Retry-After", b"1\x002")]),
    "binary-header-name": R(headers=[(b"X-\xff\x00", b"v")]),
    "header-8000-bytes": R(headers=[(b"X-Big", b"\xff" * 8000)]),
    "retry-after-8000-digits": R(b"HTTP/1.1 503 Busy", [(b"Retry-After", b"9" * 8000)]),
    "header-10000-bytes": R(headers=[(b"Retry-After", b"\x00\xff" * 5000)]),
    "too-many-headers": R(headers=[(b"X-H%d" % i, b"\xff") for i in range(200)]),
    "bad-status-line": R(b"HTTP/1.1 2\xc200 \x00K"),
    "status-999": R(b"HTTP/1.1 999 Odd"),
    "interim-only": R(b"HTTP/1.1 199 Odd"),
    "stalls-mid-body": R(body=b"\x00partial", length=100, stall=3),
    "stalls-before-head": Reply(200, delay=3),
}


@pytest.fixture
async def http() -> AsyncIterator[DeliveryTransport]:
    async with delivery_transport(Settings(allow_private_urls=True)) as transport:
        yield transport


def assert_storable(text: str | None, limit: int) -> None:
    if text is not None:
        assert "\x00" not in text
        text.encode("utf-8")  # raises on a lone surrogate
        json.dumps(text, ensure_ascii=False).encode("utf-8")  # as the API's answer carries it
        assert len(text) <= limit


@pytest.mark.parametrize("name", sorted(REPLIES))
async def test_what_send_keeps_of_a_hostile_reply_is_storable(
    name: str, receiver: Receiver, http: DeliveryTransport
) -> None:
    receiver.script(f"/{name}", REPLIES[name])
    result = await post(http, receiver.url(f"/{name}"), timeout=1)
    assert result.status_code is not None or result.error, name
    assert_storable(result.body, BODY_EXCERPT_BYTES)
    assert_storable(result.error, ERROR_TEXT_CHARS)
    assert result.retry_after is None or len(result.retry_after) <= 256
    parse_retry_after(result.retry_after)  # never raises


async def test_the_kept_forms(receiver: Receiver, http: DeliveryTransport) -> None:
    async def of(name: str) -> SendResult:
        receiver.script(f"/{name}", REPLIES[name])
        return await post(http, receiver.url(f"/{name}"), timeout=1)

    result = await of("superscript-retry-after")
    assert (result.status_code, result.retry_after) == (200, "²")
    assert (await of("nul-body")).body == "a\ufffdb\ufffd"
    assert (await of("nul-body-large")).body == "\ufffd" * BODY_EXCERPT_BYTES
    assert (await of("invalid-utf8-body")).body == "\ufffd\ufffd bad \ufffd"
    assert (await of("body-cut-mid-character")).body == "x" * (BODY_EXCERPT_BYTES - 1) + "\ufffd"
    result = await of("invalid-utf8-headers")
    assert result.status_code == 503 and parse_retry_after(result.retry_after) is None
    result = await of("header-10000-bytes")
    assert result.status_code is None and result.error.startswith("protocol error")
    result = await of("stalls-mid-body")  # the head came: its status is the answer
    assert (result.status_code, result.error) == (
        200,
        "the body did not end within 1s (kept: what came of it)",
    )
    assert result.body == "\ufffdpartial"
    result = await of("stalls-before-head")
    assert (result.status_code, result.error) == (None, "timeout after 1s")


def test_storable_text() -> None:
    assert storable_text("ok", 10) == "ok"
    assert storable_text("a\x00b\udcffc\ud800", 100) == "a\ufffdb\ufffdc\ufffd"
    assert storable_text("é" * 10, 4) == "éééé"


def test_an_attempt_record_makes_any_result_storable() -> None:
    """The store's own check, whoever built the result (not only send())."""
    raw = SendResult(
        status_code=500,
        body="\x00\udcff" * 5000,
        error="boom \x00 \ud800" * 1000,
        duration_ms=1,
        retry_after="²",
        started_at=datetime.now(UTC),
    )
    target = DeliverInput(
        event_id="evt_1",
        tenant_id="ten_1",
        webhook_id="wh_1",
        delivery_id="dlv_1",
        retry=RetrySpec(),
    )
    decision = Decision(Outcome.RETRY, StatusClass.RETRYABLE, delay=1.0)
    record = AttemptRecord(target, "https://example.com/", 1, raw, decision, None)
    assert_storable(record.result.body, 4096)
    assert_storable(record.result.error, 1024)
    assert record.result.body.startswith("\ufffd\ufffd")
    clean = SendResult(200, "ok", None, 1, None, raw.started_at)
    assert AttemptRecord(target, "u", 1, clean, decision, None).result is clean
