"""GET /event-types: the built-in catalog, paginated like every list (a tenant's own types:
tests/api/test_tenant_event_types.py)."""

from __future__ import annotations

import pytest

from tests.api.conftest import assert_error

SEED_002 = {
    "user.created": "A new user has been created",
    "user.updated": "A user's information has been updated",
    "user.deleted": "A user has been deleted",
    "data.created": "A new data resource has been created",
    "data.updated": "A data resource has been updated",
    "data.deleted": "A data resource has been deleted",
    "report.generated": "A report has been generated",
    "system.alert": "A system alert has been triggered",
}


async def test_lists_the_seed_types(client, tenant) -> None:
    response = await client.get("/api/v1/event-types?limit=100", headers=tenant.headers)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"data", "meta"}
    by_name = {t["name"]: t for t in body["data"]}
    for name, description in SEED_002.items():
        assert by_name[name] == {
            "name": name,
            "description": description,
            "category": name.split(".")[0],
            "source": "builtin",
            "schema": None,
            "example": by_name[name]["example"],  # the sample a test event sends
            "version": None,
            "archived": False,
            "created_at": None,
            "updated_at": None,
        }
    assert "webhook.test" in by_name
    names = [t["name"] for t in body["data"]]
    assert names == sorted(names)
    assert body["meta"]["total"] == len(names)


async def test_is_paginated(client, tenant) -> None:
    first = (await client.get("/api/v1/event-types?limit=5", headers=tenant.headers)).json()
    second = (await client.get("/api/v1/event-types?limit=5&page=2", headers=tenant.headers)).json()
    assert len(first["data"]) == 5 and len(second["data"]) == 5
    assert first["data"][-1]["name"] < second["data"][0]["name"]
    total = first["meta"]["total"]
    assert first["meta"] == {"total": total, "page": 1, "limit": 5, "pages": -(-total // 5)}


async def test_the_v3_entity_names_are_built_in(client, tenant) -> None:
    body = (await client.get("/api/v1/event-types?category=entity", headers=tenant.headers)).json()
    assert [t["name"] for t in body["data"]] == [
        "entity.created",
        "entity.deleted",
        "entity.updated",
        "entityCreated",
        "entityDeleted",
        "entityUpdated",
    ]
    one = await client.get("/api/v1/event-types/entityCreated", headers=tenant.headers)
    assert one.json()["data"]["source"] == "builtin"
    created = await client.post(
        "/api/v1/webhooks",
        json={"url": "https://example.com/h", "events": ["entityCreated", "entityDeleted"]},
        headers=tenant.headers,
    )
    assert created.status_code == 201, created.text


async def test_filters_by_category(client, tenant) -> None:
    body = (await client.get("/api/v1/event-types?category=data", headers=tenant.headers)).json()
    assert [t["name"] for t in body["data"]] == ["data.created", "data.deleted", "data.updated"]
    assert body["meta"]["total"] == 3


async def test_extra_types_from_settings(api, tenant) -> None:
    async with api(event_types="invoice.paid=An invoice was paid,invoice.voided") as client:
        body = (
            await client.get("/api/v1/event-types?category=invoice", headers=tenant.headers)
        ).json()
        assert [
            (t["name"], t["description"], t["category"], t["source"]) for t in body["data"]
        ] == [
            ("invoice.paid", "An invoice was paid", "invoice", "operator"),
            ("invoice.voided", "invoice.voided", "invoice", "operator"),
        ]
        created = await client.post(
            "/api/v1/webhooks",
            json={"url": "https://example.com/h", "events": ["invoice.*"]},
            headers=tenant.headers,
        )
        assert created.status_code == 201


@pytest.mark.parametrize("query", ["limit=101", "page=0", "category="])
async def test_bad_parameters_are_400(client, tenant, query) -> None:
    assert_error(await client.get(f"/api/v1/event-types?{query}", headers=tenant.headers), 400)


async def test_needs_a_token(client) -> None:
    assert_error(await client.get("/api/v1/event-types"), 401)
