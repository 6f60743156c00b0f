"""What an EventWorkflow knows of its event while it runs: its deliveries and their outcomes.

Ordered containers only: iteration order decides command order, which must not depend on
hashes or object addresses.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from hookline.core.models import (
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
    in_flight: dict[str, None] = field(default_factory=dict)  # in the order series began
    retrying: dict[str, None] = field(default_factory=dict)  # in flight, past attempt 1
    series: int = 0  # redelivery series started so far
    status: EventStatus = EventStatus.AWAITING

    def matched_all(self, webhooks: list[MatchedWebhook]) -> None:
        self.matched = {m.webhook_id: m for m in webhooks}
        self.outcomes = {wh: DeliveryStatus.PENDING for wh in self.matched}
        self.status = EventStatus.EXECUTING if self.matched else EventStatus.SUCCEEDED

    def redelivery_targets(self, request: RedeliverSignal) -> list[str]:
        """Named deliveries (or every failed one), but never one already in flight."""
        if request.webhook_ids:
            wanted = [wh for wh in request.webhook_ids if wh in self.matched]
        else:
            wanted = [wh for wh, s in self.outcomes.items() if s == DeliveryStatus.FAILED]
        return [wh for wh in wanted if wh not in self.in_flight]

    def shown_status(self, webhook_id: str) -> str:
        if webhook_id in self.retrying:
            return "retrying"
        return str(self.outcomes.get(webhook_id, DeliveryStatus.PENDING))
