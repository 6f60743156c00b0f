"""POST /webhooks/{id}/test: a signed sample event sent right away to a real receiver."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks.webhooks import Webhook as StandardWebhook

from tests.api.conftest import assert_error
from tests.support.receiver import Reply, refused_port


def _utc(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


async def test_sends_a_signed_sample_event(client, tenant, create_webhook, receiver) -> None:
    created = await create_webhook(url=receiver.url("/hook"), events=["user.created"])
    before = datetime.now(UTC)
    response = await client.post(
        f"/api/v1/webhooks/{created['id']}/test",
        json={"event": "user.created"},
        headers=tenant.headers,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"] is True
    assert body["message"] == "Test event sent successfully"
    details = body["details"]
    assert details["status_code"] == 200
    assert isinstance(details["response_time"], int) and details["response_time"] >= 0
    assert before - timedelta(seconds=1) <= _utc(details["timestamp"]) <= datetime.now(UTC)
    assert details["event_type"] == "user.created" and details["error"] is None

    [got] = await receiver.wait_for(1, path="/hook")
    assert got.method == "POST"
    assert got.headers["content-type"] == "application/json"
    payload = got.json()
    assert set(payload) == {"id", "type", "created", "data", "tenant"}
    assert payload["id"] == details["event_id"] and payload["id"].startswith("evt_")
    assert payload["type"] == "user.created"
    assert payload["tenant"] == tenant.tenant_id
    assert payload["data"]["email"] == "newuser@example.com" and payload["data"]["test"] is True
    assert got.headers["x-webhook-event"] == "user.created"
    assert got.headers["x-webhook-attempt"] == "1"
    assert got.headers["x-webhook-delivery-id"].startswith("dlv_")
    assert got.headers["webhook-id"] == payload["id"]

    secret = created["secret"]
    expected = hmac.new(secret.encode(), got.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(got.headers["x-webhook-signature"], expected)
    assert StandardWebhook(secret).verify(got.body, got.headers) == payload


async def test_default_event_is_webhook_test(client, tenant, create_webhook, receiver) -> None:
    created = await create_webhook(url=receiver.url("/hook"))
    response = await client.post(f"/api/v1/webhooks/{created['id']}/test", headers=tenant.headers)
    assert response.json()["success"] is True
    assert receiver.json()["type"] == "webhook.test"
    empty = await client.post(
        f"/api/v1/webhooks/{created['id']}/test", json={}, headers=tenant.headers
    )
    assert empty.json()["details"]["event_type"] == "webhook.test"


async def test_given_data_is_sent(client, tenant, create_webhook, receiver) -> None:
    created = await create_webhook(url=receiver.url("/hook"))
    await client.post(
        f"/api/v1/webhooks/{created['id']}/test",
        json={"event": "system.alert", "data": {"severity": "critical"}},
        headers=tenant.headers,
    )
    assert receiver.json()["data"] == {"severity": "critical"}


async def test_non_2xx_answer_is_success_false(client, tenant, create_webhook, receiver) -> None:
    receiver.script("/hook", Reply(503, body="down for maintenance"))
    created = await create_webhook(url=receiver.url("/hook"))
    response = await client.post(
        f"/api/v1/webhooks/{created['id']}/test",
        json={"event": "user.created"},
        headers=tenant.headers,
    )
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is False
    assert "503" in body["message"]
    assert body["details"]["status_code"] == 503
    assert body["details"]["response_body"] == "down for maintenance"


async def test_refused_connection_is_reported_not_raised(client, tenant, create_webhook) -> None:
    port = await refused_port()
    created = await create_webhook(url=f"http://127.0.0.1:{port}/hook")
    response = await client.post(f"/api/v1/webhooks/{created['id']}/test", headers=tenant.headers)
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is False
    assert body["details"]["status_code"] is None
    assert "connect" in body["details"]["error"].lower()


async def test_timeout_is_reported_not_raised(api, tenant, create_webhook, receiver) -> None:
    receiver.script("/slow", Reply(200, delay=3))
    async with api(delivery_timeout=timedelta(seconds=0.3)) as client:
        created = await create_webhook(client=client, url=receiver.url("/slow"))
        response = await client.post(
            f"/api/v1/webhooks/{created['id']}/test", headers=tenant.headers
        )
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is False and "timeout" in body["details"]["error"]
    assert body["details"]["response_time"] < 2000


async def test_private_target_refused_at_send_time(api, tenant, sessions) -> None:
    """A URL saved while private targets were allowed is refused once they are not."""
    from hookline.core import ids
    from hookline.store.tables import Webhook

    webhook_id = ids.webhook_id()
    async with sessions.begin() as session:
        session.add(
            Webhook(
                id=webhook_id,
                tenant_id=tenant.tenant_id,
                url="https://127.0.0.1:9/hook",
                events=["user.created"],
                secret="whsec_" + "A" * 44,
            )
        )
    async with api(allow_private_urls=False) as client:
        response = await client.post(f"/api/v1/webhooks/{webhook_id}/test", headers=tenant.headers)
    body = response.json()
    assert response.status_code == 200 and body["success"] is False
    assert body["details"]["error"].startswith("refused")


async def test_inactive_webhooks_can_be_tested(client, tenant, create_webhook, receiver) -> None:
    created = await create_webhook(url=receiver.url("/hook"))
    await client.put(
        f"/api/v1/webhooks/{created['id']}", json={"status": "inactive"}, headers=tenant.headers
    )
    response = await client.post(f"/api/v1/webhooks/{created['id']}/test", headers=tenant.headers)
    assert response.json()["success"] is True
    assert len(receiver.requests) == 1
    # A test is not a delivery: the webhook stays as it was.
    got = (await client.get(f"/api/v1/webhooks/{created['id']}", headers=tenant.headers)).json()
    assert got["data"]["status"] == "inactive" and got["data"]["last_triggered"] is None


@pytest.mark.parametrize("event", ["user.exploded", "user.*", "*"])
async def test_unknown_test_event_is_400(client, tenant, create_webhook, receiver, event) -> None:
    created = await create_webhook(url=receiver.url("/hook"))
    response = await client.post(
        f"/api/v1/webhooks/{created['id']}/test", json={"event": event}, headers=tenant.headers
    )
    error = assert_error(response, 400, "unknown_event_type")
    assert "allowed" not in error["details"] and len(error["details"]["did_you_mean"]) <= 3
    assert receiver.requests == []


async def test_bad_test_bodies(client, tenant, create_webhook, receiver) -> None:
    created = await create_webhook(url=receiver.url("/hook"))
    url = f"/api/v1/webhooks/{created['id']}/test"
    assert_error(await client.post(url, json={"event": ""}, headers=tenant.headers), 422)
    assert_error(await client.post(url, json={"evnt": "x"}, headers=tenant.headers), 422)
    assert_error(await client.post(url, json={"data": [1]}, headers=tenant.headers), 422)
    headers = {**tenant.headers, "Content-Type": "application/json"}
    assert_error(await client.post(url, content=b"{", headers=headers), 400)
    assert receiver.requests == []


async def test_oversized_test_data_is_413(api, tenant, create_webhook, receiver) -> None:
    async with api(max_payload_bytes=100) as client:
        created = await create_webhook(client=client, url=receiver.url("/hook"))
        response = await client.post(
            f"/api/v1/webhooks/{created['id']}/test",
            json={"event": "user.created", "data": {"blob": "x" * 200}},
            headers=tenant.headers,
        )
    assert_error(response, 413)
    assert receiver.requests == []
