"""Which ended deliveries count as not delivered (store/settling.py): failed, or skipped while
the webhook still exists. The settle, a bulk redelivery's selection and a large event's chunks
read the same rule, and a redelivery sends only those whose webhook is active."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select, update

from hookline.core import ids
from hookline.core.jobs import JobKind, JobQuery
from hookline.core.models import CHUNK_SIZE, ChunkInput, DeliveryStatus, EventStatus
from hookline.core.retry import RetrySpec
from hookline.store.jobs import count_job_events, job_page
from hookline.store.matching import chunk_targets
from hookline.store.settling import (
    is_redeliverable,
    is_undelivered,
    redeliverable,
    settle,
    undelivered,
)
from hookline.store.tables import Delivery, Event, Webhook
from tests.support.events import add_event
from tests.support.store import add_webhook

FAR = datetime.now(UTC) + timedelta(days=7)


async def event_with(sessions, tenant_id: str, deliveries: dict[str, DeliveryStatus]) -> str:
    """One event with a delivery to each webhook, in the status given."""
    first, *others = deliveries
    event_id, delivery_id = await add_event(sessions, tenant_id, first, FAR)
    async with sessions.begin() as session:
        row = await session.get(Delivery, delivery_id)
        row.status = deliveries[first]
        for webhook_id in others:
            session.add(
                Delivery(
                    id=ids.delivery_id(event_id, webhook_id),
                    tenant_id=tenant_id,
                    event_id=event_id,
                    webhook_id=webhook_id,
                    event_type="user.created",
                    status=deliveries[webhook_id],
                    attempts=1,
                    created_at=row.created_at,
                )
            )
    return event_id


async def webhooks(sessions, tenant_id: str) -> tuple[str, str, str]:
    """An active webhook, an inactive one and a deleted one."""
    active, inactive, deleted = [
        (await add_webhook(sessions, tenant_id, "https://example.com/hook")).id for _ in range(3)
    ]
    async with sessions.begin() as session:
        await session.execute(
            update(Webhook).where(Webhook.id == inactive).values(status="inactive")
        )
        await session.execute(delete(Webhook).where(Webhook.id == deleted))
    return active, inactive, deleted


def status_of(connection, event_id: str) -> EventStatus | None:
    return settle(connection, event_id, [], "settled")


async def test_a_skip_fails_its_event_only_while_its_webhook_exists(store, sessions, tenant):
    active, inactive, deleted = await webhooks(sessions, tenant.tenant_id)
    s, k = DeliveryStatus.SUCCEEDED, DeliveryStatus.SKIPPED
    skipped_inactive = await event_with(sessions, tenant.tenant_id, {active: s, inactive: k})
    skipped_deleted = await event_with(sessions, tenant.tenant_id, {active: s, deleted: k})
    assert await store.transaction(status_of, skipped_inactive) == EventStatus.FAILED
    assert await store.transaction(status_of, skipped_deleted) == EventStatus.SUCCEEDED
    async with sessions() as session:
        assert (await session.get(Event, skipped_inactive)).status == EventStatus.FAILED


async def test_redelivery_selection_takes_what_was_not_delivered_to_active_webhooks(
    store, sessions, tenant
):
    active, inactive, deleted = await webhooks(sessions, tenant.tenant_id)
    other = (await add_webhook(sessions, tenant.tenant_id, "https://example.com/other")).id
    f, k, s = DeliveryStatus.FAILED, DeliveryStatus.SKIPPED, DeliveryStatus.SUCCEEDED
    mixed = await event_with(
        sessions, tenant.tenant_id, {active: k, other: f, inactive: f, deleted: f}
    )
    only_inactive = await event_with(sessions, tenant.tenant_id, {inactive: k, other: s})
    query = JobQuery(tenant_id=tenant.tenant_id, kind=JobKind.REDELIVER, until=FAR)

    assert await store.transaction(count_job_events, query) == 1
    page = await store.transaction(job_page, query, None, 10)
    assert [(item.event_id, item.webhook_ids) for item in page.items] == [
        (mixed, sorted([active, other]))
    ]
    assert only_inactive not in [item.event_id for item in page.items]

    chunk = ChunkInput(
        event_id=mixed,
        tenant_id=tenant.tenant_id,
        type="user.created",
        created=datetime.now(UTC),
        expires_at=FAR,
        series=1,
        offset=0,
        limit=10,
        only_failed=True,
    )
    targets = await store.transaction(chunk_targets, chunk, RetrySpec())
    assert sorted(t.webhook_id for t in targets) == sorted([active, other])


async def test_a_bulk_page_names_no_webhook_of_a_large_event(store, sessions, tenant):
    """A large event's failed deliveries are not listed in the job's page nor in its signal
    (each of its chunks takes its own): neither grows with the event's webhooks."""
    hooks = [
        (await add_webhook(sessions, tenant.tenant_id, f"https://example.com/{n}")).id
        for n in range(CHUNK_SIZE + 1)
    ]
    large = await event_with(
        sessions, tenant.tenant_id, dict.fromkeys(hooks, DeliveryStatus.FAILED)
    )
    small = await event_with(sessions, tenant.tenant_id, {hooks[0]: DeliveryStatus.FAILED})
    query = JobQuery(tenant_id=tenant.tenant_id, kind=JobKind.REDELIVER, until=FAR)
    page = await store.transaction(job_page, query, None, 10)
    items = {item.event_id: item for item in page.items}
    assert (items[large].webhook_ids, items[large].size) == (None, CHUNK_SIZE + 1)
    assert (items[small].webhook_ids, items[small].size) == ([hooks[0]], 1)


async def test_the_loaded_row_rule_agrees_with_the_sql_for_every_status(store, sessions, tenant):
    """The API's redelivery and the console count rows already loaded; they must take what the
    settle and the jobs select in SQL."""
    hooks = dict(
        zip(("active", "inactive", None), await webhooks(sessions, tenant.tenant_id), strict=True)
    )
    for status in DeliveryStatus:
        for webhook_status, webhook_id in hooks.items():
            event_id = await event_with(sessions, tenant.tenant_id, {webhook_id: status})
            async with sessions() as session:
                sql_undelivered, sql_redeliverable = (
                    await session.execute(
                        select(undelivered(), redeliverable()).where(Delivery.event_id == event_id)
                    )
                ).one()
            case = (status, webhook_status)
            assert is_undelivered(status, webhook_status is not None) == sql_undelivered, case
            assert is_redeliverable(status, webhook_status) == sql_redeliverable, case
