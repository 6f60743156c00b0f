"""The delivery pipeline on the real Temporal dev server, a real receiver and a real store."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks.webhooks import Webhook as StandardWebhook
from temporalio.api.enums.v1 import ParentClosePolicy

from hookline.core.ids import tenant_scoped_event_id
from tests.support.flow import publish, settled
from tests.support.receiver import Reply, refused_port
from tests.support.store import add_webhook, event_rows, get_webhook
from tests.support.temporal import isolated_settings, running_worker

# Fast retries so real-time tests stay short: 1 s, then 1.5 s, 2.25 s ...
FAST = {"retry_initial_interval": 1, "retry_backoff": 1.5}


@pytest.fixture
def fast_settings(settings):
    return isolated_settings(settings, **FAST)


async def test_success_is_signed_with_both_schemes(
    dev_env, fast_settings, sessions, tenant, receiver
):
    webhook = await add_webhook(sessions, tenant.tenant_id, receiver.url("/ok"))
    async with running_worker(dev_env.client, fast_settings):
        handle = await publish(dev_env.client, fast_settings, tenant.tenant_id, data={"a": 1})
        progress = await settled(handle)
    assert progress.status == "succeeded"
    [request] = receiver.for_path("/ok")
    body = json.loads(request.body)
    assert body == {
        "id": handle.id,
        "type": "user.created",
        "created": body["created"],
        "data": {"a": 1},
        "tenant": tenant.tenant_id,
    }
    expected_hex = hmac.new(webhook.secret.encode(), request.body, hashlib.sha256).hexdigest()
    assert request.headers["x-webhook-signature"] == expected_hex
    StandardWebhook(webhook.secret).verify(request.body, request.headers)  # raises if wrong
    assert request.headers["webhook-id"] == handle.id
    assert request.headers["x-webhook-event"] == "user.created"
    assert request.headers["x-webhook-attempt"] == "1"
    event, deliveries, attempts = await event_rows(sessions, handle.id)
    assert event.status == "succeeded"
    assert request.headers["x-webhook-delivery-id"] == deliveries[webhook.id].id
    assert [(a.number, a.status_code, a.trigger, a.outcome) for a in attempts] == [
        (1, 200, "scheduled", "success")
    ]
    assert (await get_webhook(sessions, webhook.id)).last_triggered is not None


async def test_server_errors_are_retried_until_success(
    dev_env, fast_settings, sessions, tenant, receiver
):
    receiver.script("/flaky", [Reply(500, body="boom"), Reply(500), Reply(200)])
    webhook = await add_webhook(sessions, tenant.tenant_id, receiver.url("/flaky"))
    async with running_worker(dev_env.client, fast_settings):
        handle = await publish(dev_env.client, fast_settings, tenant.tenant_id)
        progress = await settled(handle)
    assert progress.deliveries[webhook.id] == "succeeded"
    requests = receiver.for_path("/flaky")
    assert [r.headers["x-webhook-attempt"] for r in requests] == ["1", "2", "3"]
    # One delivery id across retries: the receiver's idempotency key.
    assert len({r.headers["x-webhook-delivery-id"] for r in requests}) == 1
    gaps = [b.at - a.at for a, b in itertools.pairwise(requests)]
    assert gaps[0] >= 0.9 and gaps[1] >= 1.3, gaps  # 1 s then 1.5 s (server rounds to ~1 s)
    _, deliveries, attempts = await event_rows(sessions, handle.id)
    assert [(a.number, a.status_code, a.outcome) for a in attempts] == [
        (1, 500, "retry"),
        (2, 500, "retry"),
        (3, 200, "success"),
    ]
    assert attempts[0].response_body == "boom"
    assert deliveries[webhook.id].attempts == 3


async def test_retry_after_is_honoured(dev_env, fast_settings, sessions, tenant, receiver):
    receiver.script("/busy", [Reply(503, headers={"Retry-After": "2"}), Reply(200)])
    await add_webhook(sessions, tenant.tenant_id, receiver.url("/busy"))
    async with running_worker(dev_env.client, fast_settings):
        await settled(await publish(dev_env.client, fast_settings, tenant.tenant_id))
    first, second = receiver.for_path("/busy")
    assert second.at - first.at >= 1.9


async def test_gone_disables_the_webhook(dev_env, fast_settings, sessions, tenant, receiver):
    receiver.script("/gone", [Reply(410)])
    webhook = await add_webhook(sessions, tenant.tenant_id, receiver.url("/gone"))
    async with running_worker(dev_env.client, fast_settings):
        progress = await settled(await publish(dev_env.client, fast_settings, tenant.tenant_id))
        assert progress.status == "failed"
        stored = await get_webhook(sessions, webhook.id)
        assert stored.status == "inactive"
        # When, in RFC 3339 UTC as the API writes instants: "... 410 Gone at 2026-12-05T11:44:35Z".
        reason, _, when = stored.status_reason.rpartition(" at ")
        assert reason == "receiver answered 410 Gone"
        assert datetime.fromisoformat(when).utcoffset() == timedelta(0) and when.endswith("Z")
        assert len(receiver.for_path("/gone")) == 1
        # The next event does not go to an inactive webhook at all.
        second = await settled(await publish(dev_env.client, fast_settings, tenant.tenant_id))
    assert second.deliveries == {}
    assert len(receiver.for_path("/gone")) == 1


async def test_client_errors_get_two_attempts(dev_env, fast_settings, sessions, tenant, receiver):
    receiver.script("/bad", [Reply(400)])
    webhook = await add_webhook(sessions, tenant.tenant_id, receiver.url("/bad"))
    async with running_worker(dev_env.client, fast_settings):
        handle = await publish(dev_env.client, fast_settings, tenant.tenant_id)
        progress = await settled(handle)
    assert progress.deliveries[webhook.id] == "failed"
    assert len(receiver.for_path("/bad")) == 2
    _, deliveries, attempts = await event_rows(sessions, handle.id)
    assert [a.outcome for a in attempts] == ["retry", "fail"]
    assert deliveries[webhook.id].status == "failed"


async def test_timeouts_and_refused_connections_are_retried_and_recorded(
    dev_env, fast_settings, sessions, tenant, receiver
):
    receiver.script("/slow", [Reply(200, delay=3)])
    retry = {"timeout": 0.5, "max_attempts": 3}
    slow = await add_webhook(sessions, tenant.tenant_id, receiver.url("/slow"), retry=retry)
    port = await refused_port()
    refused = await add_webhook(
        sessions, tenant.tenant_id, f"http://127.0.0.1:{port}/hook", retry=retry
    )
    async with running_worker(dev_env.client, fast_settings):
        handle = await publish(dev_env.client, fast_settings, tenant.tenant_id)
        progress = await settled(handle)
    assert progress.deliveries == {slow.id: "failed", refused.id: "failed"}
    _, _, attempts = await event_rows(sessions, handle.id)
    by_webhook: dict[str, list] = {}
    for attempt in attempts:
        by_webhook.setdefault(attempt.webhook_id, []).append(attempt)
    assert len(by_webhook[slow.id]) == 3
    assert all("timeout" in a.error and a.status_code is None for a in by_webhook[slow.id])
    assert len(by_webhook[refused.id]) == 3
    assert all("connect" in a.error for a in by_webhook[refused.id])
    assert [a.outcome for a in by_webhook[refused.id]] == ["retry", "retry", "fail"]


@pytest.mark.parametrize("store_kind", ["sqlite", "postgres"])
async def test_fan_out_with_one_failing_and_filters(
    dev_env, fast_settings, sessions, tenant, receiver
):
    receiver.script("/down", [Reply(500)])
    retry = {"max_attempts": 2}
    ok_a = await add_webhook(sessions, tenant.tenant_id, receiver.url("/a"), events=["user.*"])
    ok_b = await add_webhook(sessions, tenant.tenant_id, receiver.url("/b"), events=["*"])
    down = await add_webhook(sessions, tenant.tenant_id, receiver.url("/down"), retry=retry)
    wants_email = await add_webhook(
        sessions,
        tenant.tenant_id,
        receiver.url("/email"),
        events=["user.updated"],
        filter={"data.changed": {"$in": ["email", "password"]}},
    )
    other_type = await add_webhook(
        sessions, tenant.tenant_id, receiver.url("/data"), events=["data.created"]
    )
    async with running_worker(dev_env.client, fast_settings):
        created = await settled(await publish(dev_env.client, fast_settings, tenant.tenant_id))
        name_only = await settled(
            await publish(
                dev_env.client,
                fast_settings,
                tenant.tenant_id,
                "user.updated",
                {"changed": ["name"]},
            )
        )
        email = await settled(
            await publish(
                dev_env.client,
                fast_settings,
                tenant.tenant_id,
                "user.updated",
                {"changed": ["email"]},
            )
        )
    assert created.status == "failed"
    assert created.deliveries == {ok_a.id: "succeeded", ok_b.id: "succeeded", down.id: "failed"}
    assert set(name_only.deliveries) == {ok_a.id, ok_b.id}
    assert set(email.deliveries) == {ok_a.id, ok_b.id, wants_email.id}
    assert len(receiver.for_path("/email")) == 1
    assert receiver.for_path("/data") == [] and other_type.id not in created.deliveries


async def test_other_tenants_webhooks_never_receive(
    dev_env, fast_settings, sessions, tenant, other_tenant, receiver
):
    await add_webhook(sessions, other_tenant.tenant_id, receiver.url("/theirs"), events=["*"])
    async with running_worker(dev_env.client, fast_settings):
        progress = await settled(await publish(dev_env.client, fast_settings, tenant.tenant_id))
    assert progress.deliveries == {}
    assert receiver.for_path("/theirs") == []


async def test_webhook_failing_for_days_is_disabled_and_the_tenant_alerted(
    dev_env, fast_settings, sessions, tenant, receiver
):
    receiver.script("/broken", [Reply(500)])
    broken = await add_webhook(
        sessions, tenant.tenant_id, receiver.url("/broken"), retry={"max_attempts": 1}
    )
    watcher = await add_webhook(
        sessions, tenant.tenant_id, receiver.url("/alerts"), events=["system.alert"]
    )
    async with sessions.begin() as session:  # it has been failing for six days
        stored = await session.get(type(broken), broken.id)
        stored.failing_since = datetime.now(UTC) - timedelta(days=6)
        since = stored.failing_since
    async with running_worker(dev_env.client, fast_settings):
        handle = await publish(dev_env.client, fast_settings, tenant.tenant_id)
        await settled(handle)
        [alert] = await receiver.wait_for(1, path="/alerts", timeout=20)
        history = await handle.fetch_history()
    body = json.loads(alert.body)
    assert body["type"] == "system.alert"
    assert body["data"]["alert"] == "webhook.disabled"
    assert body["data"]["webhook_id"] == broken.id
    disabled = await get_webhook(sessions, broken.id)
    assert disabled.status == "inactive" and "every attempt failed" in disabled.status_reason
    assert (await get_webhook(sessions, watcher.id)).status == "active"
    # The alert is its own event, started by this one as an abandoned child, its id derived
    # from the webhook and the start of its failures (so it is published once).
    key = f"webhook-disabled-{broken.id}-{int(since.timestamp())}"
    assert alert.headers["webhook-id"] == tenant_scoped_event_id(tenant.tenant_id, key)
    [child] = [
        e.start_child_workflow_execution_initiated_event_attributes
        for e in history.events
        if e.HasField("start_child_workflow_execution_initiated_event_attributes")
    ]
    assert child.workflow_id == alert.headers["webhook-id"]
    assert child.parent_close_policy == ParentClosePolicy.PARENT_CLOSE_POLICY_ABANDON


async def test_a_webhook_disabled_by_a_retry_alerts_and_is_not_retried_again(
    dev_env, settings, sessions, tenant, receiver
):
    # Failing for 2 s disables: attempt 1 starts the clock, attempt 3 (2.5 s later) disables.
    quick = isolated_settings(settings, auto_disable_after=timedelta(seconds=2), **FAST)
    receiver.script("/broken", [Reply(503)])
    broken = await add_webhook(sessions, tenant.tenant_id, receiver.url("/broken"))
    await add_webhook(sessions, tenant.tenant_id, receiver.url("/alerts"), events=["system.alert"])
    async with running_worker(dev_env.client, quick):
        handle = await publish(dev_env.client, quick, tenant.tenant_id)
        progress = await settled(handle)
        [alert] = await receiver.wait_for(1, path="/alerts", timeout=20)
    assert progress.deliveries == {broken.id: "failed"}
    assert json.loads(alert.body)["data"]["webhook_id"] == broken.id
    assert len(receiver.for_path("/broken")) == 3  # the attempt that disabled it was the last
    assert (await get_webhook(sessions, broken.id)).status == "inactive"
    _, deliveries, _ = await event_rows(sessions, handle.id)
    assert deliveries[broken.id].status == "failed"


async def test_recent_failures_do_not_disable(dev_env, fast_settings, sessions, tenant, receiver):
    receiver.script("/flaky", [Reply(500)])
    webhook = await add_webhook(
        sessions, tenant.tenant_id, receiver.url("/flaky"), retry={"max_attempts": 1}
    )
    async with running_worker(dev_env.client, fast_settings):
        await settled(await publish(dev_env.client, fast_settings, tenant.tenant_id))
    stored = await get_webhook(sessions, webhook.id)
    assert stored.status == "active" and stored.failing_since is not None


async def test_a_host_resolving_to_a_private_address_is_refused_at_delivery(
    dev_env, settings, sessions, tenant, receiver
):
    # Stored earlier, when its name pointed elsewhere: now `localhost` means 127.0.0.1.
    strict = isolated_settings(settings, allow_private_urls=False, **FAST)
    url = f"http://localhost:{receiver.port}/hook"
    webhook = await add_webhook(sessions, tenant.tenant_id, url)
    async with running_worker(dev_env.client, strict):
        handle = await publish(dev_env.client, strict, tenant.tenant_id)
        progress = await settled(handle)
    assert progress.deliveries[webhook.id] == "failed"
    assert receiver.requests == []
    _, _, attempts = await event_rows(sessions, handle.id)
    [attempt] = attempts  # refused is final: not retried into the private network
    assert attempt.outcome == "fail" and attempt.status_code is None
    assert attempt.error.startswith("refused:") and "127.0.0.1" in attempt.error
