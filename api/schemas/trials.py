"""Schemas of trying a webhook: a test event sent to it, a sample event tried against its filter,
and the sample data of test events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from hookline.core.models import utc_text


class WebhookTestRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"event": "user.created"}]}
    )

    event: str = Field(default="webhook.test", min_length=1, max_length=200)
    data: dict[str, Any] | None = Field(
        default=None,
        description="The event's data; by default the type's example (a tenant type's), else "
        "a sample for its category. A tenant type's schema applies.",
    )


class WebhookTestDetails(BaseModel):
    status_code: int | None = Field(default=None, examples=[200])
    response_time: int = Field(examples=[342], description="Milliseconds.")
    timestamp: datetime
    event_id: str = Field(examples=["evt_123456"])
    event_type: str = Field(examples=["user.created"])
    error: str | None = Field(default=None, description="Why no HTTP answer came back.")
    response_body: str | None = Field(default=None, description="The first 4 KiB of the answer.")


class WebhookTestResult(BaseModel):
    success: bool
    message: str = Field(examples=["Test event sent successfully"])
    details: WebhookTestDetails


class SampleEvent(BaseModel):
    type: str = Field(min_length=1, max_length=200, examples=["user.updated"])
    data: dict[str, Any] = Field(default_factory=dict)


class FilterTestRequest(BaseModel):
    """`{"event": {"type", "data"}}` or `{"type", "data"}`; `filter` tries a candidate filter
    instead of the stored one."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "event": {
                        "type": "user.updated",
                        "data": {"id": "usr_1", "changed": ["email"]},
                    }
                }
            ]
        },
    )

    event: SampleEvent | None = None
    type: str | None = Field(default=None, min_length=1, max_length=200)
    data: dict[str, Any] | None = None
    filter: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _one_event(self) -> FilterTestRequest:
        if self.event is None:
            if self.type is None:
                raise ValueError('give {"event": {"type", "data"}} or {"type", "data"}')
            self.event = SampleEvent(type=self.type, data=self.data or {})
        elif self.type is not None or self.data is not None:
            raise ValueError('give either "event" or "type"/"data", not both')
        return self


class FilterTestResult(BaseModel):
    webhook_id: str
    event_type: str
    matched: bool = Field(description="Whether this webhook would receive the event.")
    reasons: list[str] = Field(
        examples=[["type user.updated matches 'user.updated'", "filter matched"]]
    )


# Sample data of test events (POST /webhooks/{id}/test), by category.
SAMPLES: dict[str, dict[str, Any]] = {
    "user": {
        "id": "usr_789012",
        "email": "newuser@example.com",
        "name": "Jane Smith",
        "role": "editor",
        "status": "pending",
    },
    "data": {"id": "dat_345678", "name": "Quarterly figures", "kind": "dataset", "size": 2048},
    "report": {"id": "rpt_901234", "name": "Monthly usage", "format": "pdf", "pages": 12},
    "system": {"id": "alr_567890", "severity": "warning", "message": "Disk usage above 80%"},
    "mfa": {"user_id": "usr_789012", "method": "totp"},
    "security": {"user_id": "usr_789012", "ip": "203.0.113.7", "reason": "too many failures"},
    "sso": {"user_id": "usr_789012", "provider": "okta"},
    "organization": {"organization_id": "org_123456", "user_id": "usr_789012", "role": "admin"},
    "session": {"id": "ses_123456", "user_id": "usr_789012", "ip": "203.0.113.7"},
    "oauth": {"client_id": "cli_123456", "user_id": "usr_789012", "scopes": ["read"]},
    "entity": {"id": "ent_123456", "kind": "user_profile", "changed": ["email"]},
}


def sample_data(event_type: str, now: datetime) -> dict[str, Any]:
    """Plausible data for a test event of that type, marked as a test."""
    category = event_type.split(".", 1)[0]
    data = dict(SAMPLES.get(category, {"message": "This is a test event from hookline"}))
    data["created_at"] = utc_text(now)
    data["test"] = True
    return data
