"""Scenario A: the naive baseline. One workflow per event, one regular activity that POSTs a
small HMAC-signed payload, SDK defaults everywhere (sandbox, worker options, retry policy)."""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import timedelta

from temporalio import activity, workflow

with workflow.unsafe.imports_passed_through():
    import httpx

TASK_QUEUE = "bench-naive"


@dataclass
class NaiveInput:
    event_id: str
    url: str
    secret: str


class NaivePoster:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    @activity.defn(name="naive_post")
    async def post(self, input: NaiveInput) -> int:
        body = json.dumps(
            {"id": input.event_id, "type": "user.created", "data": {"id": "usr_1"}}
        ).encode()
        signature = hmac.new(input.secret.encode(), body, hashlib.sha256).hexdigest()
        response = await self.http.post(
            input.url,
            content=body,
            headers={
                "Content-Type": "application/json",
                "X-Webhook-Signature": signature,
                "webhook-id": input.event_id,
                "X-Webhook-Delivery-Id": f"dlv_{input.event_id}",
            },
        )
        response.raise_for_status()
        return response.status_code


@workflow.defn(name="NaiveEventWorkflow")
class NaiveEventWorkflow:
    @workflow.run
    async def run(self, input: NaiveInput) -> int:
        return await workflow.execute_activity(
            "naive_post", input, start_to_close_timeout=timedelta(seconds=15)
        )
