"""Webhooks CRUD, as the public contract has it: envelopes, fields, masked secret, pagination."""

from __future__ import annotations

import asyncio
import base64
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from hookline.api.schemas.webhooks import MASKED_SECRET
from hookline.core import ids
from hookline.infra.crypto import SecretBox
from hookline.store.tables import Delivery, Event, Webhook
from tests.api.conftest import WEBHOOK_URL, assert_error

LIST_FIELDS = {
    "id",
    "url",
    "events",
    "status",
    "status_reason",
    "description",
    "filter",
    "retry_policy",
    "headers",  # custom headers, values masked (tests/api/test_webhook_headers_metadata.py)
    "metadata",
    "max_in_flight",  # admission (tests/workflows/test_throttling.py)
    "rate_limit",
    "ordering",
    "circuit",
    "created_at",
    "updated_at",
    "last_triggered",
}


def _utc(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


async def test_create_returns_201_with_the_full_secret_once(client, tenant, sessions) -> None:
    body = {
        "url": "https://example.com/webhooks/data-events",
        "events": ["data.created", "data.updated", "data.deleted"],
        "description": "Data events webhook for analytics platform",
    }
    response = await client.post("/api/v1/webhooks", json=body, headers=tenant.headers)
    assert response.status_code == 201, response.text
    data = response.json()["data"]
    assert set(response.json()) == {"data"}
    assert data["id"].startswith("wh_")
    assert data["url"] == body["url"]
    assert data["events"] == body["events"]
    assert data["description"] == body["description"]
    assert data["status"] == "active"
    assert data["last_triggered"] is None
    assert data["filter"] is None and data["retry_policy"] is None
    assert _utc(data["created_at"]) <= datetime.now(UTC)
    secret = data["secret"]
    assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:])) == 32

    got = (await client.get(f"/api/v1/webhooks/{data['id']}", headers=tenant.headers)).json()
    assert got["data"]["secret"] == MASKED_SECRET == "whsec_" + "•" * 30
    assert secret not in str(got)
    async with sessions() as session:
        row = await session.get(Webhook, data["id"])
    assert row is not None and row.tenant_id == tenant.tenant_id and row.secret == secret


async def test_secret_is_sealed_at_rest_with_an_encryption_key(api, tenant, sessions) -> None:
    key = base64.b64encode(b"k" * 32).decode()
    async with api(encryption_key=key) as client:
        response = await client.post(
            "/api/v1/webhooks",
            json={"url": WEBHOOK_URL, "events": ["user.created"]},
            headers=tenant.headers,
        )
    data = response.json()["data"]
    async with sessions() as session:
        row = await session.get(Webhook, data["id"])
    assert row is not None and row.secret != data["secret"] and data["secret"] not in row.secret
    assert SecretBox([key]).open(row.secret) == data["secret"]


async def test_create_stores_only_the_retry_fields_given(client, tenant, sessions) -> None:
    response = await client.post(
        "/api/v1/webhooks",
        json={
            "url": WEBHOOK_URL,
            "events": ["user.*", "user.*", "system.alert"],
            "filter": {"data.changed": {"$in": ["email", "password"]}},
            "retry_policy": {"max_attempts": 8, "initial_interval": 10},
        },
        headers=tenant.headers,
    )
    data = response.json()["data"]
    assert data["events"] == ["user.*", "system.alert"]  # duplicates dropped, order kept
    assert data["retry_policy"] == {"max_attempts": 8, "initial_interval": 10}
    assert data["filter"] == {"data.changed": {"$in": ["email", "password"]}}
    async with sessions() as session:
        row = await session.get(Webhook, data["id"])
    assert row is not None and row.retry_policy == {"max_attempts": 8, "initial_interval": 10}


async def test_get_returns_the_seed_fields(client, tenant, create_webhook) -> None:
    created = await create_webhook(description="User events webhook for CRM integration")
    response = await client.get(f"/api/v1/webhooks/{created['id']}", headers=tenant.headers)
    assert response.status_code == 200
    data = response.json()["data"]
    assert set(data) == LIST_FIELDS | {"secret"}
    assert data["description"] == "User events webhook for CRM integration"
    assert data["created_at"] == created["created_at"]


async def test_list_is_newest_first_and_paginated(client, tenant, create_webhook) -> None:
    made = [await create_webhook(description=f"#{i}") for i in range(5)]
    response = await client.get("/api/v1/webhooks?limit=2", headers=tenant.headers)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"data", "meta"}
    assert body["meta"] == {"total": 5, "page": 1, "limit": 2, "pages": 3}
    assert all(set(item) == LIST_FIELDS for item in body["data"])
    assert "secret" not in str(body)

    seen = []
    for page in (1, 2, 3):
        got = await client.get(f"/api/v1/webhooks?limit=2&page={page}", headers=tenant.headers)
        seen += [w["id"] for w in got.json()["data"]]
    assert seen == [w["id"] for w in reversed(made)]
    beyond = (await client.get("/api/v1/webhooks?page=9", headers=tenant.headers)).json()
    assert beyond["data"] == [] and beyond["meta"]["total"] == 5

    default = (await client.get("/api/v1/webhooks", headers=tenant.headers)).json()["meta"]
    assert default == {"total": 5, "page": 1, "limit": 20, "pages": 1}


async def test_list_ties_on_created_at_break_by_id(client, tenant, sessions) -> None:
    stamp = datetime(2023, 3, 15, 8, 30, tzinfo=UTC)
    async with sessions.begin() as session:
        for _ in range(4):
            session.add(
                Webhook(
                    id=ids.webhook_id(),
                    tenant_id=tenant.tenant_id,
                    url=WEBHOOK_URL,
                    events=["user.created"],
                    secret="whsec_x",
                    created_at=stamp,
                    updated_at=stamp,
                )
            )
    pages = [
        (await client.get(f"/api/v1/webhooks?limit=1&page={p}", headers=tenant.headers)).json()
        for p in range(1, 5)
    ]
    got = [page["data"][0]["id"] for page in pages]
    assert got == sorted(got, reverse=True)
    assert pages[0]["data"][0]["created_at"].startswith("2023-03-15T08:30:00")


async def test_list_filters_by_status_and_event(client, tenant, create_webhook) -> None:
    users = await create_webhook(events=["user.created", "user.updated"])
    wildcard = await create_webhook(events=["user.*"])
    everything = await create_webhook(events=["*"])
    data = await create_webhook(events=["data.created"])
    await client.put(
        f"/api/v1/webhooks/{data['id']}", json={"status": "inactive"}, headers=tenant.headers
    )

    async def ids_for(query: str) -> list[str]:
        response = await client.get(f"/api/v1/webhooks?{query}", headers=tenant.headers)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["meta"]["total"] == len(body["data"])
        return [w["id"] for w in body["data"]]

    assert await ids_for("status=inactive") == [data["id"]]
    assert await ids_for("status=active") == [everything["id"], wildcard["id"], users["id"]]
    assert await ids_for("event=user.updated") == [everything["id"], wildcard["id"], users["id"]]
    assert await ids_for("event=user.deleted") == [everything["id"], wildcard["id"]]
    assert await ids_for("event=data.created") == [data["id"], everything["id"]]
    assert await ids_for("event=data.created&status=active") == [everything["id"]]
    page = await client.get(
        "/api/v1/webhooks?event=user.updated&limit=2&page=2", headers=tenant.headers
    )
    assert [w["id"] for w in page.json()["data"]] == [users["id"]]
    assert page.json()["meta"] == {"total": 3, "page": 2, "limit": 2, "pages": 2}


async def test_lists_refuse_parameters_they_do_not_take(client, tenant, create_webhook) -> None:
    """A misspelt or repeated filter once listed everything, as if it had matched."""
    hook = (await create_webhook())["id"]
    for path, query, said in (
        ("/webhooks", "stauts=active", "unknown parameter 'stauts'"),
        ("/webhooks", "status=active&status=inactive", "'status' given twice"),
        ("/webhooks", "metadata[team]=a&metadata[team]=b", "each key once"),
        (f"/webhooks/{hook}/deliveries", "stauts=failed", "unknown parameter 'stauts'"),
        (f"/webhooks/{hook}/deliveries", "since=2030-01-01T00:00:00Z", "'since'"),
        (f"/webhooks/{hook}/deliveries", "starting_after=dlv_x", "'starting_after'"),
        (f"/webhooks/{hook}/stats", "windw=1h", "'windw'"),
        ("/deliveries/dlv_x/attempts", "status=failed", "'status'"),
        ("/event-types", "categry=user", "'categry'"),
        ("/events", "type=a&type=b", "'type' given twice"),
        (f"/webhooks/{hook}/stats", "window=0", "invalid parameters"),  # an empty window
        (f"/webhooks/{hook}/stats", "window=%D9%A3h", "invalid parameters"),  # Arabic-Indic 3
        (f"/webhooks/{hook}/stats", "window=%EF%BC%93h", "invalid parameters"),  # fullwidth 3
    ):
        refused = await client.get(f"/api/v1{path}?{query}", headers=tenant.headers)
        assert said in assert_error(refused, 400)["message"], (path, query)
    for path, query in (
        ("/webhooks", "status=active&event=user.created&metadata[team]=a&page=1&limit=5"),
        (f"/webhooks/{hook}/deliveries", "status=failed&page=1&limit=5"),
        (f"/webhooks/{hook}/stats", "window=1h"),
        ("/event-types", "category=user&include_archived=true"),
        ("/event-types", "category=" + "c" * 198),  # as long as a type's name allows
    ):
        listed = await client.get(f"/api/v1{path}?{query}", headers=tenant.headers)
        assert listed.status_code == 200, (path, listed.text)


async def test_list_shows_only_the_tenants_own(
    client, tenant, other_tenant, create_webhook
) -> None:
    mine = await create_webhook()
    await create_webhook(headers=other_tenant.headers)
    body = (await client.get("/api/v1/webhooks", headers=tenant.headers)).json()
    assert [w["id"] for w in body["data"]] == [mine["id"]] and body["meta"]["total"] == 1


async def test_update_is_partial(client, tenant, create_webhook) -> None:
    created = await create_webhook(
        url="https://example.com/webhooks/data-events",
        events=["data.created", "data.updated", "data.deleted"],
        description="Data events webhook for analytics platform",
        filter={"data.kind": "dataset"},
        retry_policy={"max_attempts": 3},
    )
    body = {
        "events": ["data.created", "data.updated"],
        "status": "inactive",
        "description": "Data creation and update events only",
    }
    response = await client.put(
        f"/api/v1/webhooks/{created['id']}", json=body, headers=tenant.headers
    )
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert set(data) == LIST_FIELDS and "secret" not in data
    assert data["url"] == created["url"]
    assert data["events"] == body["events"]
    assert data["status"] == "inactive" and data["status_reason"]
    assert data["description"] == body["description"]
    assert data["filter"] == {"data.kind": "dataset"}
    assert data["retry_policy"] == {"max_attempts": 3}
    assert data["created_at"] == created["created_at"]
    assert _utc(data["updated_at"]) >= _utc(created["updated_at"])

    cleared = await client.put(
        f"/api/v1/webhooks/{created['id']}",
        json={"filter": None, "description": None, "retry_policy": {"backoff": 2}},
        headers=tenant.headers,
    )
    data = cleared.json()["data"]
    assert data["filter"] is None and data["description"] is None
    assert data["retry_policy"] == {"backoff": 2}
    assert data["events"] == body["events"] and data["status"] == "inactive"

    same = await client.put(f"/api/v1/webhooks/{created['id']}", json={}, headers=tenant.headers)
    assert same.status_code == 200 and same.json()["data"]["retry_policy"] == {"backoff": 2}


async def test_ordering_is_set_changed_and_checked(client, tenant, create_webhook) -> None:
    plain = await create_webhook()
    assert plain["ordering"] == "none"
    ordered = await create_webhook(ordering="fifo")
    assert ordered["ordering"] == "fifo"
    path = f"/api/v1/webhooks/{ordered['id']}"
    kept = await client.put(path, json={"description": "x"}, headers=tenant.headers)
    assert kept.json()["data"]["ordering"] == "fifo"
    changed = await client.put(path, json={"ordering": "none"}, headers=tenant.headers)
    assert changed.json()["data"]["ordering"] == "none"
    for wrong in ("FIFO", "lifo", None, 1):
        answer = await client.put(path, json={"ordering": wrong}, headers=tenant.headers)
        assert_error(answer, 422)
    refused = await client.post(
        "/api/v1/webhooks",
        json={"url": WEBHOOK_URL, "events": ["user.created"], "ordering": "sorted"},
        headers=tenant.headers,
    )
    assert_error(refused, 422)
    assert (await client.get(path, headers=tenant.headers)).json()["data"]["ordering"] == "none"


async def test_reactivating_clears_the_reason(client, tenant, create_webhook, sessions) -> None:
    created = await create_webhook()
    async with sessions.begin() as session:
        row = await session.get(Webhook, created["id"])
        row.status = "inactive"
        row.status_reason = "receiver answered 410 Gone"
        row.failing_since = datetime.now(UTC) - timedelta(hours=1)
    got = (await client.get(f"/api/v1/webhooks/{created['id']}", headers=tenant.headers)).json()
    assert got["data"]["status_reason"] == "receiver answered 410 Gone"

    response = await client.put(
        f"/api/v1/webhooks/{created['id']}", json={"status": "active"}, headers=tenant.headers
    )
    assert response.json()["data"]["status"] == "active"
    assert response.json()["data"]["status_reason"] is None
    async with sessions() as session:
        row = await session.get(Webhook, created["id"])
    assert row is not None and row.failing_since is None and row.status_reason is None


async def test_delete_keeps_the_delivery_history(client, tenant, create_webhook, sessions) -> None:
    created = await create_webhook()
    now = datetime.now(UTC)
    event_id = ids.event_id()
    async with sessions.begin() as session:
        session.add(
            Event(
                id=event_id,
                tenant_id=tenant.tenant_id,
                type="user.created",
                data={},
                created=now,
                expires_at=now + timedelta(days=7),
            )
        )
        await session.flush()
        session.add(
            Delivery(
                id=ids.delivery_id(event_id, created["id"]),
                tenant_id=tenant.tenant_id,
                event_id=event_id,
                webhook_id=created["id"],
                event_type="user.created",
            )
        )
    response = await client.delete(f"/api/v1/webhooks/{created['id']}", headers=tenant.headers)
    assert response.status_code == 200
    assert response.json() == {"success": True, "message": "Webhook deleted successfully"}

    gone = await client.get(f"/api/v1/webhooks/{created['id']}", headers=tenant.headers)
    assert_error(gone, 404, "not_found")
    again = await client.delete(f"/api/v1/webhooks/{created['id']}", headers=tenant.headers)
    assert_error(again, 404, "not_found")
    async with sessions() as session:
        kept = (
            await session.scalars(select(Delivery).where(Delivery.webhook_id == created["id"]))
        ).all()
    assert len(kept) == 1


async def test_refusals_say_what_is_wrong(client, tenant, create_webhook) -> None:
    """Each refusal names its own fault: a test event's pattern is not a type (and the answer
    does not suggest the pattern back), a description is text of at most 1000 characters, a
    header value has a unit, too many headers are not one header with no name."""
    hook = await create_webhook(url="https://example.com/hook", events=["user.*"])
    pattern = await client.post(
        f"/api/v1/webhooks/{hook['id']}/test", json={"event": "user.*"}, headers=tenant.headers
    )
    error = assert_error(pattern, 400, "unknown_event_type")
    assert "is a pattern: an event has one type, such as 'user." in error["message"]
    assert "user.*" not in error["details"]["did_you_mean"]
    path = f"/api/v1/webhooks/{hook['id']}"
    long = await client.put(path, json={"description": "x" * 1001}, headers=tenant.headers)
    assert_error(long, 422)
    assert "at most 1000 characters" in long.text
    value = await client.put(path, json={"headers": {"X-A": "v" * 1025}}, headers=tenant.headers)
    assert "at most 1024 characters" in assert_error(value, 422)["message"]
    many = {f"X-H{n}": "v" for n in range(21)}
    too_many = await client.put(path, json={"headers": many}, headers=tenant.headers)
    message = assert_error(too_many, 422)["message"]
    assert "at most 20 headers" in message and "''" not in message


@pytest.mark.parametrize(
    "change",
    [
        {"rate_limit": True},
        {"max_in_flight": "3"},
        {"retry_policy": {"max_attempts": "3"}},
        {"retry_policy": {"initial_interval": False}},
    ],
)
async def test_counts_and_durations_are_numbers_not_guessed_from_other_json(
    client, tenant, create_webhook, change
) -> None:
    """`true` stored as a rate of 1, or "3" as 3 attempts, would keep a mistake silently."""
    hook = await create_webhook(url="https://example.com/hook")
    answer = await client.put(f"/api/v1/webhooks/{hook['id']}", json=change, headers=tenant.headers)
    assert_error(answer, 422)
    stored = (await client.get(f"/api/v1/webhooks/{hook['id']}", headers=tenant.headers)).json()
    assert stored["data"]["rate_limit"] is None and stored["data"]["max_in_flight"] is None


async def test_a_new_url_starts_with_a_closed_circuit(
    client, tenant, create_webhook, sessions
) -> None:
    """The operator fixed the endpoint: the old URL's failures no longer hold its deliveries
    (an open circuit, waiting for a probe up to an hour away) nor count towards auto-disable."""
    webhook = await create_webhook()
    failing_since = datetime.now(UTC) - timedelta(days=2)
    async with sessions.begin() as session:
        row = await session.get(Webhook, webhook["id"])
        row.breaker_state, row.breaker_opened = "open", 4
        row.breaker_until = datetime.now(UTC) + timedelta(hours=1)
        row.window_attempts, row.window_failures = 12, 12
        row.failing_since = failing_since
        row.breaker_history = [{"at": failing_since.isoformat(), "event": "opened: 12 of 12"}]
    path = f"/api/v1/webhooks/{webhook['id']}"
    same = await client.put(path, json={"url": webhook["url"]}, headers=tenant.headers)
    assert same.json()["data"]["circuit"]["state"] == "open"  # the same URL: nothing new

    moved = await client.put(path, json={"url": WEBHOOK_URL + "-v2"}, headers=tenant.headers)
    circuit = moved.json()["data"]["circuit"]
    assert circuit["state"] == "closed", circuit
    assert [entry["event"] for entry in circuit["history"]] == [
        "opened: 12 of 12",
        "closed: the URL changed",
    ]
    async with sessions() as session:
        row = await session.get(Webhook, webhook["id"])
        assert (row.breaker_until, row.breaker_opened, row.window_attempts) == (None, 0, 0)
        assert row.failing_since is None


async def test_updated_at_moves_only_when_the_webhook_changes(
    live, tenant, create_webhook, receiver
) -> None:
    """`updated_at` says when the webhook was last changed: not by a PUT that changes
    nothing, nor by its deliveries (their bookkeeping is `last_triggered`'s)."""
    webhook = await create_webhook(client=live, url=receiver.url("/hook"), description="a")
    path = f"/api/v1/webhooks/{webhook['id']}"
    for body in ({}, {"description": "a"}, {"events": webhook["events"], "status": "active"}):
        same = await live.put(path, json=body, headers=tenant.headers)
        assert same.json()["data"]["updated_at"] == webhook["updated_at"], body
    await live.post("/api/v1/events", json={"type": "user.created"}, headers=tenant.headers)
    await receiver.wait_for(1, path="/hook")
    deadline = asyncio.get_running_loop().time() + 30
    while (read := (await live.get(path, headers=tenant.headers)).json()["data"])[
        "last_triggered"
    ] is None:
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.05)
    assert read["updated_at"] == webhook["updated_at"]
    changed = await live.put(path, json={"description": "b"}, headers=tenant.headers)
    assert _utc(changed.json()["data"]["updated_at"]) > _utc(webhook["updated_at"])


async def test_a_filter_or_metadata_change_python_calls_equal_is_stored(
    client, tenant, create_webhook, sessions
) -> None:
    """A filter from `1` to `true` changes which events match (filters compare JSON types):
    stored, with or without another field beside it, and answered as GET reads it."""
    webhook = await create_webhook(filter={"data.flag": 1}, metadata={"tier": "0"})
    path = f"/api/v1/webhooks/{webhook['id']}"
    for body in (
        {"filter": {"data.flag": True}},
        {"filter": {"data.flag": 1}, "description": "one"},
        {"filter": {"data.flag": False}, "description": "one"},
        {"retry_policy": {"max_attempts": 1}},
        {"retry_policy": {"max_attempts": True}},  # refused: a count, not a boolean
    ):
        answer = await client.put(path, json=body, headers=tenant.headers)
        read = (await client.get(path, headers=tenant.headers)).json()["data"]
        if answer.status_code != 200:
            assert_error(answer, 422)
            continue
        assert {k: v for k, v in read.items() if k != "secret"} == answer.json()["data"]
        if "filter" in body:
            assert read["filter"] == body["filter"]
            assert type(read["filter"]["data.flag"]) is type(body["filter"]["data.flag"])
    async with sessions() as session:
        stored = await session.get(Webhook, webhook["id"])
        assert stored.filter == {"data.flag": False} and stored.filter["data.flag"] is False
        assert stored.retry_policy["max_attempts"] == 1


async def test_concurrent_puts_leave_one_requests_state_whole(
    client, tenant, create_webhook
) -> None:
    """Each PUT below sends a whole state; whichever is written last is the webhook, never a
    mix of fields from several (a PUT writing only what differed from its read once left
    one request's description beside another's filter)."""
    webhook = await create_webhook(description="d0")
    path = f"/api/v1/webhooks/{webhook['id']}"
    states = [
        {
            "description": f"d{i % 3}",
            "filter": {"data.k": i % 2},
            "rate_limit": 5 + i % 4,
            "max_in_flight": 1 + i % 5,
            "status": ("active", "inactive")[i % 2],
        }
        for i in range(12)
    ]
    fields = list(states[0])
    for round_ in range(4):
        answers = await asyncio.gather(
            *(client.put(path, json=state, headers=tenant.headers) for state in states)
        )
        assert {a.status_code for a in answers} <= {200, 409}, [a.text for a in answers]
        read = (await client.get(path, headers=tenant.headers)).json()["data"]
        assert {k: read[k] for k in fields} in states, (round_, read)


async def test_a_change_racing_a_delete_is_a_404_never_a_500(
    client, tenant, create_webhook
) -> None:
    for _ in range(4):
        webhook = await create_webhook()
        path = f"/api/v1/webhooks/{webhook['id']}"
        answers = await asyncio.gather(
            client.put(path, json={"description": "x"}, headers=tenant.headers),
            client.delete(path, headers=tenant.headers),
            client.post(f"{path}/rotate-secret", headers=tenant.headers),
            client.delete(path, headers=tenant.headers),
            client.put(path, json={"rate_limit": 3}, headers=tenant.headers),
        )
        codes = [a.status_code for a in answers]
        assert all(code in (200, 204, 404) for code in codes), [a.text for a in answers]
        assert sorted(codes[i] for i in (1, 3)) in ([204, 404], [200, 404]), codes
        assert (await client.get(path, headers=tenant.headers)).status_code == 404
