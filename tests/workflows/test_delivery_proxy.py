"""Deliveries through an egress proxy (HOOKLINE_DELIVERY_PROXY) on the real Temporal dev
server: the proxy is down for the first attempt (a connection error, recorded and retried like
any other), then up (the retry goes through it and arrives signed)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac

from pydantic import SecretStr

from tests.support.egress_proxy import EgressProxy
from tests.support.flow import publish, settled
from tests.support.receiver import refused_port
from tests.support.store import add_webhook, event_rows
from tests.support.temporal import isolated_settings, running_worker


async def test_proxy_down_is_retried_then_delivered_through_it(
    dev_env, settings, sessions, tenant, receiver
):
    port = await refused_port()
    proxied = isolated_settings(
        settings,
        retry_initial_interval=1,
        retry_backoff=1.5,
        delivery_proxy=SecretStr(f"http://hook:s3cret@127.0.0.1:{port}"),
    )
    webhook = await add_webhook(
        sessions, tenant.tenant_id, receiver.url("/hook"), retry={"max_attempts": 5}
    )
    async with running_worker(dev_env.client, proxied):
        handle = await publish(dev_env.client, proxied, tenant.tenant_id)
        for _ in range(200):  # attempt 1 is recorded before its retry is due (1 s)
            if (await event_rows(sessions, handle.id))[2]:
                break
            await asyncio.sleep(0.05)
        async with EgressProxy(credentials=("hook", "s3cret"), port=port) as proxy:
            progress = await settled(handle)
    assert progress.status == "succeeded"
    _, _, attempts = await event_rows(sessions, handle.id)
    first, *_, last = attempts
    assert first.status_code is None and first.outcome == "retry"
    assert first.error.startswith("connection error: the egress proxy: "), first.error
    assert "s3cret" not in first.error
    assert last.status_code == 200 and last.outcome == "success"
    assert proxy.requests and all(
        r.target == f"http://127.0.0.1:{receiver.port}/hook" for r in proxy.requests
    )
    [got] = receiver.for_path("/hook")
    expected = hmac.new(webhook.secret.encode(), got.body, hashlib.sha256).hexdigest()
    assert got.headers["x-webhook-signature"] == expected
    assert "proxy-authorization" not in got.headers
