"""What only the console asks the store: a keyset page of events, per-event delivery tallies,
attempts per hour for the sparklines. Filters come from the events service's `filtered_events`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Integer, and_, cast, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from hookline.api.console.sparkline import status_class
from hookline.api.services.events import filtered_events
from hookline.store.tables import Attempt, Delivery, Event, Webhook

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)


def cursor_of(event: Event) -> str:
    """An opaque-looking, exact position: microseconds since the epoch and the id."""
    return f"{(event.created - EPOCH) // MICROSECOND}.{event.id}"


MAX_CURSOR_DIGITS = 18  # past 9999-12-31 already: longer is no position of ours


def parse_cursor(value: str) -> tuple[datetime, str] | None:
    """The position `cursor_of` wrote, or None: ASCII digits only (`str.isdigit` also takes
    "²³", which `int` refuses), and an instant the datetime range holds."""
    micros, _, event_id = value.partition(".")
    if not event_id or len(value) > 100 or not _is_number(micros, MAX_CURSOR_DIGITS):
        return None
    try:
        return EPOCH + int(micros) * MICROSECOND, event_id
    except OverflowError:  # beyond the year 9999
        return None


def _is_number(text: str, max_digits: int) -> bool:
    return 0 < len(text) <= max_digits and text.isascii() and text.isdigit()


def count_param(value: str, default: int = 0) -> int:
    """A small count from a query string (a notice's number); the default when it is not one."""
    return int(value) if _is_number(value, 9) else default


@dataclass
class EventPage:
    events: list[Event]
    total: int
    older: str | None  # cursor of the next page towards older events
    newer: str | None  # cursor of the page before, towards newer ones


async def events_page(
    session: AsyncSession,
    tenant_id: str,
    filters: dict,
    *,
    before: tuple[datetime, str] | None,
    after: tuple[datetime, str] | None,
    limit: int,
) -> EventPage:
    """Newest first. `before`: the page after that position; `after`: the page before it."""
    query = filtered_events(tenant_id, **filters)
    total = await session.scalar(select(func.count()).select_from(query.subquery())) or 0
    if after is not None:
        created, event_id = after
        newer_first = query.where(
            or_(Event.created > created, and_(Event.created == created, Event.id > event_id))
        ).order_by(Event.created, Event.id)
        rows = list(await session.scalars(newer_first.limit(limit + 1)))
        has_newer = len(rows) > limit
        events = list(reversed(rows[:limit]))
        has_older = True
    else:
        if before is not None:
            created, event_id = before
            query = query.where(
                or_(Event.created < created, and_(Event.created == created, Event.id < event_id))
            )
        rows = list(
            await session.scalars(
                query.order_by(Event.created.desc(), Event.id.desc()).limit(limit + 1)
            )
        )
        has_older = len(rows) > limit
        events = rows[:limit]
        has_newer = before is not None
    return EventPage(
        events=events,
        total=total,
        older=cursor_of(events[-1]) if events and has_older else None,
        newer=cursor_of(events[0]) if events and has_newer else None,
    )


async def delivery_tallies(session: AsyncSession, event_ids: list[str]) -> dict[str, dict]:
    """{event id: {delivery status: count}} for a page of events."""
    if not event_ids:
        return {}
    rows = await session.execute(
        select(Delivery.event_id, Delivery.status, func.count())
        .where(Delivery.event_id.in_(event_ids))
        .group_by(Delivery.event_id, Delivery.status)
    )
    tallies: dict[str, dict] = {}
    for event_id, status, count in rows:
        tallies.setdefault(event_id, {})[status] = count
    return tallies


async def webhook_names(session: AsyncSession, tenant_id: str) -> dict[str, Webhook]:
    """The tenant's webhooks by id, newest first (for selects and labels)."""
    rows = await session.scalars(
        select(Webhook)
        .where(Webhook.tenant_id == tenant_id)
        .order_by(Webhook.created_at.desc(), Webhook.id.desc())
    )
    return {w.id: w for w in rows}


def _hours_since(column, since: datetime, dialect: str):
    """Whole hours from `since` to `column`, computed by the store."""
    since_value = literal(since, column.type)
    if dialect == "sqlite":  # instants are ISO text there; julianday() reads them
        days = func.julianday(column) - func.julianday(since_value)
        return cast(days * 24, Integer)
    return cast(func.floor(func.extract("epoch", column - since_value) / 3600), Integer)


async def attempts_per_hour(
    session: AsyncSession, webhook_ids: list[str], now: datetime, hours: int = 24
) -> dict[str, list[dict[str, int]]]:
    """{webhook id: [{status class: attempts} for each hour, oldest first]}, counted by the
    store over the covering index (webhook_id, started_at, status_code, ...)."""
    result: dict[str, list[dict[str, int]]] = {
        wid: [{} for _ in range(hours)] for wid in webhook_ids
    }
    if not webhook_ids:
        return result
    since = now - timedelta(hours=hours)
    hour = _hours_since(Attempt.started_at, since, session.get_bind().dialect.name).label("hour")
    rows = await session.execute(
        select(Attempt.webhook_id, hour, Attempt.status_code, func.count())
        .where(Attempt.webhook_id.in_(webhook_ids), Attempt.started_at >= since)
        .group_by(Attempt.webhook_id, hour, Attempt.status_code)
    )
    for webhook_id, index, code, count in rows:
        bucket = result[webhook_id][min(max(int(index or 0), 0), hours - 1)]
        name = status_class(code)
        bucket[name] = bucket.get(name, 0) + count
    return result


async def delivery_counts(
    session: AsyncSession, webhook_ids: list[str], since: datetime
) -> dict[str, dict[str, int]]:
    """{webhook id: {delivery status: count}} of the deliveries created since then, as the
    API's stats count them (over the covering index (webhook_id, created_at, status))."""
    counts: dict[str, dict[str, int]] = {wid: {} for wid in webhook_ids}
    if not webhook_ids:
        return counts
    rows = await session.execute(
        select(Delivery.webhook_id, Delivery.status, func.count())
        .where(Delivery.webhook_id.in_(webhook_ids), Delivery.created_at >= since)
        .group_by(Delivery.webhook_id, Delivery.status)
    )
    for webhook_id, status, count in rows:
        counts[webhook_id][status] = count
    return counts
