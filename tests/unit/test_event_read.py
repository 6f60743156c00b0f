"""Reading an event (the API's GET of one event, the console's event page) while a worker
records its attempt: what the reader sees is one moment of the store, never an attempt beside
a delivery still pending, nor a settled event whose delivery is not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import event as sa_event
from sqlalchemy import insert, update
from sqlalchemy.util import await_only

from hookline.api.services.events import get_event
from hookline.store.engine import create_engine, session_maker
from hookline.store.settling import stage
from hookline.store.tables import Attempt, Delivery, Event
from hookline.store.transactions import Store
from tests.conftest import make_tenant
from tests.support.events import add_event, first_attempt
from tests.support.store import add_webhook

DAY = timedelta(days=1)


def record_success(connection, tenant_id: str, event_id: str, delivery_id: str, webhook_id: str):
    """What recording a successful attempt 1 writes, in one transaction: the attempt, the
    delivery succeeded, the event settled."""
    now = datetime.now(UTC)
    connection.execute(
        insert(Attempt).values(first_attempt(tenant_id, event_id, webhook_id, 200, "success", now))
    )
    connection.execute(
        update(Delivery)
        .where(Delivery.id == delivery_id)
        .values(status="succeeded", attempts=1, last_status_code=200, delivered_at=now)
    )
    connection.execute(
        update(Event)
        .where(Event.id == event_id)
        .values(status="succeeded", stages=[stage("executing"), stage("succeeded")])
    )


async def test_an_event_read_while_its_attempt_is_recorded_shows_one_moment(settings) -> None:
    url = settings.resolved_database_url
    tenant = await make_tenant(settings, "reader")
    reader, writer_engine = create_engine(url), create_engine(url)
    writer = Store(url, writer_engine)  # another process's store: a worker's
    sessions = session_maker(reader)
    try:
        webhook = await add_webhook(sessions, tenant.tenant_id, "https://example.com/hook")
        event_id, delivery_id = await add_event(
            sessions, tenant.tenant_id, webhook.id, datetime.now(UTC) + DAY, attempted=False
        )
        recorded: list[str] = []

        # Right after the read's first statement over the deliveries, the worker commits.
        @sa_event.listens_for(reader.sync_engine, "after_cursor_execute")
        def record_meanwhile(_conn, _cursor, statement, *_args) -> None:
            if recorded or "deliveries" not in statement:
                return
            recorded.append(statement)
            await_only(
                writer.transaction(
                    record_success, tenant.tenant_id, event_id, delivery_id, webhook.id
                )
            )

        async with sessions() as session:
            during = await get_event(session, tenant.tenant_id, event_id)
        assert recorded, "the read never reached the deliveries"
        [delivery] = during.deliveries
        seen = (
            during.status,
            tuple(s.stage for s in during.stages),
            delivery.status,
            len(delivery.attempt_history),
        )
        assert seen in {
            ("executing", ("executing",), "pending", 0),
            ("succeeded", ("executing", "succeeded"), "succeeded", 1),
        }, seen

        async with sessions() as session:
            after = await get_event(session, tenant.tenant_id, event_id)
        [delivery] = after.deliveries
        assert (after.status, len(after.stages), delivery.status) == ("succeeded", 2, "succeeded")
        assert [a.status_code for a in delivery.attempt_history] == [200]
    finally:
        writer.close()
        await reader.dispose()
        await writer_engine.dispose()
