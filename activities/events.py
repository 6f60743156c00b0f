"""Event store activities: accept the event (record + match), settle its status, expire it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Connection, Row
from temporalio import activity
from temporalio.client import Client

from hookline.activities.delivery import DeliveryActivities
from hookline.activities.delivery_admit import EventFacts, admit_unmade
from hookline.activities.deps import Deps
from hookline.core.models import (
    AcceptInput,
    ChunkInput,
    DeliverInput,
    ExpireInput,
    MatchedWebhook,
    MatchOutput,
    SettleInput,
    SettleOutput,
)
from hookline.core.retry import RetrySpec, attempt_limit
from hookline.store.admission import Candidate, Refusal
from hookline.store.events import (
    accept_repair,
    delete_event,
    record_and_match,
    settle_deliveries,
)
from hookline.store.matching import (
    active_webhooks,
    chunk_targets,
    event_document,
    filter_verdicts,
)
from hookline.store.settling import event_status

# Events whose data is larger than this have their filters evaluated off the event loop.
LARGE_EVENT_BYTES = 16 * 1024
# (tenant, event type) pairs whose last match is kept: the webhooks an accept of the next such
# event will likely lock (store/row_gates.py); the oldest pair is forgotten first.
MATCHES_KEPT = 4096


def match_and_admit(
    connection: Connection,
    input: AcceptInput,
    base: RetrySpec,
    verdicts: dict[str, bool] | None,
    default_cap: int,
    now: datetime,
    retried: bool = False,
) -> tuple[list[tuple[MatchedWebhook, Row[Any]]], dict[str, Refusal], dict[str, Row[Any]]]:
    """record_and_match, then, when attempt 1 follows, admission for every match in the same
    transaction (`admit_unmade`): the refused ones, with why, marked throttled, and those a
    run of this step attempted already."""
    found, first_accept = record_and_match(connection, input, base, verdicts)
    large = input.chunk_size is not None and len(found) > input.chunk_size
    if not (input.attempt_first and found) or large:
        return found, {}, {}
    candidates = [
        Candidate.sized(
            m.delivery_id,
            m.webhook_id,
            row.max_in_flight,
            default_cap,
            timeout=attempt_limit(m.retry.timeout),
            retried=retried,
        )
        for m, row in found
    ]
    refused, made = admit_unmade(connection, candidates, 0, 1, now, first_run=first_accept)
    return found, refused, made


class EventActivities:
    def __init__(self, deps: Deps, client: Client | None = None) -> None:
        self.deps = deps
        self.delivery = DeliveryActivities(deps, client)
        self._last_matched: dict[tuple[str, str], list[str]] = {}  # webhook ids

    @activity.defn(name="accept_event")
    async def accept_event(self, input: AcceptInput) -> MatchOutput:
        """record_event and match_webhooks in one store transaction; then, if asked,
        attempt 1 to every match (as `deliver_first` does, with the webhook rows just read).
        Idempotent: a second run keeps the rows of the first.

        A run the reconciler started for an event whose run closed without finishing it
        (`repair_reason`): the event recorded failed, its deliveries read as they are, all
        final; nothing matched again, nothing POSTed (store/events.py, `accept_repair`)."""
        if input.repair_reason is not None:
            return await self.deps.store.transaction(
                accept_repair, input, self.deps.settings.retry_spec()
            )
        verdicts = await self._filters_off_the_loop(input)
        kind = (input.tenant_id, input.type)
        found, refused, made = await self.deps.store.transaction(
            match_and_admit,
            input,
            self.deps.settings.retry_spec(),
            verdicts,
            self.deps.settings.max_in_flight_per_webhook,
            datetime.now(UTC),
            activity.info().attempt > 1,
            # Admission locks its matches' rows, known only once matched: those of the last
            # such event, likely the same, have their gates taken first.
            rows=self._last_matched.get(kind, ()),
        )
        matched = [m for m, _ in found]
        self._last_matched.pop(kind, None)
        if input.chunk_size is not None and len(matched) > input.chunk_size:
            # A large event: its deliveries are open; chunk workflows load and deliver them.
            return MatchOutput(chunked_total=len(matched))
        if not (input.attempt_first and matched):
            return MatchOutput(webhooks=matched)
        self._last_matched[kind] = [m.webhook_id for m in matched]
        if len(self._last_matched) > MATCHES_KEPT:
            del self._last_matched[next(iter(self._last_matched))]
        event = EventFacts(input.event_id, input.tenant_id, input.type, input.created, input.data)
        targets = [DeliverInput.of(m, input.event_id, input.tenant_id) for m in matched]
        webhooks = {row.id: row for _, row in found}
        first = await self.delivery.first_attempts(
            event, targets, webhooks, "delivered", refused, made
        )
        return MatchOutput(webhooks=matched, first=first)

    async def _filters_off_the_loop(self, input: AcceptInput) -> dict[str, bool] | None:
        """For a large event, the tenant's filters run in a thread: evaluation is linear
        (RE2, at most 100 nodes) but over 256 KiB of data it can take tens of milliseconds
        per webhook, which would hold the event loop every other tenant's work runs on."""
        if len(orjson.dumps(input.data)) <= LARGE_EVENT_BYTES:
            return None
        rows = await self.deps.store.transaction(active_webhooks, input.tenant_id)
        if not any(row.filter for row in rows):
            return None
        document = event_document(input.type, input.data, input.tenant_id)
        return await asyncio.to_thread(filter_verdicts, rows, document)

    @activity.defn(name="load_chunk")
    async def load_chunk(self, input: ChunkInput) -> list[MatchedWebhook]:
        """The deliveries of one chunk of a large event (store/matching.py chunk_targets)."""
        return await self.deps.store.transaction(
            chunk_targets, input, self.deps.settings.retry_spec()
        )

    @activity.defn(name="settle_event")
    async def settle_event(self, input: SettleInput) -> SettleOutput:
        """Set the event's status from its deliveries' outcomes once a series has finished."""
        status = await self.deps.store.transaction(settle_deliveries, input)
        if status is None:
            status = event_status([o.status for o in input.outcomes])
        return SettleOutput(status=status)

    @activity.defn(name="expire_event")
    async def expire_event(self, input: ExpireInput) -> None:
        """Retention reached: the payload, deliveries and attempts are deleted for good."""
        await self.deps.store.transaction(delete_event, input.event_id)
