"""Telling a tenant that one of its webhooks was disabled: a system.alert event, delivered like
any other, as its own EventWorkflow (core/alerts.py), abandoned by the run that started it."""

from __future__ import annotations

from temporalio import workflow
from temporalio.common import Priority, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from hookline.core import alerts
    from hookline.core import search_attributes as sa
    from hookline.core.models import EventStatus, EventWorkflowInput, WebhookDisabled


async def alert_disabled(event: EventWorkflowInput, disabled: WebhookDisabled) -> None:
    alert = alerts.webhook_disabled(
        disabled, event.tenant_id, workflow.now(), retention=event.expires_at - event.created
    )
    try:
        await workflow.start_child_workflow(
            "EventWorkflow",  # by name: this module is imported by the workflow it starts
            alert,
            id=alert.event_id,
            parent_close_policy=ParentClosePolicy.ABANDON,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            search_attributes=sa.at_start(alert.tenant_id, alert.type, str(EventStatus.AWAITING)),
            static_summary=f"{alert.type} event: {disabled.webhook_id} disabled",
            priority=Priority(fairness_key=alert.tenant_id),
        )
    except WorkflowAlreadyStartedError:
        pass  # the same alert, already started: done
