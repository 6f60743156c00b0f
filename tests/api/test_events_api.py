"""The events API's own checks: validation, scopes, tenants, and 503 when Temporal is down.

Delivery through Temporal is covered by tests/e2e (the real stack) and tests/workflows.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hookline.devserver import free_port
from hookline.store.tables import Delivery, Event
from tests.api.conftest import assert_error
from tests.conftest import make_tenant


async def test_unknown_type_is_400_with_the_allowed_list(client, tenant):
    answer = await client.post(
        "/api/v1/events", headers=tenant.headers, json={"type": "user.exploded", "data": {}}
    )
    error = assert_error(answer, 400, "unknown_event_type")
    assert "user.created" in error["details"]["allowed"]


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
