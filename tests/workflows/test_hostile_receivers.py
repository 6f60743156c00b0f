"""Hostile receivers, on the real Temporal dev server, a real store (SQLite and PostgreSQL 15)
and a real receiver on 127.0.0.1 that writes any bytes: nothing a receiver sends (status,
headers, body bytes, timing) fails the recording of its attempt, and one target's trouble
never POSTs another target of the same event again (docs/RELIABILITY.md, "Hostile receivers").

Before: `Retry-After: ²` on a 200 (`"²".isdigit()` is true, `float("²")` fails) raised in the
first-attempt step, which was retried whole: the event's healthy receivers got 6-7 POSTs each
while their deliveries showed 1 attempt, and the odd one ended "failed, 0 attempts". On
PostgreSQL a NUL in a body did the same (text cannot hold it: the batch INSERT failed).
"""

from __future__ import annotations

import dataclasses
from email.utils import parsedate_to_datetime

import pytest

from hookline.activities import delivery as delivery_activities
from hookline.core.models import SendResult
from tests.support.flow import publish, settled
from tests.support.receiver import Reply
from tests.support.store import add_webhook, event_rows
from tests.support.temporal import isolated_settings, running_worker

BOTH_STORES = pytest.mark.parametrize("store_kind", ["sqlite", "postgres"])
# Fast retries (1 s, then 1.5 s); room for every target's request at once on one origin.
FAST = {"retry_initial_interval": 1, "retry_backoff": 1.5, "max_requests_per_endpoint": 64}
# The odd ones: 2 attempts in all, a honoured Retry-After capped at 1 s, a 1 s timeout.
ODD_RETRY = {"max_attempts": 2, "retry_after_cap": 1, "timeout": 1}
HEALTHY = ("/ok-1", "/ok-2", "/ok-3")
SUP2 = "²".encode()
R = Reply.raw_reply

# path -> (what the receiver answers, attempts it gets and that are recorded, final status)
HOSTILE: dict[str, tuple[Reply, int, str]] = {
    # Retry-After in every odd form: never a crash, never a tight loop, never an hour's wait.
    "/ra-superscript": (R(headers=[(b"Retry-After", SUP2)]), 1, "succeeded"),
    "/ra-superscript-503": (R(b"HTTP/1.1 503 Busy", [(b"Retry-After", SUP2)]), 2, "failed"),
    "/ra-negative": (Reply(503, headers={"Retry-After": "-1"}), 2, "failed"),
    "/ra-1e999": (Reply(429, headers={"Retry-After": "1e999"}), 2, "failed"),
    "/ra-nan": (Reply(503, headers={"Retry-After": "NaN"}), 2, "failed"),
    "/ra-zero": (Reply(503, headers={"Retry-After": "0"}), 2, "failed"),
    "/ra-bad-date": (
        Reply(503, headers={"Retry-After": "Mon, 32 Foo 2015 99:99:99 GMT"}),
        2,
        "failed",
    ),
    "/ra-8000-digits": (R(b"HTTP/1.1 503 Busy", [(b"Retry-After", b"9" * 8000)]), 2, "failed"),
    # 10,000 digits: past aiohttp's 8,190-byte field limit, a protocol error (retried).
    "/ra-10000-digits": (R(headers=[(b"Retry-After", b"9" * 10_000)]), 2, "failed"),
    # Body bytes PostgreSQL's text cannot hold, or that are not UTF-8.
    "/nul-body": (Reply(200, body=b"a\x00b"), 1, "succeeded"),
    "/nul-body-500": (Reply(500, body=b"\x00" * 5000), 2, "failed"),
    "/bad-utf8": (
        R(
            b"HTTP/1.1 500 \xff\xfe",
            [(b"Retry-After", b"\xff\xfe\x80"), (b"X-Junk", b"\xc3\x28")],
            b"\xff\xfe bad \xc3",
        ),
        2,
        "failed",
    ),
    # Header bytes and sizes at and past aiohttp's limits.
    "/nul-header": (R(headers=[(b"X-Nul", b"a\x00b")]), 2, "failed"),
    "/binary-header-name": (R(headers=[(b"X-\xff\x00", b"v")]), 2, "failed"),
    "/header-8000": (R(headers=[(b"X-Big", b"x" * 8000)]), 1, "succeeded"),
    "/too-many-headers": (R(headers=[(b"X-H%d" % i, b"v") for i in range(200)]), 2, "failed"),
    # Timing: no head within the timeout; a head, then a body that stops coming.
    "/stalls-before-head": (Reply(200, delay=3), 2, "failed"),
    "/stalls-mid-body": (R(body=b"partial", length=100, stall=3), 1, "succeeded"),
}


@pytest.fixture
def fast_settings(settings):
    return isolated_settings(settings, **FAST)


def storable(text: str | None) -> bool:
    """Valid UTF-8 (encoding raises on a lone surrogate) without NUL."""
    return text is None or ("\x00" not in text and bool(text.encode("utf-8") or True))


async def deliver_one_event(dev_env, settings, sessions, tenant, receiver, odd: dict):
    """One event to the healthy webhooks and the odd ones: (progress, rows, webhooks by path)."""
    hooks = {}
    for path in HEALTHY:
        hooks[path] = await add_webhook(sessions, tenant.tenant_id, receiver.url(path))
    for path, reply in odd.items():
        receiver.script(path, reply)
        hooks[path] = await add_webhook(
            sessions, tenant.tenant_id, receiver.url(path), retry=ODD_RETRY
        )
    async with running_worker(dev_env.client, settings):
        handle = await publish(dev_env.client, settings, tenant.tenant_id)
        progress = await settled(handle, timeout=60)
    return progress, await event_rows(sessions, handle.id), hooks


def by_webhook(attempts: list) -> dict[str, list]:
    grouped: dict[str, list] = {}
    for attempt in attempts:
        grouped.setdefault(attempt.webhook_id, []).append(attempt)
    return grouped


def assert_healthy_got_one_post_each(receiver, progress, rows, hooks) -> None:
    _, deliveries, attempts = rows
    recorded = by_webhook(attempts)
    for path in HEALTHY:
        requests = receiver.for_path(path)
        assert [r.headers["x-webhook-attempt"] for r in requests] == ["1"], path
        webhook = hooks[path]
        assert progress.deliveries[webhook.id] == "succeeded"
        assert [(a.number, a.status_code) for a in recorded[webhook.id]] == [(1, 200)]
        assert deliveries[webhook.id].attempts == 1


@BOTH_STORES
async def test_hostile_receivers_are_recorded_and_spare_their_neighbours(
    dev_env, fast_settings, sessions, tenant, receiver
):
    odd = {path: reply for path, (reply, _, _) in HOSTILE.items()}
    progress, rows, hooks = await deliver_one_event(
        dev_env, fast_settings, sessions, tenant, receiver, odd
    )
    event, deliveries, attempts = rows
    assert_healthy_got_one_post_each(receiver, progress, rows, hooks)
    recorded = by_webhook(attempts)
    for path, (_, count, status) in HOSTILE.items():
        webhook = hooks[path]
        got = receiver.for_path(path)
        mine = recorded.get(webhook.id, [])
        # Every POST it got is one recorded attempt, numbered 1..n, and the delivery says so.
        assert len(got) == count, (path, [(a.status_code, a.error) for a in mine])
        assert [a.number for a in mine] == list(range(1, count + 1)), path
        assert [r.headers["x-webhook-attempt"] for r in got] == [
            str(n) for n in range(1, count + 1)
        ], path
        assert progress.deliveries[webhook.id] == status, path
        assert (deliveries[webhook.id].status, deliveries[webhook.id].attempts) == (status, count)
        for attempt in mine:
            assert storable(attempt.response_body) and storable(attempt.error), path
            assert attempt.response_body is None or len(attempt.response_body) <= 4096
            assert attempt.error is None or len(attempt.error) <= 1024
            assert attempt.status_code is not None or attempt.error, path
        # A Retry-After of 0 or in any odd form never makes a tight loop: the next attempt
        # waited at least the floor (1 s) or the back-off (1 s).
        if count == 2:
            assert got[1].at - got[0].at >= 0.9, path
    assert event.status == "failed"  # settled: every delivery ended, some failed
    assert progress.status == "failed" and not progress.in_flight

    def first(path: str):
        return recorded[hooks[path].id][0]

    assert (first("/ra-superscript").status_code, first("/ra-superscript").outcome) == (
        200,
        "success",
    )
    assert first("/nul-body").response_body == "a\ufffdb"
    assert first("/nul-body-500").response_body == "\ufffd" * 4096
    assert first("/bad-utf8").response_body == "\ufffd\ufffd bad \ufffd"
    assert first("/bad-utf8").status_code == 500
    assert first("/header-8000").status_code == 200
    assert first("/ra-10000-digits").error.startswith("protocol error")
    assert first("/nul-header").error.startswith("protocol error")
    assert "timeout" in first("/stalls-before-head").error
    stalled = first("/stalls-mid-body")  # the head said 200: delivered, the cut body noted
    assert (stalled.status_code, stalled.outcome) == (200, "success")
    assert stalled.error == "the body did not end within 1s (kept: what came of it)"


def _old_parse_retry_after(value: str | None, *, now=None) -> float | None:
    """core/retry.py's parser before this fix: raises on `²`."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp())


@BOTH_STORES
async def test_what_breaks_behind_send_stays_with_its_own_target(
    dev_env, fast_settings, sessions, tenant, receiver, monkeypatch
):
    """The defences behind `send()`: an exception while attempting one target (here the old
    Retry-After parser) is that target's recorded, retried attempt; a body or error that
    `send()` let through unstorable (NUL, a lone surrogate) is made storable by the store."""
    monkeypatch.setattr(delivery_activities, "parse_retry_after", _old_parse_retry_after)
    real_send = delivery_activities.send

    async def leaky_send(http, url, body, **kwargs) -> SendResult:
        result = await real_send(http, url, body, **kwargs)
        if url.endswith("/leaky"):
            junk = "\x00 \udcff " * 2000
            return dataclasses.replace(result, body="a\x00b\udcff" + junk, error=junk)
        return result

    monkeypatch.setattr(delivery_activities, "send", leaky_send)
    odd = {"/ra-superscript": R(headers=[(b"Retry-After", SUP2)]), "/leaky": Reply(500)}
    progress, rows, hooks = await deliver_one_event(
        dev_env, fast_settings, sessions, tenant, receiver, odd
    )
    _, deliveries, attempts = rows
    assert_healthy_got_one_post_each(receiver, progress, rows, hooks)
    recorded = by_webhook(attempts)
    broken = recorded[hooks["/ra-superscript"].id]
    assert len(receiver.for_path("/ra-superscript")) == len(broken) == 2
    assert [(a.status_code, a.outcome) for a in broken] == [(200, "retry"), (200, "fail")]
    assert all(a.error.startswith("internal error: ValueError") for a in broken)
    assert deliveries[hooks["/ra-superscript"].id].attempts == 2
    leaky = recorded[hooks["/leaky"].id]
    assert len(receiver.for_path("/leaky")) == len(leaky) == 2
    for attempt in leaky:
        assert attempt.response_body.startswith("a\ufffdb\ufffd")
        assert storable(attempt.response_body) and storable(attempt.error)
        assert len(attempt.response_body) <= 4096 and len(attempt.error) <= 1024
    assert "\x00" not in (deliveries[hooks["/leaky"].id].last_error or "")
