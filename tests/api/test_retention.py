"""An event is gone from its `expires_at` on: every read answers as if it were deleted, before
the sweep has run, and the sweep then deletes its rows. A live event reads back at once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hookline.infra.sweeps import ExpirySweep
from tests.api.conftest import assert_error
from tests.support.events import add_event
from tests.support.store import event_rows


async def test_an_expired_event_is_404_before_and_after_the_sweep(
    client, tenant, sessions, create_webhook
):
    webhook = await create_webhook()
    now = datetime.now(UTC)
    expired, expired_delivery = await add_event(
        sessions, tenant.tenant_id, webhook["id"], now - timedelta(seconds=1)
    )
    live, live_delivery = await add_event(
        sessions, tenant.tenant_id, webhook["id"], now + timedelta(days=7)
    )

    async def reads(event_id: str, delivery_id: str) -> list[int]:
        return [
            (await client.get(path, headers=tenant.headers)).status_code
            for path in (f"/api/v1/events/{event_id}", f"/api/v1/deliveries/{delivery_id}/attempts")
        ]

    async def listed() -> tuple[list[str], list[str]]:
        events = await client.get("/api/v1/events", headers=tenant.headers)
        deliveries = await client.get(
            f"/api/v1/webhooks/{webhook['id']}/deliveries", headers=tenant.headers
        )
        return (
            [e["id"] for e in events.json()["data"]],
            [d["id"] for d in deliveries.json()["data"]],
        )

    # Not swept yet: the rows are there, the API says they are not.
    assert (await event_rows(sessions, expired))[0] is not None
    assert await reads(expired, expired_delivery) == [404, 404]
    error = assert_error(
        await client.get(f"/api/v1/events/{expired}", headers=tenant.headers), 404, "not_found"
    )
    assert "expired" in error["message"]
    redeliver = await client.post(f"/api/v1/events/{expired}/redeliver", headers=tenant.headers)
    assert_error(redeliver, 404, "not_found")
    assert await reads(live, live_delivery) == [200, 200]
    assert await listed() == ([live], [live_delivery])

    assert await ExpirySweep(client.app.state.deps.store).sweep() == 1
    event, deliveries, attempts = await event_rows(sessions, expired)
    assert event is None and deliveries == {} and attempts == []
    assert await reads(expired, expired_delivery) == [404, 404]
    assert await reads(live, live_delivery) == [200, 200]
    assert await listed() == ([live], [live_delivery])
