"""How the workflow reads an activity's failure: final or retryable, and what it recorded."""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, is_cancelled_exception

with workflow.unsafe.imports_passed_through():
    from hookline.core.models import DeliverInput, DeliverOutput, DeliveryStatus, MatchedWebhook


def reraise_cancellation(error: BaseException) -> None:
    """A cancelled activity (the window closed) is not a failed attempt: it propagates, so
    no back-off is slept and no attempt is made after the window."""
    if is_cancelled_exception(error):
        raise error


def cause(error: Exception) -> BaseException:
    """Regular activities fail with ActivityError(cause=...); local ones may raise it bare."""
    if isinstance(error, ActivityError) and error.cause is not None:
        return error.cause
    return error


def recorded(error: Exception) -> dict:
    """The outcome the activity attached to its failure (a DeliverOutput as JSON), if any."""
    reason = cause(error)
    if isinstance(reason, ApplicationError) and reason.details:
        detail = reason.details[0]
        if isinstance(detail, dict):
            return detail
    return {}


def final(target: MatchedWebhook, error: Exception) -> DeliverOutput | None:
    """The final outcome if the activity said it is final; None if it may be retried."""
    reason = cause(error)
    if isinstance(reason, ApplicationError) and reason.non_retryable:
        details = recorded(error)
        if details.get("delivery_id"):
            return DeliverOutput.model_validate(details)
        return failed_for_good(target, reason.message, 0)
    return None


def failed_for_good(
    target: MatchedWebhook | DeliverInput, reason: str, attempts: int
) -> DeliverOutput:
    return DeliverOutput.ended(target, DeliveryStatus.FAILED, reason, attempts)
