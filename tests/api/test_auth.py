"""401 without a valid bearer token (with WWW-Authenticate), 403 without the scope, 429."""

from __future__ import annotations

import pytest

from hookline.store.admin import revoke_token
from tests.api.conftest import WEBHOOK_URL, assert_error, token_id_of
from tests.conftest import make_tenant

NEW = {"url": WEBHOOK_URL, "events": ["user.created"]}
ENDPOINTS = [
    ("GET", "/api/v1/webhooks", None),
    ("POST", "/api/v1/webhooks", NEW),
    ("GET", "/api/v1/webhooks/wh_x", None),
    ("PUT", "/api/v1/webhooks/wh_x", {"status": "inactive"}),
    ("DELETE", "/api/v1/webhooks/wh_x", None),
    ("POST", "/api/v1/webhooks/wh_x/test", None),
    ("POST", "/api/v1/webhooks/wh_x/rotate-secret", None),
    ("POST", "/api/v1/webhooks/wh_x/filter-test", {"type": "user.created"}),
    ("GET", "/api/v1/event-types", None),
]


def _unauthorized(response) -> dict:
    error = assert_error(response, 401, "unauthorized")
    assert response.headers["www-authenticate"].startswith("Bearer")
    return error


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS)
async def test_no_authorization_header_is_401(client, method, path, body) -> None:
    _unauthorized(await client.request(method, path, json=body))


@pytest.mark.parametrize(
    "value",
    ["Basic dXNlcjpwYXNz", "Bearer", "Bearer   ", "Token hl_abc", "hl_abc", "bearer"],
)
async def test_wrong_scheme_is_401(client, tenant, value) -> None:
    _unauthorized(await client.get("/api/v1/webhooks", headers={"Authorization": value}))


async def test_scheme_is_case_insensitive(client, tenant) -> None:
    response = await client.get(
        "/api/v1/webhooks", headers={"Authorization": f"bearer {tenant.token}"}
    )
    assert response.status_code == 200


@pytest.mark.parametrize("value", ["hl_not-a-real-token", "x" * 500, "hl_é"])
async def test_unknown_token_is_401(client, tenant, value) -> None:
    headers = {"Authorization": f"Bearer {value}".encode()}
    error = _unauthorized(await client.get("/api/v1/webhooks", headers=headers))
    assert "invalid" in error["message"]


async def test_revoked_token_is_401(client, tenant, sessions) -> None:
    assert (await client.get("/api/v1/webhooks", headers=tenant.headers)).status_code == 200
    async with sessions.begin() as session:
        await revoke_token(session, await token_id_of(sessions, tenant))
    error = _unauthorized(await client.get("/api/v1/webhooks", headers=tenant.headers))
    assert "revoked" in error["message"]


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS[:-1])
async def test_no_webhook_scope_is_403(client, settings, method, path, body) -> None:
    publisher = await make_tenant(settings, "acme", scopes=["events:publish", "events:read"])
    response = await client.request(method, path, json=body, headers=publisher.headers)
    error = assert_error(response, 403, "forbidden")
    assert error["details"]["required"].startswith("webhooks:")


async def test_read_scope_reads_but_does_not_write(
    client, settings, tenant, create_webhook
) -> None:
    created = await create_webhook()
    reader = await make_tenant(settings, "acme", scopes=["webhooks:read"])
    base = f"/api/v1/webhooks/{created['id']}"
    assert (await client.get("/api/v1/webhooks", headers=reader.headers)).status_code == 200
    assert (await client.get(base, headers=reader.headers)).status_code == 200
    tried = await client.post(
        f"{base}/filter-test", json={"type": "user.created"}, headers=reader.headers
    )
    assert tried.status_code == 200
    for method, path, body in [
        ("POST", "/api/v1/webhooks", NEW),
        ("PUT", base, {"status": "inactive"}),
        ("DELETE", base, None),
        ("POST", f"{base}/test", None),
        ("POST", f"{base}/rotate-secret", None),
    ]:
        response = await client.request(method, path, json=body, headers=reader.headers)
        error = assert_error(response, 403, "forbidden")
        assert error["details"] == {"required": "webhooks:write"}
    got = await client.get(base, headers=tenant.headers)
    assert got.json()["data"]["status"] == "active"


async def test_write_scope_alone_cannot_read(client, settings) -> None:
    writer = await make_tenant(settings, "acme", scopes=["webhooks:write"])
    created = await client.post("/api/v1/webhooks", json=NEW, headers=writer.headers)
    assert created.status_code == 201
    assert_error(await client.get("/api/v1/webhooks", headers=writer.headers), 403)


async def test_event_types_need_any_valid_token(client, settings) -> None:
    nobody = await make_tenant(settings, "acme", scopes=[])
    response = await client.get("/api/v1/event-types", headers=nobody.headers)
    assert response.status_code == 200


async def test_fourth_request_in_a_minute_is_429(api, tenant, settings) -> None:
    async with api(rate_limit="3/minute") as client:
        for _ in range(3):
            ok = await client.get("/api/v1/webhooks", headers=tenant.headers)
            assert ok.status_code == 200
        limited = await client.post("/api/v1/webhooks", json=NEW, headers=tenant.headers)
        error = assert_error(limited, 429, "rate_limited")
        assert "3 per 1 minute" in error["message"]
        retry_after = int(limited.headers["retry-after"])
        assert 1 <= retry_after <= 61
        # Per token: another token is not limited.
        other = await make_tenant(settings, "acme")
        assert (await client.get("/api/v1/webhooks", headers=other.headers)).status_code == 200
