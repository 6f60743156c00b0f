"""A webhook's custom headers (sent with every delivery and test send, sealed at rest, masked
on read, reserved names refused) and its metadata (returned, filterable in the list)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from hookline.infra.crypto import generate_key
from hookline.store.tables import Webhook
from tests.api.conftest import assert_error

MASK = "•" * 8
HEADERS = {"Authorization": "Bearer s3cr3t", "X-Tenant": "acme"}


async def test_headers_are_sent_with_the_test_send_and_masked_on_read(
    client, tenant, create_webhook, receiver
) -> None:
    created = await create_webhook(url=receiver.url("/hook"))
    assert created["headers"] == {}
    changed = await client.put(
        f"/api/v1/webhooks/{created['id']}", json={"headers": HEADERS}, headers=tenant.headers
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["data"]["headers"] == {"Authorization": MASK, "X-Tenant": MASK}
    read = (await client.get(f"/api/v1/webhooks/{created['id']}", headers=tenant.headers)).json()
    assert read["data"]["headers"] == {"Authorization": MASK, "X-Tenant": MASK}
    assert "s3cr3t" not in str(read)

    answer = await client.post(f"/api/v1/webhooks/{created['id']}/test", headers=tenant.headers)
    assert answer.json()["success"] is True, answer.text
    [got] = receiver.requests
    assert got.headers["authorization"] == "Bearer s3cr3t"
    assert got.headers["x-tenant"] == "acme"
    assert got.headers["x-webhook-signature"]  # hookline's own still there

    # The mask keeps a value; a new value replaces it; a name left out is dropped.
    again = await client.put(
        f"/api/v1/webhooks/{created['id']}",
        json={"headers": {"Authorization": MASK, "X-Region": "eu"}},
        headers=tenant.headers,
    )
    assert again.json()["data"]["headers"] == {"Authorization": MASK, "X-Region": MASK}
    await client.post(f"/api/v1/webhooks/{created['id']}/test", headers=tenant.headers)
    last = receiver.requests[-1].headers
    assert last["authorization"] == "Bearer s3cr3t" and last["x-region"] == "eu"
    assert "x-tenant" not in last

    cleared = await client.put(
        f"/api/v1/webhooks/{created['id']}", json={"headers": None}, headers=tenant.headers
    )
    assert cleared.json()["data"]["headers"] == {}


async def test_header_values_are_sealed_at_rest(api, tenant, sessions, create_webhook) -> None:
    async with api(encryption_key=generate_key()) as client:
        created = await create_webhook(client=client, headers=tenant.headers)
        answer = await client.put(
            f"/api/v1/webhooks/{created['id']}", json={"headers": HEADERS}, headers=tenant.headers
        )
        assert answer.status_code == 200, answer.text
    async with sessions() as session:
        stored = await session.scalar(select(Webhook.headers).where(Webhook.id == created["id"]))
    assert set(stored) == {"Authorization", "X-Tenant"}
    assert all(value.startswith("enc:v1:") for value in stored.values())
    assert "s3cr3t" not in str(stored)


@pytest.mark.parametrize(
    "headers",
    [
        {"webhook-signature": "v1,x"},
        {"Webhook-Id": "x"},
        {"X-Webhook-Event": "user.created"},
        {"Content-Type": "text/plain"},
        {"content-length": "1"},
        {"Host": "evil.example"},
        {"Transfer-Encoding": "chunked"},
        {"Connection": "close"},
        {"traceparent": "00-0-0-01"},
        {"User-Agent": "me"},
        {"X-Ok": "a\r\nX-Injected: 1"},
        {"X-Ok": "a\nb"},
        {"X-Ok": ""},
        {"X Bad": "1"},
        {"X-Bad:": "1"},
        {"": "1"},
        {"X-Ok": "x" * 1025},
        {f"X-{i}": "1" for i in range(21)},
        {"X-Dup": "1", "x-dup": "2"},
        {"X-New": MASK},  # the mask keeps a value: this header has none
    ],
)
async def test_refused_headers_are_422(client, tenant, headers) -> None:
    answer = await client.post(
        "/api/v1/webhooks",
        json={"url": "https://example.com/h", "events": ["user.created"], "headers": headers},
        headers=tenant.headers,
    )
    error = assert_error(answer, 422, "invalid_headers")
    assert error["details"]["field"] == "headers"


async def test_a_header_value_with_nul_is_refused_by_the_body_limits(client, tenant) -> None:
    answer = await client.post(
        "/api/v1/webhooks",
        json={
            "url": "https://example.com/h",
            "events": ["user.created"],
            "headers": {"X-Ok": "a\x00"},
        },
        headers=tenant.headers,
    )
    error = assert_error(answer, 400)
    assert (error["details"]["limit"], error["details"]["path"]) == ("no_nul", "headers.X-Ok")


async def test_metadata_is_returned_and_filterable(client, tenant, create_webhook) -> None:
    billing = await create_webhook(metadata={"team": "billing", "env": "prod"})
    staging = await create_webhook(metadata={"team": "billing", "env": "staging"})
    plain = await create_webhook()
    assert billing["metadata"] == {"team": "billing", "env": "prod"}
    assert plain["metadata"] == {}

    async def ids(query: str) -> list[str]:
        answer = await client.get(f"/api/v1/webhooks?{query}", headers=tenant.headers)
        assert answer.status_code == 200, answer.text
        return [w["id"] for w in answer.json()["data"]]

    assert await ids("metadata[team]=billing") == [staging["id"], billing["id"]]
    assert await ids("metadata[team]=billing&metadata[env]=prod") == [billing["id"]]
    assert await ids("metadata[team]=nobody") == []
    assert await ids("metadata[team]=billing&event=user.created") == [
        staging["id"],
        billing["id"],
    ]
    read = await client.get(f"/api/v1/webhooks/{billing['id']}", headers=tenant.headers)
    assert read.json()["data"]["metadata"] == {"team": "billing", "env": "prod"}

    changed = await client.put(
        f"/api/v1/webhooks/{billing['id']}",
        json={"metadata": {"team": "growth"}},
        headers=tenant.headers,
    )
    assert changed.json()["data"]["metadata"] == {"team": "growth"}
    assert await ids("metadata[team]=billing") == [staging["id"]]


@pytest.mark.parametrize("query", ["metadata[]=x", "metadata[a=x", "metadata=x", "metadata[a b]=x"])
async def test_malformed_metadata_filters_are_400(client, tenant, query) -> None:
    assert_error(await client.get(f"/api/v1/webhooks?{query}", headers=tenant.headers), 400)


@pytest.mark.parametrize(
    "metadata",
    [
        {f"k{i}": "v" for i in range(21)},
        {"k" * 41: "v"},
        {"a[b]": "v"},
        {"k": "v" * 501},
        {"k": "line\nbreak"},
        {"k": "next\u0085line"},  # C1 control
        {"k": "line\u2028separator"},
        {"k": 1},
    ],
)
async def test_oversized_or_malformed_metadata_is_422(client, tenant, metadata) -> None:
    answer = await client.post(
        "/api/v1/webhooks",
        json={"url": "https://example.com/h", "events": ["user.created"], "metadata": metadata},
        headers=tenant.headers,
    )
    assert_error(answer, 422)


async def test_in_the_openapi_document(client) -> None:
    spec = (await client.get("/openapi.json")).json()
    create = spec["components"]["schemas"]["WebhookCreate"]["properties"]
    assert {"headers", "metadata"} <= set(create)
    listing = spec["paths"]["/api/v1/webhooks"]["get"]["parameters"]
    assert any(p["name"] == "metadata" and p["style"] == "deepObject" for p in listing)


async def test_delivered_with_headers_to_a_tenant_type(live, tenant, receiver) -> None:
    """The whole path: a tenant type, a webhook on `order.*` with custom headers, a publish
    delivered by the worker's attempt with them."""
    client = live
    made = await client.post(
        "/api/v1/event-types",
        json={"name": "order.created", "schema": {"type": "object", "required": ["id"]}},
        headers=tenant.headers,
    )
    assert made.status_code == 201, made.text
    hook = await client.post(
        "/api/v1/webhooks",
        json={"url": receiver.url("/orders"), "events": ["order.*"], "headers": HEADERS},
        headers=tenant.headers,
    )
    assert hook.status_code == 201, hook.text
    published = await client.post(
        "/api/v1/events",
        json={"type": "order.created", "data": {"id": "ord_1"}},
        headers=tenant.headers,
    )
    assert published.status_code == 202, published.text
    [got] = await receiver.wait_for(1, path="/orders")
    assert got.headers["authorization"] == "Bearer s3cr3t"
    assert got.headers["x-tenant"] == "acme"
    assert got.json()["type"] == "order.created"


async def test_a_metadata_filter_key_too_long_says_so(client, tenant) -> None:
    answer = await client.get(f"/api/v1/webhooks?metadata[{'k' * 41}]=x", headers=tenant.headers)
    assert "at most 40 characters" in assert_error(answer, 400)["message"]
