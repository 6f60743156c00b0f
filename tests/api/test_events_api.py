"""The events API's own checks: validation, scopes, tenants, and 503 when Temporal is down.

Delivery through Temporal is covered by tests/e2e (the real stack) and tests/workflows.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hookline.core import ids
from hookline.core.models import DeliverInput, SendResult
from hookline.core.retry import RetrySpec, decide
from hookline.devserver import free_port
from hookline.store.admission import BreakerPolicy
from hookline.store.attempts import AttemptRecord, record_attempts
from hookline.store.engine import create_engine
from hookline.store.tables import Delivery, Event
from hookline.store.transactions import Store
from tests.api.conftest import assert_error
from tests.conftest import make_tenant
from tests.support.events import add_event
from tests.support.store import add_webhook


async def test_unknown_type_is_400_with_the_closest_names(client, tenant):
    answer = await client.post(
        "/api/v1/events", headers=tenant.headers, json={"type": "user.craeted", "data": {}}
    )
    error = assert_error(answer, 400, "unknown_event_type")
    suggested = error["details"]["did_you_mean"]
    assert suggested[0] == "user.created" and len(suggested) <= 3  # not the whole catalog
    assert set(error["details"]) == {"did_you_mean"}
    assert "did you mean 'user.created'" in error["message"]
    nothing_close = await client.post(
        "/api/v1/events", headers=tenant.headers, json={"type": "zzz.qqq", "data": {}}
    )
    error = assert_error(nothing_close, 400, "unknown_event_type")
    assert error["details"] == {"did_you_mean": []}
    assert "did you mean" not in error["message"]


async def test_payload_over_256_kib_is_413(client, tenant):
    data = {"blob": "x" * (256 * 1024)}
    answer = await client.post(
        "/api/v1/events", headers=tenant.headers, json={"type": "user.created", "data": data}
    )
    assert_error(answer, 413, "payload_too_large")


async def test_bad_bodies_are_rejected_before_anything_starts(client, tenant):
    not_object = await client.post(
        "/api/v1/events", headers=tenant.headers, json={"type": "user.created", "data": [1]}
    )
    assert_error(not_object, 422)
    bad_key = await client.post(
        "/api/v1/events",
        headers=tenant.headers,
        json={"type": "user.created", "id": "has spaces\r\nX-Injected: 1"},
    )
    assert_error(bad_key, 422)
    too_many = await client.post(
        "/api/v1/events/batch",
        headers=tenant.headers,
        json={"events": [{"type": "user.created"}] * 101},
    )
    assert_error(too_many, 422)
    one_bad = await client.post(
        "/api/v1/events/batch",
        headers=tenant.headers,
        json={"events": [{"type": "user.created"}, {"type": "nope.nope"}]},
    )
    assert assert_error(one_bad, 400)["details"]["index"] == 1


async def test_publish_needs_the_publish_scope(client, settings):
    reader = await make_tenant(settings, "reader", scopes=["events:read"])
    answer = await client.post(
        "/api/v1/events", headers=reader.headers, json={"type": "user.created"}
    )
    assert_error(answer, 403, "forbidden")
    assert_error(await client.get("/api/v1/events"), 401, "unauthorized")


async def test_temporal_down_is_503_with_retry_after(api, tenant):
    async with api(temporal_address=f"127.0.0.1:{free_port()}") as client:
        answer = await client.post(
            "/api/v1/events", headers=tenant.headers, json={"type": "user.created"}
        )
        health = await client.get("/healthz")
    assert_error(answer, 503, "service_unavailable")
    assert int(answer.headers["retry-after"]) > 0
    assert health.status_code == 503 and health.json()["store"] == "ok"


async def test_temporal_down_is_503_when_a_keyed_job_is_looked_up(api, tenant):
    """A replay of an inactive webhook with a key looks for the job that key started (a
    retry of it is that job): with Temporal away, that is a 503 to retry, not a 500."""
    async with api(temporal_address=f"127.0.0.1:{free_port()}") as client:
        created = await client.post(
            "/api/v1/webhooks",
            headers=tenant.headers,
            json={"url": "https://example.com/hook", "events": ["user.created"]},
        )
        hook = created.json()["data"]["id"]
        await client.put(
            f"/api/v1/webhooks/{hook}", headers=tenant.headers, json={"status": "inactive"}
        )
        answer = await client.post(
            f"/api/v1/webhooks/{hook}/replay",
            headers={**tenant.headers, "Idempotency-Key": "k-1"},
            json={"since": "2026-01-01T00:00:00Z"},
        )
    assert_error(answer, 503, "service_unavailable")


async def test_temporal_down_is_503_for_a_redelivery_that_a_retry_then_gets(
    api, tenant, sessions, temporal_env
):
    """A redelivery asked while Temporal is away is a 503 to retry, not a 500, and leaves no
    claim behind: the retry is not answered "another request just scheduled it"."""
    hook = await add_webhook(sessions, tenant.tenant_id, "https://example.com/hook")
    event_id, _ = await add_event(
        sessions, tenant.tenant_id, hook.id, datetime.now(UTC) + timedelta(days=1)
    )
    path = f"/api/v1/events/{event_id}/redeliver"
    async with api(temporal_address=f"127.0.0.1:{free_port()}") as client:
        answer = await client.post(path, headers=tenant.headers, json={})
    assert_error(answer, 503, "service_unavailable")

    async with api(
        temporal_address=temporal_env.client.service_client.config.target_host
    ) as client:
        retried = await client.post(path, headers=tenant.headers, json={})
    # Temporal is back and has no run for this store-only event: its window is over.
    assert retried.status_code == 200, retried.text
    assert retried.json()["data"]["expired"] == [event_id]
    assert retried.json()["data"]["not_scheduled"] == {}


async def test_events_of_another_tenant_are_invisible(client, tenant, other_tenant, sessions):
    now = datetime.now(UTC)
    async with sessions.begin() as session:
        session.add(
            Event(
                id="evt_theirs",
                tenant_id=other_tenant.tenant_id,
                type="user.created",
                data={"secret": "x"},
                created=now,
                expires_at=now + timedelta(days=7),
                stages=[],
            )
        )
        await session.flush()  # no ORM relationship orders the inserts
        session.add(
            Delivery(
                id="dlv_theirs",
                tenant_id=other_tenant.tenant_id,
                event_id="evt_theirs",
                webhook_id="wh_theirs",
                event_type="user.created",
                status="failed",
            )
        )
    for path in ("/api/v1/events/evt_theirs", "/api/v1/deliveries/dlv_theirs/attempts"):
        assert_error(await client.get(path, headers=tenant.headers), 404, "not_found")
        assert (await client.get(path, headers=other_tenant.headers)).status_code == 200
    redeliver = await client.post("/api/v1/events/evt_theirs/redeliver", headers=tenant.headers)
    assert_error(redeliver, 404, "not_found")
    listed = await client.get("/api/v1/events", headers=tenant.headers)
    assert listed.json()["meta"]["total"] == 0
    # A bulk redelivery job never signals another tenant's event: tests/api/test_jobs.py.


async def test_list_filters_validate_their_parameters(client, tenant):
    assert_error(
        await client.get("/api/v1/events", headers=tenant.headers, params={"status": "weird"}),
        400,
    )
    assert_error(
        await client.get("/api/v1/events", headers=tenant.headers, params={"since": "yesterday"}),
        400,
    )
    # A misspelt filter, an impossible window or status once listed every event, or none.
    for params, said in (
        ({"stauts": "failed"}, "'stauts'"),
        ({"dta.user.id": "usr_1", "data.user.id": "usr_1"}, "'dta.user.id'"),
        ({"since": "2026-12-02T00:00:00Z", "until": "2026-12-01T00:00:00Z"}, "since"),
        ({"status": "expired"}, "expired"),
        # A number is not read as seconds since 1970 (milliseconds would be 50,000 years off).
        ({"since": "1700000000"}, "is a number"),
        ({"until": "1.7e9"}, "is a number"),
    ):
        refused = await client.get("/api/v1/events", headers=tenant.headers, params=params)
        error = assert_error(refused, 400)
        assert said in error["message"] + str(error["details"]), params
    every_filter = {
        "page": "1", "limit": "5", "status": "failed", "type": "user.created",
        "webhook_id": "wh_x", "since": "2026-12-01T00:00:00Z", "q": "x", "data.a.b": "1",
        "until": "2026-12-31",  # a date alone: its midnight, UTC
    }  # fmt: skip
    listed = await client.get("/api/v1/events", headers=tenant.headers, params=every_filter)
    assert listed.status_code == 200, listed.text
    assert_error(
        await client.get("/api/v1/webhooks/wh_x/stats", headers=tenant.headers), 404, "not_found"
    )


async def test_deeply_nested_and_non_utf8_bodies_are_400(client, tenant):
    headers = {**tenant.headers, "Content-Type": "application/json"}
    nested = '{"type": "user.created", "data": ' + '{"a": ' * 5000 + "1" + "}" * 5001
    bodies = [
        nested.encode(),
        b'{"type": "user.created", "data": {"name": "\xe9"}}',  # Latin-1, not UTF-8
        b"\xff\xfe\x00garbage",
    ]
    for path in ("/api/v1/events", "/api/v1/webhooks"):
        for body in bodies:
            assert_error(await client.post(path, content=body, headers=headers), 400)


async def test_a_pending_delivery_shows_when_its_next_attempt_is_due(
    client, tenant, settings, sessions, create_webhook
):
    webhook = await create_webhook()
    far = datetime.now(UTC) + timedelta(days=7)
    event_id, delivery_id = await add_event(sessions, tenant.tenant_id, webhook["id"], far)
    target = DeliverInput(
        event_id=event_id,
        tenant_id=tenant.tenant_id,
        webhook_id=webhook["id"],
        delivery_id=delivery_id,
        retry=RetrySpec(),
    )
    now = datetime.now(UTC).replace(microsecond=0)
    answer = SendResult(503, "busy", None, 9, None, now)
    record = AttemptRecord(target, webhook["url"], 1, answer, decide(503, 1, RetrySpec()), None)
    engine = create_engine(settings.resolved_database_url)
    store = Store(settings.resolved_database_url, engine)
    try:
        await store.transaction(
            record_attempts, [record], now, now - timedelta(days=3), BreakerPolicy()
        )
    finally:
        store.close()
        await engine.dispose()
    due = (now + timedelta(seconds=30)).isoformat().replace("+00:00", "Z")

    detail = (await client.get(f"/api/v1/events/{event_id}", headers=tenant.headers)).json()
    (delivery,) = detail["data"]["deliveries"]
    assert delivery["status"] == "pending"
    assert delivery["next_attempt_at"].replace("+00:00", "Z") == due
    listed = await client.get(
        f"/api/v1/webhooks/{webhook['id']}/deliveries", headers=tenant.headers
    )
    (row,) = listed.json()["data"]
    assert row["next_attempt_at"].replace("+00:00", "Z") == due


async def test_next_attempt_at_is_null_when_no_retry_is_coming(client, tenant, sessions):
    far = datetime.now(UTC) + timedelta(days=7)
    event_id, _ = await add_event(sessions, tenant.tenant_id, "wh_gone", far)  # failed
    detail = (await client.get(f"/api/v1/events/{event_id}", headers=tenant.headers)).json()
    (delivery,) = detail["data"]["deliveries"]
    assert "next_attempt_at" in delivery and delivery["next_attempt_at"] is None


async def test_a_batch_says_which_of_its_events_were_published_before(live, tenant):
    """The batch's answer to an id already published is that event, marked `replayed`, as a
    single publish's Idempotent-Replayed header says; the others are new."""
    first = await live.post(
        "/api/v1/events/batch",
        headers=tenant.headers,
        json={"events": [{"type": "user.created", "id": "ord-1"}]},
    )
    assert first.status_code == 202, first.text
    again = await live.post(
        "/api/v1/events/batch",
        headers=tenant.headers,
        json={
            "events": [
                {"type": "user.created", "id": "ord-2"},
                {"type": "user.created", "id": "ord-1"},
            ]
        },
    )
    assert again.status_code == 202, again.text
    items = again.json()["data"]
    assert [(e["idempotency_key"], e["replayed"]) for e in items] == [
        ("ord-2", False),
        ("ord-1", True),
    ]
    assert items[1]["id"] == first.json()["data"][0]["id"]


async def test_an_empty_filter_is_refused_not_read_as_no_filter(client, tenant):
    """A filter sent empty (a script's unset variable) would widen a list to everything, or a
    bulk redelivery to every type: refused, like an empty `q`."""
    for param in ("type", "webhook_id", "q"):
        listed = await client.get(f"/api/v1/events?{param}=", headers=tenant.headers)
        assert listed.status_code in (400, 422), (param, listed.text)
        assert listed.json()["error"]["details"], param
    for body in ({"type": ""}, {"webhook_id": ""}):
        started = await client.post("/api/v1/events/redeliver", headers=tenant.headers, json=body)
        assert_error(started, 422)


async def test_a_time_out_of_range_is_named_as_such(client, tenant):
    """24:00 or a 60th second is not read as "extra characters at the end": the answer says
    which form a time takes, in a body as in a query."""
    for since in ("2026-12-04T24:00:00Z", "2026-12-04T21:00:60Z"):
        started = await client.post(
            "/api/v1/events/redeliver", headers=tenant.headers, json={"since": since}
        )
        assert_error(started, 422)
        assert "is not a date-time such as" in started.text, since
        listed = await client.get("/api/v1/events", headers=tenant.headers, params={"since": since})
        assert listed.status_code in (400, 422) and "is not a date-time" in listed.text, since


async def test_a_retried_publish_is_a_replay_after_its_type_changed(live, tenant):
    """A publish whose answer was lost is retried with the same key: the answer is the event
    published before (202, replayed), even when the type's schema or its archiving would now
    refuse the data. An event with a new key is checked against the type as it is now."""
    h = tenant.headers
    made = await live.post(
        "/api/v1/event-types",
        headers=h,
        json={"name": "order.created", "schema": {"type": "object", "required": ["a"]}},
    )
    assert made.status_code == 201, made.text
    body = {"type": "order.created", "data": {"a": 1}, "id": "ord-1"}
    first = await live.post("/api/v1/events", headers=h, json=body)
    assert first.status_code == 202, first.text
    event_id = first.json()["data"]["id"]

    changed = await live.put(
        "/api/v1/event-types/order.created",
        headers=h,
        json={"schema": {"type": "object", "required": ["b"]}},
    )
    assert changed.status_code == 200, changed.text
    again = await live.post("/api/v1/events", headers=h, json=body)
    assert again.status_code == 202, again.text
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["data"]["id"] == event_id
    in_batch = await live.post("/api/v1/events/batch", headers=h, json={"events": [body]})
    assert in_batch.status_code == 202, in_batch.text
    assert [(e["id"], e["replayed"]) for e in in_batch.json()["data"]] == [(event_id, True)]
    assert_error(await live.post("/api/v1/events", headers=h, json={**body, "id": "ord-2"}), 422)

    archived = await live.delete("/api/v1/event-types/order.created", headers=h)
    assert archived.status_code == 200, archived.text
    by_header = await live.post(
        "/api/v1/events",
        headers={**h, "Idempotency-Key": "ord-1"},
        json={"type": "order.created", "data": {"a": 1}},
    )
    assert by_header.status_code == 202, by_header.text
    assert by_header.json()["data"]["id"] == event_id
    new = await live.post("/api/v1/events", headers=h, json={**body, "id": "ord-3"})
    assert_error(new, 400, "archived_event_type")
    listed = await live.get("/api/v1/events", headers=h)
    assert [e["id"] for e in listed.json()["data"]] == [event_id]


async def test_a_batch_refuses_an_idempotency_key_header(live, tenant):
    """A batch's keys are its events' ids: a header key taken silently would let a retried
    batch deliver twice. Refused, nothing published."""
    answer = await live.post(
        "/api/v1/events/batch",
        headers={**tenant.headers, "Idempotency-Key": "batch-1"},
        json={"events": [{"type": "user.created"}, {"type": "user.created", "id": "u-2"}]},
    )
    refused = assert_error(answer, 400)
    assert "Idempotency-Key" in refused["message"] and refused["details"]["header"]
    listed = await live.get("/api/v1/events", headers=tenant.headers)
    assert listed.json()["meta"]["total"] == 0


async def test_pages_read_on_from_an_event_whatever_was_published_since(
    client, tenant, other_tenant, sessions
):
    """`starting_after` reads on from the last event of a page: events published meanwhile
    shift nothing (an offset lists the page's last event again). Events created in the same
    instant are ordered by id."""
    now = datetime.now(UTC)
    created = [now - timedelta(seconds=n // 2) for n in range(7)]  # pairs share an instant
    made = await _insert_events(sessions, tenant.tenant_id, created)
    newest_first = sorted(made, key=lambda e: (e[1], e[0]), reverse=True)
    expected = [event_id for event_id, _ in newest_first]
    h = tenant.headers

    first = (await client.get("/api/v1/events", headers=h, params={"limit": 3})).json()
    assert [e["id"] for e in first["data"]] == expected[:3]
    await _insert_events(sessions, tenant.tenant_id, [now + timedelta(seconds=1)])  # meanwhile
    read, cursor = [e["id"] for e in first["data"]], first["data"][-1]["id"]
    while True:
        answer = await client.get(
            "/api/v1/events", headers=h, params={"limit": 3, "starting_after": cursor}
        )
        body = answer.json()
        assert body["meta"]["total"] == len(expected) - len(read), body
        if not body["data"]:
            break
        read += [e["id"] for e in body["data"]]
        cursor = read[-1]
    assert read == expected
    offset = await client.get("/api/v1/events", headers=h, params={"limit": 3, "page": 2})
    assert offset.json()["data"][0]["id"] == expected[2]  # what the cursor is for

    ((theirs, _),) = await _insert_events(sessions, other_tenant.tenant_id, [now])
    for params in (
        {"starting_after": "evt_missing"},
        {"starting_after": theirs},
        {"starting_after": expected[0], "page": 2},
    ):
        assert_error(await client.get("/api/v1/events", headers=h, params=params), 400)


async def _insert_events(sessions, tenant_id: str, created: list[datetime]) -> list[tuple]:
    made = []
    async with sessions.begin() as session:
        for at in created:
            event = Event(
                id=ids.event_id(), tenant_id=tenant_id, type="user.created", data={},
                created=at, status="succeeded", stages=[], expires_at=at + timedelta(days=7),
            )  # fmt: skip
            session.add(event)
            made.append((event.id, at))
    return made
