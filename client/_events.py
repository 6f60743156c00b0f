"""The client's operations on events and redelivery jobs: publish, list, read, redeliver."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import httpx

from hookline.client._http import (
    _adapter,
    _Call,
    _Client,
    _instant,
    _json,
    _operation,
    _parse,
    _segment,
)
from hookline.client.models import Event, EventDetail, Job, NewEvent, Page, RedeliverResult


class _EventOperations(_Client):
    """Publishing, the tenant's events, redelivery and its jobs."""

    # ----------------------------------------------------------------------- publish

    @_operation
    def publish(
        self,
        type: str,
        data: Mapping[str, Any] | None = None,
        *,
        id: str | None = None,
        idempotency_key: str | None = None,
    ) -> _Call[Event]:
        """Publish one event. The idempotency key (``id``, else ``idempotency_key``, else a
        UUID made for this call) is sent with every retry, so the event is delivered once;
        ``Event.replayed`` says the API had it already."""
        if id is not None and idempotency_key is not None and id != idempotency_key:
            raise ValueError("give id or idempotency_key, not two different keys")
        key = id or idempotency_key or str(uuid.uuid4())
        body: dict[str, Any] = {"type": type, "data": dict(data or {})}
        if id is not None:
            body["id"] = id
        response = yield from self._request(
            "POST", "/events", json=body, headers={"Idempotency-Key": key}, replayable=True
        )
        event = _parse(response, _adapter(Event))
        event.replayed = response.headers.get("idempotent-replayed", "").lower() == "true"
        return event

    @_operation
    def publish_batch(self, events: Iterable[NewEvent | Mapping[str, Any]]) -> _Call[list[Event]]:
        """Publish up to 100 events at once (validated all or nothing). Each event without an
        ``id`` gets a UUID, the same on every retry of the batch."""
        items = [e if isinstance(e, NewEvent) else NewEvent.model_validate(e) for e in events]
        body = {
            "events": [
                {"type": e.type, "data": e.data, "id": e.id or str(uuid.uuid4())} for e in items
            ]
        }
        response = yield from self._request("POST", "/events/batch", json=body, replayable=True)
        return _parse(response, _adapter(list[Event]))

    # ----------------------------------------------------------------------- events

    @_operation
    def list_events(
        self,
        *,
        status: str | None = None,
        type: str | None = None,
        webhook_id: str | None = None,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        page: int = 1,
        limit: int = 20,
        starting_after: str | None = None,
    ) -> _Call[Page[Event]]:
        """The tenant's live events, newest first (``since`` inclusive, ``until`` not);
        ``starting_after``: the last event id of the page before, to read on without the
        events published meanwhile shifting the pages."""
        return (
            yield from self._get(
                "/events",
                _adapter(Page[Event]),
                None,
                status=status,
                type=type,
                webhook_id=webhook_id,
                since=_instant(since),
                until=_instant(until),
                page=page,
                limit=limit,
                starting_after=starting_after,
            )
        )

    @_operation
    def get_event(self, event_id: str) -> _Call[EventDetail]:
        """An event with its stages, deliveries and every attempt."""
        return (yield from self._get(f"/events/{_segment(event_id)}", _adapter(EventDetail)))

    @_operation
    def redeliver(
        self, event_id: str, *, webhook_ids: list[str] | None = None
    ) -> _Call[RedeliverResult]:
        """Redeliver an event's failed deliveries (or those to ``webhook_ids``)."""
        body = {"webhook_ids": webhook_ids} if webhook_ids is not None else None
        response = yield from self._request(
            "POST", f"/events/{_segment(event_id)}/redeliver", json=body
        )
        return _redelivered(response)

    @_operation
    def redeliver_failed(
        self,
        *,
        webhook_id: str | None = None,
        type: str | None = None,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
    ) -> _Call[Job]:
        """Redeliver every failed delivery of the tenant's live events matching the filters:
        a job, answered at once (follow it with `get_job`). The client's idempotency key makes
        its own retries one job."""
        body = {
            "webhook_id": webhook_id,
            "type": type,
            "since": _instant(since),
            "until": _instant(until),
        }
        body = {name: value for name, value in body.items() if value is not None}
        response = yield from self._request(
            "POST",
            "/events/redeliver",
            json=body,
            headers={"Idempotency-Key": str(uuid.uuid4())},
            replayable=True,  # the key makes a repeated request the same job
        )
        return _parse(response, _adapter(Job))

    @_operation
    def get_job(self, job_id: str) -> _Call[Job]:
        response = yield from self._request("GET", f"/jobs/{_segment(job_id)}")
        return _parse(response, _adapter(Job))

    @_operation
    def cancel_job(self, job_id: str) -> _Call[Job]:
        response = yield from self._request("POST", f"/jobs/{_segment(job_id)}/cancel")
        return _parse(response, _adapter(Job))


def _redelivered(response: httpx.Response) -> RedeliverResult:
    result = _parse(response, _adapter(RedeliverResult))
    result.message = str(_json(response).get("message", ""))
    return result
