"""POST /webhooks/{id}/test through an egress proxy: the same delivery code as the activities,
so the same proxy, credentials and SSRF vetting (tests/unit/test_send_proxy.py has the rest)."""

from __future__ import annotations

from pydantic import SecretStr

from hookline.core import ids, signing
from hookline.store.tables import Webhook
from tests.support.dns import StaticDns
from tests.support.egress_proxy import EgressProxy
from tests.support.receiver import Receiver

SECRET = "whsec_" + "A" * 44


async def _stored(sessions, tenant_id: str, url: str) -> str:
    """A webhook written straight into the store (no check at create, as an older one)."""
    webhook_id = ids.webhook_id()
    async with sessions.begin() as session:
        session.add(
            Webhook(
                id=webhook_id, tenant_id=tenant_id, url=url, events=["user.created"], secret=SECRET
            )
        )
    return webhook_id


async def test_the_test_send_goes_through_the_proxy_to_the_vetted_address(
    api, tenant, sessions, dns: StaticDns, receiver: Receiver
) -> None:
    dns.answers["hooks.example.test"] = ["93.184.215.14"]
    webhook_id = await _stored(
        sessions, tenant.tenant_id, f"http://hooks.example.test:{receiver.port}/hook"
    )
    async with EgressProxy(credentials=("u", "pw"), internet_at_loopback=True) as proxy:
        setting = SecretStr(proxy.url("u", "pw"))
        async with api(allow_private_urls=False, delivery_proxy=setting) as client:
            response = await client.post(
                f"/api/v1/webhooks/{webhook_id}/test", headers=tenant.headers
            )
    body = response.json()
    assert response.status_code == 200 and body["success"] is True, body
    [asked] = proxy.requests
    assert asked.target == f"http://93.184.215.14:{receiver.port}/hook"
    assert asked.headers["proxy-authorization"].startswith("Basic ")
    [got] = receiver.requests
    assert got.headers["host"] == f"hooks.example.test:{receiver.port}"
    assert "proxy-authorization" not in got.headers
    assert signing.verify_hex(SECRET, got.body, got.headers["x-webhook-signature"])


async def test_the_test_send_to_a_forbidden_address_never_reaches_the_proxy(
    api, tenant, sessions, dns: StaticDns
) -> None:
    webhook_id = await _stored(sessions, tenant.tenant_id, "https://metadata.example.com/hook")
    async with EgressProxy(internet_at_loopback=True) as proxy:
        setting = SecretStr(proxy.url())
        async with api(allow_private_urls=False, delivery_proxy=setting) as client:
            response = await client.post(
                f"/api/v1/webhooks/{webhook_id}/test", headers=tenant.headers
            )
    body = response.json()
    assert response.status_code == 200 and body["success"] is False
    assert body["details"]["error"].startswith("refused: host metadata.example.com resolves to")
    assert proxy.connections == 0
