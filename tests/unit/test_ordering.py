"""Turns (store/ordering.py): a fifo webhook's delivery is admitted only when no other is
POSTing, no delivery of an earlier event is still pending, and no earlier event of the tenant
is still unmatched; the next in line is the oldest pending one. A delivery refused a slot is
parked, and each freed slot wakes the oldest parked one."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert, select, text, update

from hookline.core.models import DeliveryStatus, EventStatus
from hookline.store.admission import Candidate, admit, release
from hookline.store.attempts import mark_throttled
from hookline.store.engine import create_engine
from hookline.store.ordering import (
    _OLDEST_PARKED,
    TURN_WAIT_MAX,
    WAKE_LOST_AFTER,
    to_wake,
    woken_by,
)
from hookline.store.tables import Delivery, Event, Webhook
from hookline.store.transactions import Store
from tests.support.store import add_webhook

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


async def _fifo_webhook(sessions, tenant_id: str) -> Webhook:
    webhook = await add_webhook(sessions, tenant_id, "https://hooks.example.com/ordered")
    async with sessions.begin() as session:
        await session.execute(
            update(Webhook).where(Webhook.id == webhook.id).values(ordering="fifo")
        )
    return webhook


async def _event(sessions, tenant_id, webhook_id, n, *, status=EventStatus.EXECUTING, next_at=None):
    """Event `evt_<n>` published n seconds after NOW - 1 h, with its delivery to the webhook."""
    created = NOW - timedelta(hours=1) + timedelta(seconds=n)
    async with sessions.begin() as session:
        session.add(
            Event(
                id=f"evt_{n}",
                tenant_id=tenant_id,
                type="user.created",
                data={},
                created=created,
                status=status,
                expires_at=created + timedelta(days=7),
            )
        )
        await session.flush()  # the delivery's foreign key
        if status != EventStatus.AWAITING:
            session.add(
                Delivery(
                    id=f"dlv_{n}",
                    tenant_id=tenant_id,
                    event_id=f"evt_{n}",
                    webhook_id=webhook_id,
                    event_type="user.created",
                    status=DeliveryStatus.PENDING,
                    created_at=created,
                    next_attempt_at=next_at,
                )
            )


async def _set_status(sessions, n: int, status: DeliveryStatus) -> None:
    async with sessions.begin() as session:
        await session.execute(
            update(Delivery).where(Delivery.id == f"dlv_{n}").values(status=status)
        )


async def _capped_queue(
    sessions, tenant_id: str, events: int, cap: int
) -> tuple[Webhook, Callable[[int], list[Candidate]]]:
    """A webhook with a delivery of each of `events` events, and the candidate for delivery n
    with that cap."""
    webhook = await add_webhook(sessions, tenant_id, "https://hooks.example.com/capped")
    for n in range(events):
        await _event(sessions, tenant_id, webhook.id, n)
    return webhook, lambda n: [Candidate(f"dlv_{n}", webhook.id, cap, 15.0)]


def _one(webhook_id: str, n: int) -> list[Candidate]:
    return [Candidate(f"dlv_{n}", webhook_id, 10, 15.0)]


async def test_a_fifo_webhook_takes_its_events_in_publish_order(store, sessions, tenant):
    webhook = await _fifo_webhook(sessions, tenant.tenant_id)
    later_retry = NOW + timedelta(minutes=5)
    for n in range(3):
        await _event(
            sessions, tenant.tenant_id, webhook.id, n, next_at=later_retry if n == 0 else None
        )
    # The second waits for the first, until about its next attempt; the third for the
    # second (the one just before it in line), about one POST's time.
    refused = await store.transaction(admit, _one(webhook.id, 1), NOW)
    assert refused["dlv_1"].turn and "after event evt_0" in refused["dlv_1"].reason
    assert 300 <= refused["dlv_1"].wait <= 300 + 15 + 1
    refused = await store.transaction(admit, _one(webhook.id, 2), NOW)
    assert refused["dlv_2"].turn and "after event evt_1" in refused["dlv_2"].reason
    assert 15 <= refused["dlv_2"].wait <= 16
    assert await store.transaction(admit, _one(webhook.id, 0), NOW) == {}
    # One at a time: even the next in line waits while the first POSTs.
    await _set_status(sessions, 0, DeliveryStatus.FAILED)
    refused = await store.transaction(admit, _one(webhook.id, 1), NOW)
    assert "another delivery is in flight" in refused["dlv_1"].reason
    await store.transaction(release, ["dlv_0"])
    assert await store.transaction(to_wake, [webhook.id], [], NOW) == [("evt_1", webhook.id)]
    # Failed for good counts as ended: the second goes; the third still waits for it.
    assert await store.transaction(admit, _one(webhook.id, 1), NOW) == {}
    await store.transaction(release, ["dlv_1"])
    assert (
        "after event evt_1"
        in (await store.transaction(admit, _one(webhook.id, 2), NOW))["dlv_2"].reason
    )
    await _set_status(sessions, 1, DeliveryStatus.SUCCEEDED)
    assert await store.transaction(admit, _one(webhook.id, 2), NOW) == {}


async def test_an_earlier_event_not_yet_matched_holds_the_turn(store, sessions, tenant):
    webhook = await _fifo_webhook(sessions, tenant.tenant_id)
    await _event(sessions, tenant.tenant_id, webhook.id, 0, status=EventStatus.AWAITING)
    await _event(sessions, tenant.tenant_id, webhook.id, 1)
    refused = await store.transaction(admit, _one(webhook.id, 1), NOW)
    assert "event evt_0 is not matched yet" in refused["dlv_1"].reason
    async with sessions.begin() as session:  # matched: none of it for this webhook
        await session.execute(
            update(Event).where(Event.id == "evt_0").values(status=EventStatus.SUCCEEDED)
        )
    assert await store.transaction(admit, _one(webhook.id, 1), NOW) == {}


async def test_a_wait_behind_a_long_retry_is_bounded_and_expired_events_hold_nothing(
    store, sessions, tenant
):
    webhook = await _fifo_webhook(sessions, tenant.tenant_id)
    await _event(sessions, tenant.tenant_id, webhook.id, 0, next_at=NOW + timedelta(days=2))
    await _event(sessions, tenant.tenant_id, webhook.id, 1)
    refused = await store.transaction(admit, _one(webhook.id, 1), NOW)
    assert refused["dlv_1"].wait == TURN_WAIT_MAX.total_seconds()
    # The first event's window closed with its delivery still pending: it holds no turn.
    async with sessions.begin() as session:
        await session.execute(
            update(Event).where(Event.id == "evt_0").values(expires_at=NOW - timedelta(seconds=1))
        )
    assert await store.transaction(admit, _one(webhook.id, 1), NOW) == {}


async def test_a_webhook_without_ordering_is_not_held(store, sessions, tenant):
    webhook = await add_webhook(sessions, tenant.tenant_id, "https://hooks.example.com/any")
    for n in range(2):
        await _event(sessions, tenant.tenant_id, webhook.id, n)
    assert await store.transaction(admit, _one(webhook.id, 1), NOW) == {}
    assert await store.transaction(admit, _one(webhook.id, 0), NOW) == {}


async def test_a_delivery_refused_a_slot_is_parked_and_each_freed_slot_wakes_the_next(
    store, sessions, tenant
):
    webhook, capped = await _capped_queue(sessions, tenant.tenant_id, 5, cap=2)
    for n in (0, 1):
        assert await store.transaction(admit, capped(n), NOW) == {}
    waits = []
    for n in (2, 3, 4):
        refusal = (await store.transaction(admit, capped(n), NOW))[f"dlv_{n}"]
        assert refusal.turn and "2 deliveries in flight (max 2)" in refusal.reason
        await store.transaction(mark_throttled, {f"dlv_{n}": refusal}, NOW)
        waits.append(refusal.wait)
    # A slot frees at least every POST's timeout (15 s + the lease's 10 s margin): the
    # third parked one waits two slots' time at most, the first two one.
    assert waits == [25.0, 25.0, 50.0]
    # Two freed slots wake the two oldest parked deliveries, one each, in publish order;
    # a third the last one.
    woken = await store.transaction(to_wake, [], [webhook.id], NOW)
    woken += await store.transaction(to_wake, [], [webhook.id], NOW)
    assert woken == [("evt_2", webhook.id), ("evt_3", webhook.id)]
    assert await store.transaction(to_wake, [], [webhook.id], NOW) == [("evt_4", webhook.id)]
    assert await store.transaction(to_wake, [], [webhook.id], NOW) == []
    async with sessions() as session:
        woken_at = await session.scalars(
            select(Delivery.next_attempt_at).where(Delivery.parked).order_by(Delivery.id)
        )
        assert [_aware(at) for at in woken_at] == [NOW, NOW, NOW]  # asking now


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


async def test_a_wake_lost_with_its_waker_is_given_again(store, sessions, tenant, store_kind):
    """A wake is decided in the transaction that records an attempt and signalled after it:
    a process that dies between the two leaves the woken delivery waiting on its long timer
    (up to 5 min). A delivery woken that has not asked again within WAKE_LOST_AFTER is woken
    again by the next freed slot; one woken that holds a lease (POSTing) is not."""
    webhook, capped = await _capped_queue(sessions, tenant.tenant_id, 4, cap=1)
    assert await store.transaction(admit, capped(0), NOW) == {}
    for n in (1, 2, 3):
        refused = await store.transaction(admit, capped(n), NOW)
        await store.transaction(mark_throttled, refused, NOW)
    # dlv_0's attempt is recorded: its slot wakes dlv_1, whose signal is lost (the waker
    # died), then another freed slot wakes dlv_2, which asks again and is admitted.
    await store.transaction(release, ["dlv_0"])
    assert await store.transaction(woken_by, [], [webhook.id], set(), NOW) == [
        ("evt_1", webhook.id)
    ]
    later = NOW + timedelta(seconds=1)
    assert await store.transaction(woken_by, [], [webhook.id], set(), later) == [
        ("evt_2", webhook.id)
    ]
    assert await store.transaction(admit, capped(2), later) == {}
    # Past WAKE_LOST_AFTER, dlv_1 has not asked: the next freed slot wakes it again (not
    # dlv_3, and not dlv_2, POSTing with its lease though still marked parked).
    lost = NOW + WAKE_LOST_AFTER + timedelta(seconds=1)
    assert await store.transaction(woken_by, [], [webhook.id], set(), lost) == [
        ("evt_1", webhook.id)
    ]
    assert await store.transaction(woken_by, [], [webhook.id], set(), lost) == [
        ("evt_3", webhook.id)
    ]


PENDING_BEHIND = 3_000  # a dead endpoint's retrying deliveries: pending, none parked


async def test_a_freed_slot_finds_the_parked_delivery_among_thousands_pending(
    settings, sessions, tenant, store_kind
):
    """Every attempt recorded looks for a parked delivery of its webhook (any webhook may have
    some): an index of the parked ones keeps that one lookup, not a walk of the pending."""
    webhook = await add_webhook(sessions, tenant.tenant_id, "https://hooks.example.com/dead")
    created = NOW - timedelta(hours=1)
    events = [
        {
            "id": f"evt_{n:05}",
            "tenant_id": tenant.tenant_id,
            "type": "user.created",
            "data": {},
            "created": created + timedelta(milliseconds=n),
            "status": EventStatus.EXECUTING,
            "expires_at": created + timedelta(days=7),
        }
        for n in range(PENDING_BEHIND + 1)
    ]
    deliveries = [
        {
            "id": f"dlv_{n:05}",
            "tenant_id": tenant.tenant_id,
            "event_id": f"evt_{n:05}",
            "webhook_id": webhook.id,
            "event_type": "user.created",
            "status": DeliveryStatus.PENDING,
            "created_at": created + timedelta(milliseconds=n),
            "parked": n == PENDING_BEHIND,  # the newest: behind all the others in order
        }
        for n in range(PENDING_BEHIND + 1)
    ]
    async with sessions.begin() as session:
        await session.execute(insert(Event), events)
        await session.execute(insert(Delivery), deliveries)
    engine = create_engine(settings.resolved_database_url)
    store = Store(settings.resolved_database_url, engine)
    try:
        parked = f"evt_{PENDING_BEHIND:05}"
        # A fast webhook's slot (no fifo): woken all the same; a fifo one's slot wakes nobody.
        assert await store.transaction(woken_by, [], [webhook.id], {webhook.id}, NOW) == []
        assert await store.transaction(woken_by, [], [webhook.id], set(), NOW) == [
            (parked, webhook.id)
        ]
        assert await store.transaction(woken_by, [], [webhook.id], set(), NOW) == []  # un-parked
        if store_kind == "sqlite":
            query = _OLDEST_PARKED.params(p_webhook=webhook.id, p_now=NOW, p_lost=NOW).compile(
                engine.sync_engine, compile_kwargs={"literal_binds": True}
            )
            async with engine.connect() as connection:
                plan = (await connection.execute(text(f"EXPLAIN QUERY PLAN {query}"))).all()
            assert any("ix_deliveries_parked_by_webhook" in str(row) for row in plan), plan
    finally:
        store.close()
        await engine.dispose()
