"""Stand-ins for EventWorkflow's activities, scripted per test (the samples' pattern): the
workflow runs for real on a Temporal test server, the activities answer what the test says
and record what they were asked, with the server's time at each start."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from temporalio import activity
from temporalio.exceptions import ApplicationError

from hookline.core.ids import delivery_id
from hookline.core.models import (
    AcceptInput,
    DeliverInput,
    DeliverOutput,
    DeliveryStatus,
    EventStatus,
    ExpireInput,
    FirstAttemptsInput,
    FirstAttemptsOutput,
    MatchedWebhook,
    MatchOutput,
    SettleInput,
    SettleOutput,
)
from hookline.core.retry import RETRY_ERROR, RetrySpec


def matched(event_id: str, *webhook_ids: str, **retry: float) -> list[MatchedWebhook]:
    return [
        MatchedWebhook(
            webhook_id=wh, delivery_id=delivery_id(event_id, wh), retry=RetrySpec(**retry)
        )
        for wh in webhook_ids
    ]


def outcome(target: MatchedWebhook, status: DeliveryStatus, **fields: object) -> DeliverOutput:
    return DeliverOutput(
        delivery_id=target.delivery_id,
        webhook_id=target.webhook_id,
        status=status,
        attempts=1,
        **fields,
    )


@dataclass
class Call:
    name: str
    input: object
    started: datetime  # the server's time when the attempt was scheduled
    attempt: int


@dataclass
class Script:
    """What each activity answers. Each answer is a function of the input (and the call's
    attempt); the defaults: no webhook matches, every attempt succeeds."""

    accept: Callable[[AcceptInput, int], MatchOutput] = lambda i, n: MatchOutput()
    deliver_first: Callable[[FirstAttemptsInput, int], FirstAttemptsOutput] = lambda i, n: (
        FirstAttemptsOutput(outcomes=[outcome(t, DeliveryStatus.SUCCEEDED) for t in i.targets])
    )
    deliver: Callable[[DeliverInput, int], DeliverOutput] = lambda i, n: DeliverOutput(
        delivery_id=i.delivery_id,
        webhook_id=i.webhook_id,
        status=DeliveryStatus.SUCCEEDED,
        attempts=i.attempt_offset + n,
    )
    # deliver_first of these series waits until cancelled (or `hold_for` seconds)
    hold_series: set[int] = field(default_factory=set)
    hold_for: float = 60.0
    calls: list[Call] = field(default_factory=list)
    held: asyncio.Event = field(default_factory=asyncio.Event)

    def named(self, name: str) -> list[Call]:
        return [c for c in self.calls if c.name == name]

    def _record(self, name: str, input: object) -> int:
        info = activity.info()
        self.calls.append(Call(name, input, info.current_attempt_scheduled_time, info.attempt))
        return info.attempt

    def activities(self) -> list[Callable]:
        script = self

        @activity.defn(name="accept_event")
        async def accept_event(input: AcceptInput) -> MatchOutput:
            return script.accept(input, script._record("accept_event", input))

        @activity.defn(name="deliver_first")
        async def deliver_first(input: FirstAttemptsInput) -> FirstAttemptsOutput:
            attempt = script._record("deliver_first", input)
            if input.series in script.hold_series:
                script.held.set()
                await asyncio.sleep(script.hold_for)
            return script.deliver_first(input, attempt)

        @activity.defn(name="deliver")
        async def deliver(input: DeliverInput) -> DeliverOutput:
            return script.deliver(input, script._record("deliver", input))

        @activity.defn(name="settle_event")
        async def settle_event(input: SettleInput) -> SettleOutput:
            script._record("settle_event", input)
            ok = all(o.status == DeliveryStatus.SUCCEEDED for o in input.outcomes)
            return SettleOutput(status=EventStatus.SUCCEEDED if ok else EventStatus.FAILED)

        @activity.defn(name="expire_event")
        async def expire_event(input: ExpireInput) -> None:
            script._record("expire_event", input)

        return [accept_event, deliver_first, deliver, settle_event, expire_event]


def retry_later(input: DeliverInput) -> ApplicationError:
    """What `deliver` raises for a retryable answer (a 503)."""
    return ApplicationError("POST -> 503", type=RETRY_ERROR)
