"""Searching events (`q`: id or idempotency key; `data.<path>=value`: a payload field) in the
API and the console, and the headers each attempt records (the attempt inspector's)."""

from __future__ import annotations

import asyncio
import html
import json
import re
from datetime import UTC, datetime, timedelta

import pytest

from hookline.core import ids
from hookline.core.models import HEADERS_CHARS, HEADERS_KEPT, storable_headers
from hookline.store.tables import Event
from tests.api.conftest import assert_error
from tests.api.test_console import sign_in
from tests.support.receiver import Reply

EVENTS = [
    # (idempotency key, data)
    ("order-1001", {"user": {"id": "usr_1", "plan": "pro"}, "amount": 42}),
    (None, {"user": {"id": "usr_2"}, "amount": 7}),
    ("order-1003", {"user": {"id": "usr_1"}, "note": "second of usr_1"}),
    (None, {"user": "usr_1"}),  # not an object at user: no match for user.id
]


async def add_events(sessions, tenant_id: str) -> list[str]:
    now = datetime.now(UTC)
    made = []
    async with sessions.begin() as session:
        for n, (key, data) in enumerate(EVENTS):
            event_id = ids.event_id()
            session.add(
                Event(
                    id=event_id, tenant_id=tenant_id, type="user.created", data=data,
                    idempotency_key=key, created=now - timedelta(minutes=n), status="succeeded",
                    stages=[], expires_at=now + timedelta(days=7),
                )
            )  # fmt: skip
            made.append(event_id)
    return made


async def add_data(sessions, tenant_id: str, datas: list[dict]) -> list[str]:
    """An event for each `data`, newest first, a minute apart."""
    now = datetime.now(UTC)
    made = []
    async with sessions.begin() as session:
        for n, data in enumerate(datas):
            made.append(ids.event_id())
            session.add(
                Event(
                    id=made[-1], tenant_id=tenant_id, type="user.created", data=data,
                    created=now - timedelta(minutes=n), status="succeeded", stages=[],
                    expires_at=now + timedelta(days=7),
                )
            )  # fmt: skip
    return made


async def found(client, headers, **params) -> list[str]:
    answer = await client.get("/api/v1/events", headers=headers, params=params)
    assert answer.status_code == 200, answer.text
    return [e["id"] for e in answer.json()["data"]]


async def test_events_are_found_by_id_key_and_payload_field(client, tenant, other_tenant, sessions):
    first, second, third, fourth = await add_events(sessions, tenant.tenant_id)
    theirs = await add_events(sessions, other_tenant.tenant_id)
    h = tenant.headers

    assert await found(client, h, q=second) == [second]
    assert await found(client, h, q="order-1003") == [third]
    assert await found(client, h, q=theirs[0]) == []  # another tenant's id
    assert await found(client, h, q="order") == []  # exact, not a prefix
    assert await found(client, h, **{"data.user.id": "usr_1"}) == [first, third]
    assert await found(client, h, **{"data.user.id": "usr_1", "data.user.plan": "pro"}) == [first]
    assert await found(client, h, **{"data.amount": "42"}) == [first]  # a number, as text
    assert await found(client, h, **{"data.user": "usr_1"}) == [fourth]
    assert await found(client, h, **{"data.user.id": "usr_9"}) == []
    # Injection-looking paths and values are refused or bound as parameters.
    assert await found(client, h, **{"data.user.id": "usr_1' OR '1'='1"}) == []
    both = await client.get(
        "/api/v1/events", headers=h, params={"q": "order-1001", "data.user.id": "usr_1"}
    )
    assert [e["id"] for e in both.json()["data"]] == [first]
    assert both.json()["meta"]["total"] == 1


async def test_payload_search_tells_booleans_from_numbers(client, tenant, sessions):
    # JSON types: `1` finds the number 1 (and the string "1"), never `true`; `true` and
    # `false` find booleans (and those strings), never 1 or 0. SQLite's json_extract reads
    # true as 1, which once made data.v=1 find true and data.v=true find nothing.
    values = [True, False, 1, 0, "true", "1", 1.5, None, {"x": 1}, [1], {"v": True}]
    made = await add_data(sessions, tenant.tenant_id, [{"v": v, "w": {"v": v}} for v in values])
    true, false, one, zero, true_text, one_text, one_and_half = made[:7]
    h = tenant.headers

    assert await found(client, h, **{"data.v": "1"}) == [one, one_text]
    assert await found(client, h, **{"data.v": "0"}) == [zero]
    assert await found(client, h, **{"data.v": "true"}) == [true, true_text]
    assert await found(client, h, **{"data.v": "false"}) == [false]
    assert await found(client, h, **{"data.w.v": "true"}) == [true, true_text]
    assert await found(client, h, **{"data.w.v": "1"}) == [one, one_text]
    assert await found(client, h, **{"data.v": "1.5"}) == [one_and_half]
    assert await found(client, h, **{"data.v": "True"}) == []
    # null, objects and lists are no scalar: found by no text.
    for text in ("null", "None", "[1]", '{"x":1}', '{"x": 1}'):
        assert await found(client, h, **{"data.v": text}) == []


async def test_nul_in_data_is_refused_and_never_breaks_a_search(
    client, tenant, sessions, store_kind
):
    # PostgreSQL cannot read U+0000 out of a JSON document: one event holding it once made
    # every payload search of its tenant a 500. It is refused at publish; one stored before
    # (inserted here as it was) breaks no search, and PostgreSQL's never finds it.
    h = tenant.headers
    for data in ({"note": "a\u0000b"}, {"a\u0000": 1}, {"list": [{"deep": "\u0000"}]}):
        refused = await client.post(
            "/api/v1/events", headers=h, json={"type": "user.created", "data": data}
        )
        assert_error(refused, 400)
        assert refused.json()["error"]["details"]["limit"] == "no_nul"
    assert "U+0000" in refused.json()["error"]["message"]
    assert "list[0].deep" in refused.json()["error"]["message"]

    first, _, third, _ = await add_events(sessions, tenant.tenant_id)
    now = datetime.now(UTC)
    stored_before = {
        # (data, created): a backslash before u0000 is text, not U+0000: found everywhere.
        ids.event_id(): ({"user": {"id": "usr_1"}, "note": "\\u0000"}, now + timedelta(seconds=2)),
        ids.event_id(): ({"user": {"id": "usr_1"}, "note": "x\u0000y"}, now + timedelta(seconds=1)),
        ids.event_id(): ({"user\u0000": {"id": "usr_1"}}, now),
    }
    async with sessions.begin() as session:
        for event_id, (data, created) in stored_before.items():
            session.add(
                Event(
                    id=event_id, tenant_id=tenant.tenant_id, type="user.created", data=data,
                    created=created, status="succeeded", stages=[],
                    expires_at=now + timedelta(days=7),
                )
            )  # fmt: skip
    escaped, with_nul, _ = stored_before
    expected = (
        [escaped, first, third] if store_kind == "postgres" else [escaped, with_nul, first, third]
    )
    assert await found(client, h, **{"data.user.id": "usr_1"}) == expected
    if store_kind == "postgres":
        assert await found(client, h, **{"data.note": "x"}) == []


async def test_payload_search_compares_numbers_as_numbers(client, tenant, sessions):
    # JSON writes one number many ways (1, 1.0, 1e0): a number searched finds the numbers
    # equal to it, whatever their text; it once found only the text Python's encoder writes
    # (`1.0` for a float 1, `100.0` for 1e2), so `1` missed 1.0 and `100` missed 1e2.
    values = [1, 1.0, 100.0, 0.1, -0.0, 2**63 - 1, 2**63 - 2, "1.0", "01", 12.5]
    made = await add_data(sessions, tenant.tenant_id, [{"v": value} for value in values])
    one, one_float, hundred, tenth, minus_zero, biggest, below, one_text, padded, twelve = made
    h = tenant.headers

    assert await found(client, h, **{"data.v": "1"}) == [one, one_float]
    assert await found(client, h, **{"data.v": "1.0"}) == [one, one_float, one_text]
    assert await found(client, h, **{"data.v": "1e0"}) == [one, one_float]
    assert await found(client, h, **{"data.v": "100"}) == [hundred]
    assert await found(client, h, **{"data.v": "1E2"}) == [hundred]
    assert await found(client, h, **{"data.v": "0.1"}) == [tenth]
    assert await found(client, h, **{"data.v": "0"}) == [minus_zero]
    assert await found(client, h, **{"data.v": str(2**63 - 1)}) == [biggest]  # exact, not near
    assert await found(client, h, **{"data.v": str(2**63 - 2)}) == [below]
    assert await found(client, h, **{"data.v": "12.50"}) == [twelve]
    # Not JSON numbers: compared as text only.
    assert await found(client, h, **{"data.v": "01"}) == [padded]
    for text in ("+1", "1.", ".1", "0x1", "1e999", str(2**64), "NaN"):
        assert await found(client, h, **{"data.v": text}) == [], text


@pytest.mark.parametrize(
    "params",
    [
        {"data.": "x"},
        {"data.user..id": "x"},
        {"data.user.id'); DROP TABLE events; --": "x"},
        {"data.$.user": "x"},
        {"data.user.id": ""},
        {"data.user.id": "x" * 201},
        {"data." + ".".join(["k"] * 9): "x"},
        {"data.a": "1", "data.b": "2", "data.c": "3", "data.d": "4"},
        {"q": "x" * 201},
    ],
)
async def test_malformed_searches_are_400(client, tenant, params):
    assert_error(await client.get("/api/v1/events", headers=tenant.headers, params=params), 400)


async def test_the_console_searches_events(client, tenant, sessions):
    first, second, third, _ = await add_events(sessions, tenant.tenant_id)
    await sign_in(client, tenant.headers)
    by_key = (await client.get("/console/events", params={"q": "order-1001"})).text
    assert first in by_key and third not in by_key and 'value="order-1001"' in by_key
    by_field = await client.get("/console/events", params={"field": "user.id=usr_1"})
    assert by_field.status_code == 200
    assert first in by_field.text and third in by_field.text and second not in by_field.text
    prefixed = (await client.get("/console/events", params={"field": "data.amount=7"})).text
    assert second in prefixed and first not in prefixed
    bad = await client.get("/console/events", params={"field": "user.id"})
    assert bad.status_code == 400 and "path=value" in bad.text


def test_recorded_headers_are_bounded_and_storable():
    many = [(f"X-H{n}", "v") for n in range(200)]
    assert len(storable_headers(many)) == HEADERS_KEPT
    huge = storable_headers([("X-A", "a" * 5000), ("X-B", "b\x00" * 600)] * 40)
    assert sum(len(k) + len(v) for k, v in huge.items()) <= HEADERS_CHARS + 200
    assert all("\x00" not in v and len(k) <= 128 for k, v in huge.items())
    joined = storable_headers([("Set-Cookie", "a=1"), ("set-cookie", "b=2"), ("Vary", "x")])
    assert joined == {"Set-Cookie": "a=1, b=2", "Vary": "x"}


async def test_attempts_record_the_request_as_sent_and_the_response(live, tenant, receiver):
    receiver.script(
        "/inspect",
        [
            Reply(503, headers={"Retry-After": "1", "X-Receiver": "busy"}, body="try later"),
            Reply(200, headers={"X-Receiver": "ok"}, body='{"thanks": true}'),
        ],
    )
    hook = await live.post(
        "/api/v1/webhooks",
        json={
            "url": receiver.url("/inspect"),
            "events": ["user.created"],
            "headers": {"Authorization": "Bearer s3cr3t-value"},
        },
        headers=tenant.headers,
    )
    assert hook.status_code == 201, hook.text
    secret = hook.json()["data"]["secret"]
    published = await live.post(
        "/api/v1/events",
        json={"type": "user.created", "data": {"user": {"id": "usr_1"}}},
        headers={**tenant.headers, "Idempotency-Key": "inspect-1"},
    )
    assert published.status_code == 202, published.text
    event_id = published.json()["data"]["id"]
    got = await receiver.wait_for(2, path="/inspect", timeout=30)

    for _ in range(100):
        detail = (await live.get(f"/api/v1/events/{event_id}", headers=tenant.headers)).json()
        (delivery,) = detail["data"]["deliveries"]
        if len(delivery["attempt_history"]) == 2:
            break
        await asyncio.sleep(0.1)
    first, second = delivery["attempt_history"]
    for attempt, request in zip((first, second), got, strict=True):
        sent = attempt["request_headers"]
        for name in ("X-Webhook-Signature", "webhook-signature", "webhook-id", "webhook-timestamp"):
            assert sent[name] == request.headers[name.lower()]
        assert sent["X-Webhook-Attempt"] == request.headers["x-webhook-attempt"]
        assert sent["Content-Type"] == "application/json"
        assert sent["Authorization"] == "•" * 8  # a custom header's value is masked
    assert first["response_headers"]["X-Receiver"] == "busy"
    assert first["response_headers"]["Retry-After"] == "1"
    assert second["response_headers"]["X-Receiver"] == "ok"
    assert second["response_body"] == '{"thanks": true}'
    text = json.dumps(detail)
    assert secret not in text and "s3cr3t-value" not in text
    listed = await live.get(f"/api/v1/deliveries/{delivery['id']}/attempts", headers=tenant.headers)
    assert listed.json()["data"][0]["request_headers"] == first["request_headers"]
    # Found by its idempotency key and by a payload field.
    assert await found(live, tenant.headers, q="inspect-1") == [event_id]
    assert await found(live, tenant.headers, **{"data.user.id": "usr_1"}) == [event_id]

    # The console's inspector shows the same, and the body as sent, byte for byte.
    await sign_in(live, tenant.headers)
    page = (await live.get(f"/console/events/{event_id}")).text
    assert 'id="inspect-' in page and first["request_headers"]["X-Webhook-Signature"] in page
    assert "s3cr3t-value" not in page and secret not in page
    assert "Authorization: ••••••••" in html.unescape(page)
    shown = re.search(r'<textarea id="sent-body-text"[^>]*>([^<]*)</textarea>', page).group(1)
    assert html.unescape(shown) == got[0].body.decode()
