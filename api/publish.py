"""Publishing: an event becomes an EventWorkflow whose id is the event id."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson
from temporalio.client import Client, WorkflowHandle
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from hookline.api.errors import ApiError
from hookline.core.catalog import Catalog, closest
from hookline.core.models import EventStatus, EventWorkflowInput
from hookline.infra import metrics
from hookline.infra.config import Settings
from hookline.infra.fair_starts import TURN_TAKEN, TURN_WAIT, StartsBusy
from hookline.infra.starts import start_options
from hookline.store.events import forget_unstarted, record_accepted, stored_input
from hookline.store.transactions import Store
from hookline.workflows.event import EventWorkflow

UNAVAILABLE = {RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED}
# A call to Temporal unanswered this long is a 503 to retry, not a request left hanging (a
# server that accepts connections but does not answer, or a first connect that cannot end).
CALL_TIMEOUT_SECONDS = 10.0
BUSY = "busy"  # a 503 whose start was never sent


def temporal_unavailable(exc: Exception) -> ApiError:
    return ApiError(
        503,
        "the delivery engine (Temporal) is unavailable; retry shortly",
        details={"reason": str(exc)[:200]},
        headers={"Retry-After": "5"},
    )


@asynccontextmanager
async def temporal_reached(extra: float = 0.0) -> AsyncIterator[asyncio.Timeout]:
    """Around a call to Temporal: the errors that mean it is away (unavailable, no answer
    within CALL_TIMEOUT_SECONDS, or a lazy client that cannot connect yet) become the 503 to
    retry; any other is raised as it is. A call cut short may still land later, as one whose
    answer was lost: a start joins the run of the event's id when retried, and a
    redelivery asked again while the first one's series runs is refused as in flight.
    `extra`: seconds the call may wait before it is sent (a start's turn); the deadline it
    yields is then moved to CALL_TIMEOUT_SECONDS after the sending."""
    try:
        async with asyncio.timeout(CALL_TIMEOUT_SECONDS + extra) as deadline:
            yield deadline
    except TimeoutError as exc:
        silent = TimeoutError(f"no answer within {CALL_TIMEOUT_SECONDS:g} s")
        raise temporal_unavailable(silent) from exc
    except RPCError as exc:
        if exc.status in UNAVAILABLE:
            raise temporal_unavailable(exc) from exc
        raise
    except RuntimeError as exc:
        if "connect" in str(exc).lower():
            raise temporal_unavailable(exc) from exc
        raise


def _after(seconds: float) -> float:
    return asyncio.get_running_loop().time() + seconds


def check_event(catalog: Catalog, settings: Settings, type_: str, data: dict) -> None:
    if type_ not in catalog:
        # The closest names, not the whole catalog (GET /api/v1/event-types lists it).
        did_you_mean = closest([type_], catalog.names())
        hint = f"; did you mean {', '.join(map(repr, did_you_mean))}?" if did_you_mean else ""
        raise ApiError(
            400,
            f"unknown event type {type_!r}{hint}",
            details={"did_you_mean": did_you_mean},
            code="unknown_event_type",
        )
    size = len(orjson.dumps(data))
    if size > settings.max_payload_bytes:
        raise ApiError(
            413, f"event data is {size} bytes; the limit is {settings.max_payload_bytes}"
        )


def event_workflow_input(
    settings: Settings, tenant_id: str, type_: str, data: dict, key: str | None
) -> EventWorkflowInput:
    return EventWorkflowInput.publish(
        tenant_id, type_, data, datetime.now(UTC), settings.event_retention, key
    )


async def start_event(
    client: Client, settings: Settings, event: EventWorkflowInput
) -> WorkflowHandle | None:
    """Starts the workflow; None when a closed run of the same id exists (already delivered)."""
    try:
        async with temporal_reached(TURN_WAIT) as deadline:
            # Temporal's time to answer counts from the start's turn (infra/fair_starts.py).
            sent = TURN_TAKEN.set(lambda: deadline.reschedule(_after(CALL_TIMEOUT_SECONDS)))
            try:
                handle = await client.start_workflow(
                    EventWorkflow.run,
                    event,
                    **start_options(settings, event),  # the reconciler's too (infra/starts.py)
                    # Granted only when this process runs a worker (the API's embedded one).
                    request_eager_start=True,
                )
            finally:
                TURN_TAKEN.reset(sent)
    except WorkflowAlreadyStartedError:
        return None
    except StartsBusy as busy:  # waited for its turn (infra/fair_starts.py): never sent
        raise ApiError(
            503,
            "this API process is starting too many events at once; retry in a few seconds: "
            "this event was not accepted",
            details={"reason": str(busy), "event_id": event.event_id},
            code=BUSY,
            headers={"Retry-After": "2"},
        ) from busy
    # Whether the start was eager is not in the SDK's public API (only a private flag on the
    # handle): counted as a start. The API's SDK metrics give the eager share: workflow tasks
    # it ran (`temporal_workflow_task_execution_latency_count`) minus those it polled
    # (`temporal_workflow_task_queue_poll_succeed`).
    metrics.event_started()
    return handle


def maybe_started(error: ApiError, event: EventWorkflowInput) -> ApiError:
    """A 503 of a start cut short: the start may still land (its event then delivered), so
    the answer says how to retry without a second event."""
    if error.status != 503 or error.code == BUSY:  # busy: never sent, says so
        return error
    how = (
        f"publish it again with the same id ({event.idempotency_key!r}): it is delivered once"
        if event.idempotency_key is not None
        else "an event sent with an `id` is delivered once however often it is retried"
    )
    return ApiError(
        503,
        f"{error.message}; this event may still have been accepted: {how}",
        details={**(error.details or {}), "event_id": event.event_id},
        headers=error.headers,
    )


@dataclass(frozen=True)
class Published:
    """What the API answers for one published event."""

    event_id: str
    type: str
    created: datetime
    status: str
    idempotency_key: str | None
    replayed: bool  # the same id (or key) was published before


async def publish(
    store: Store, client: Client, settings: Settings, event: EventWorkflowInput
) -> Published:
    """Record the event, then start its workflow (always idempotently, by the event id).

    A replay (the row exists) answers with the event as first published; while that event
    is still awaiting-executing it is started again from the stored row, so a first publish
    that died between the insert and the start is delivered by its retry."""
    stored = await store.transaction(record_accepted, event)
    if stored is not None:
        if stored.status == EventStatus.AWAITING:
            await start_event(client, settings, stored_input(stored))
        return Published(
            stored.id, stored.type, stored.created, stored.status, stored.idempotency_key, True
        )
    try:
        handle = await start_event(client, settings, event)
    except BaseException as error:
        await store.transaction(forget_unstarted, event.event_id)
        if isinstance(error, ApiError):
            raise maybe_started(error, event) from error
        raise
    if handle is None:  # a closed run of this id: published before, and expired since
        await store.transaction(forget_unstarted, event.event_id)
        return Published(
            event.event_id,
            event.type,
            event.created,
            EventStatus.EXPIRED,
            event.idempotency_key,
            True,
        )
    metrics.event_published(event.type)
    return Published(
        event.event_id,
        event.type,
        event.created,
        EventStatus.AWAITING,
        event.idempotency_key,
        False,
    )
