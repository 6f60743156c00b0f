"""What an EventWorkflow knows of its event while it runs: its deliveries and their outcomes.

Ordered containers only: iteration order decides command order, which must not depend on
hashes or object addresses.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from hookline.core.models import (
        CarriedState,
        DeliveryStatus,
        EventStatus,
        EventWorkflowInput,
        MatchedWebhook,
        RedeliverSignal,
    )


@dataclass
class EventState:
    input: EventWorkflowInput
    matched: dict[str, MatchedWebhook] = field(default_factory=dict)
    outcomes: dict[str, DeliveryStatus] = field(default_factory=dict)
    requests: list[RedeliverSignal] = field(default_factory=list)
    # Deliveries not yet final, each with the series that owns it, in the order they began: a
    # delivery is released the moment its outcome is final, so a redelivery of it may start
    # while other deliveries of its series still retry.
    in_flight: dict[str, int] = field(default_factory=dict)
    retrying: dict[str, None] = field(default_factory=dict)  # in flight, past attempt 1
    throttled: dict[str, None] = field(default_factory=dict)  # waiting for admission
    # Fifo webhooks whose turn came (a `turn` signal) while their delivery waited for it.
    turns: dict[str, None] = field(default_factory=dict)
    series: int = 0  # redelivery series started so far
    status: EventStatus = EventStatus.AWAITING
    # Runs begun before the worker's version patch release a delivery only when its whole
    # series ends (workflows/event.py): their histories replay the way they were recorded.
    release_at_outcome: bool = True
    chunked_total: int | None = None  # a large event: how many webhooks (`matched` is empty)
    runs: int = 1  # runs of this event so far (continue-as-new), this one included

    def matched_all(self, webhooks: list[MatchedWebhook]) -> None:
        self.matched = {m.webhook_id: m for m in webhooks}
        self.outcomes = {wh: DeliveryStatus.PENDING for wh in self.matched}
        self.status = EventStatus.EXECUTING if self.matched else EventStatus.SUCCEEDED

    def carried(self) -> CarriedState:
        """For the next run, once no series runs."""
        return CarriedState(
            matched=list(self.matched.values()),
            outcomes=self.outcomes,
            requests=self.requests,
            series=self.series,
            status=self.status,
            chunked_total=self.chunked_total,
            runs=self.runs + 1,
        )

    def resume(self, carried: CarriedState) -> None:
        self.matched = {m.webhook_id: m for m in carried.matched}
        self.outcomes = dict(carried.outcomes)
        self.requests = list(carried.requests) + self.requests  # signals already here: after
        self.series, self.status = carried.series, carried.status
        self.chunked_total, self.runs = carried.chunked_total, carried.runs

    def claim(self, webhook_ids: list[str], series: int) -> None:
        self.in_flight.update(dict.fromkeys(webhook_ids, series))

    def finished(self, webhook_id: str, series: int, status: DeliveryStatus) -> None:
        """The delivery's outcome in `series` is final while the series may still run."""
        if self.release_at_outcome:
            self.release(webhook_id, series, status)

    def release(self, webhook_id: str, series: int, status: DeliveryStatus | None) -> None:
        """No longer in flight in `series`, with its final outcome (None: cancelled)."""
        if self.in_flight.get(webhook_id) != series:
            return  # released already
        del self.in_flight[webhook_id]
        self.retrying.pop(webhook_id, None)
        self.throttled.pop(webhook_id, None)
        if status is not None:
            self.outcomes[webhook_id] = status

    def still_current(self, outcome_webhook_id: str, status: DeliveryStatus) -> bool:
        """Not redelivered since this outcome: neither in flight again nor ended otherwise."""
        return (
            outcome_webhook_id not in self.in_flight
            and self.outcomes.get(outcome_webhook_id) == status
        )

    def redelivery_targets(self, request: RedeliverSignal) -> list[str]:
        """Named deliveries (or every failed one), but never one already in flight."""
        if request.webhook_ids:
            wanted = [wh for wh in request.webhook_ids if wh in self.matched]
        else:
            wanted = [wh for wh, s in self.outcomes.items() if s == DeliveryStatus.FAILED]
        return [wh for wh in wanted if wh not in self.in_flight]

    def shown_status(self, webhook_id: str) -> str:
        if webhook_id in self.throttled:
            return "throttled"
        if webhook_id in self.retrying:
            return "retrying"
        return str(self.outcomes.get(webhook_id, DeliveryStatus.PENDING))
