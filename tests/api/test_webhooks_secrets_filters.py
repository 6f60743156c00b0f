"""Secret rotation (both secrets sign during the grace) and filter testing (seed examples)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks.webhooks import Webhook as StandardWebhook

from hookline.store.tables import Webhook
from tests.api.conftest import assert_error

# --------------------------------------------------------------------------- rotation


def _hex(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _utc(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


async def test_rotation_signs_with_both_secrets_during_the_grace(
    client, tenant, create_webhook, receiver, settings
) -> None:
    created = await create_webhook(url=receiver.url("/hook"))
    old = created["secret"]
    response = await client.post(
        f"/api/v1/webhooks/{created['id']}/rotate-secret", headers=tenant.headers
    )
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    new = data["secret"]
    assert data["id"] == created["id"] and new.startswith("whsec_") and new != old
    expires = _utc(data["previous_secret_expires_at"])
    expected = datetime.now(UTC) + settings.secret_rotation_grace
    assert abs((expires - expected).total_seconds()) < 60

    got = await client.get(f"/api/v1/webhooks/{created['id']}", headers=tenant.headers)
    assert got.json()["data"]["secret"].startswith("whsec_•")

    await client.post(f"/api/v1/webhooks/{created['id']}/test", headers=tenant.headers)
    [request] = await receiver.wait_for(1)
    assert request.headers["x-webhook-signature"] == _hex(new, request.body)
    assert request.headers["x-webhook-signature-previous"] == _hex(old, request.body)
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    # Receivers on either secret accept it.
    StandardWebhook(new).verify(request.body, request.headers)
    StandardWebhook(old).verify(request.body, request.headers)


async def test_rotation_with_no_grace_drops_the_old_secret(
    client, tenant, create_webhook, receiver, sessions
) -> None:
    created = await create_webhook(url=receiver.url("/hook"))
    response = await client.post(
        f"/api/v1/webhooks/{created['id']}/rotate-secret",
        json={"grace_period": 0},
        headers=tenant.headers,
    )
    new = response.json()["data"]["secret"]
    assert response.json()["data"]["previous_secret_expires_at"] is None
    async with sessions() as session:
        row = await session.get(Webhook, created["id"])
    assert row is not None and row.previous_secret is None

    await client.post(f"/api/v1/webhooks/{created['id']}/test", headers=tenant.headers)
    [request] = await receiver.wait_for(1)
    assert request.headers["x-webhook-signature"] == _hex(new, request.body)
    assert "x-webhook-signature-previous" not in request.headers
    assert len(request.headers["webhook-signature"].split(" ")) == 1


async def test_rotation_grace_period_is_honoured(client, tenant, create_webhook) -> None:
    created = await create_webhook()
    response = await client.post(
        f"/api/v1/webhooks/{created['id']}/rotate-secret",
        json={"grace_period": 3600},
        headers=tenant.headers,
    )
    expires = _utc(response.json()["data"]["previous_secret_expires_at"])
    assert abs((expires - datetime.now(UTC) - timedelta(hours=1)).total_seconds()) < 60


@pytest.mark.parametrize(
    "body",
    [
        {"grace_period": -1},
        {"grace_period": 8 * 86400},
        {"x": 1},
        {"grace_period": "60"},
        {"grace_period": True},
        {"grace_period": 60.5},
    ],
)
async def test_bad_rotation_bodies_are_422(client, tenant, create_webhook, body) -> None:
    created = await create_webhook()
    response = await client.post(
        f"/api/v1/webhooks/{created['id']}/rotate-secret", json=body, headers=tenant.headers
    )
    assert_error(response, 422)


# --------------------------------------------------------------------------- filter-test

EMAIL_OR_PASSWORD = {"data.changed": {"$in": ["email", "password"]}}
APPLICATION_X = {"data.application": "X"}


async def _filter_test(client, tenant, webhook_id: str, body: dict) -> dict:
    response = await client.post(
        f"/api/v1/webhooks/{webhook_id}/filter-test", json=body, headers=tenant.headers
    )
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["webhook_id"] == webhook_id and data["reasons"]
    return data


async def test_seed_example_user_updated_on_email_or_password(
    client, tenant, create_webhook
) -> None:
    created = await create_webhook(events=["user.updated"], filter=EMAIL_OR_PASSWORD)
    wid = created["id"]

    def event(type_: str, changed: list[str]) -> dict:
        return {"event": {"type": type_, "data": {"id": "usr_1", "changed": changed}}}

    email = await _filter_test(client, tenant, wid, event("user.updated", ["email", "name"]))
    assert email["matched"] is True and email["event_type"] == "user.updated"
    password = await _filter_test(client, tenant, wid, event("user.updated", ["password"]))
    assert password["matched"] is True
    name = await _filter_test(client, tenant, wid, event("user.updated", ["name"]))
    assert name["matched"] is False
    assert any("data.changed" in reason for reason in name["reasons"])
    created_type = await _filter_test(client, tenant, wid, event("user.created", ["email"]))
    assert created_type["matched"] is False
    assert "matches none" in created_type["reasons"][0]


async def test_seed_example_only_application_x(client, tenant, create_webhook) -> None:
    created = await create_webhook(events=["*"], filter=APPLICATION_X)
    x = await _filter_test(
        client, tenant, created["id"], {"type": "data.created", "data": {"application": "X"}}
    )
    assert x["matched"] is True
    y = await _filter_test(
        client, tenant, created["id"], {"type": "data.created", "data": {"application": "Y"}}
    )
    assert y["matched"] is False
    assert any('"Y"' in reason for reason in y["reasons"])
    none = await _filter_test(client, tenant, created["id"], {"type": "system.alert"})
    assert none["matched"] is False


async def test_filter_sees_the_tenant(client, tenant, create_webhook) -> None:
    created = await create_webhook(filter={"tenant": tenant.tenant_id})
    got = await _filter_test(client, tenant, created["id"], {"type": "user.created"})
    assert got["matched"] is True


async def test_a_candidate_filter_can_be_tried(client, tenant, create_webhook) -> None:
    created = await create_webhook(events=["user.updated"], filter=EMAIL_OR_PASSWORD)
    sample = {"type": "user.updated", "data": {"changed": ["name"]}}
    tried = await _filter_test(
        client, tenant, created["id"], {"event": sample, "filter": {"data.changed": "name"}}
    )
    assert tried["matched"] is True
    without = await _filter_test(client, tenant, created["id"], {"event": sample, "filter": None})
    assert without["matched"] is True and "no filter" in without["reasons"]
    # The stored filter did not change.
    got = await client.get(f"/api/v1/webhooks/{created['id']}", headers=tenant.headers)
    assert got.json()["data"]["filter"] == EMAIL_OR_PASSWORD


async def test_webhook_without_filter_matches_on_type(client, tenant, create_webhook) -> None:
    created = await create_webhook(events=["user.*"])
    got = await _filter_test(client, tenant, created["id"], {"type": "user.deleted"})
    assert got["matched"] is True and "no filter" in got["reasons"]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({}, 422),
        ({"data": {}}, 422),
        ({"event": {"data": {}}}, 422),
        ({"event": {"type": "user.created"}, "type": "user.created"}, 422),
        ({"type": "user.created", "data": "x"}, 422),
        ({"type": "no.such"}, 400),
        ({"type": "user.created", "filter": {"data.a": {"$bogus": 1}}}, 422),
    ],
)
async def test_bad_filter_test_bodies(client, tenant, create_webhook, body, status) -> None:
    created = await create_webhook()
    response = await client.post(
        f"/api/v1/webhooks/{created['id']}/filter-test", json=body, headers=tenant.headers
    )
    error = assert_error(response, status)
    if "filter" in body:
        assert error["details"]["path"] == "data.a.$bogus"


async def test_two_rotations_at_once_both_sign(client, tenant, create_webhook, receiver) -> None:
    """Serialised: the later one's secret is current, the earlier one's the previous, and a
    delivery is signed with both. One once overwrote the other's read, and the secret it had
    answered (shown once) never signed anything."""
    created = await create_webhook(url=receiver.url("/hook"))
    path = f"/api/v1/webhooks/{created['id']}"
    for round_ in range(5):
        answers = await asyncio.gather(
            *(client.post(f"{path}/rotate-secret", headers=tenant.headers) for _ in range(2))
        )
        assert [a.status_code for a in answers] == [200, 200], [a.text for a in answers]
        rotated = {a.json()["data"]["secret"] for a in answers}
        await client.post(f"{path}/test", headers=tenant.headers)
        request = (await receiver.wait_for(round_ + 1))[-1]
        signed_with = {
            secret
            for secret in rotated
            if _hex(secret, request.body)
            in (
                request.headers["x-webhook-signature"],
                request.headers["x-webhook-signature-previous"],
            )
        }
        assert signed_with == rotated, round_
