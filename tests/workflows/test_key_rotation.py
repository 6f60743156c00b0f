"""Encryption key rotation through real workflows and the codec endpoint.

``HOOKLINE_ENCRYPTION_KEY`` holds several keys: the first encrypts, all decrypt. Events
published under key A are redelivered after the rotation to ``B,A`` (the worker replays their
A-encrypted histories), new payloads carry B's id, the codec endpoint decodes both, and a
worker that lost key A too early fails visibly instead of silently.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import pytest
import temporalio.converter
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowQueryFailedError,
)
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from hookline.core import signing
from hookline.core.models import RedeliverSignal
from hookline.infra.config import Settings
from hookline.infra.crypto import (
    CODEC_ENCODING,
    CODEC_KEY_ID,
    SecretBox,
    data_converter,
    generate_key,
    parse_keys,
)
from hookline.workflows.event import EventWorkflow
from tests.api.conftest import assert_error, running
from tests.support.flow import publish, settled
from tests.support.receiver import Received, Receiver
from tests.support.store import add_webhook, event_rows
from tests.support.temporal import isolated_settings, running_worker
from tests.workflows.test_encryption import payloads_of, sdk_metadata

KEY_A = generate_key()
KEY_B = generate_key()
[(ID_A, _)] = parse_keys([KEY_A])
[(ID_B, _)] = parse_keys([KEY_B])
MARKER = "rotation.secret"  # in every event's data, never in history
OLD_EVENTS = 3
NEW_EVENTS = 2
STEP = 30  # seconds: the bound of every wait below


def codec_client(env: WorkflowEnvironment, keys: list[str]) -> Client:
    """A client on the shared dev server whose converter has exactly these keys."""
    return Client(
        env.client.service_client,
        namespace=env.client.namespace,
        data_converter=data_converter(keys),
    )


def raw_client(env: WorkflowEnvironment) -> Client:
    """No codec: reads history as the server stores it."""
    return Client(
        env.client.service_client,
        namespace=env.client.namespace,
        data_converter=temporalio.converter.default(),
    )


@asynccontextmanager
async def worker_with(
    env: WorkflowEnvironment, settings: Settings, keys: list[str]
) -> AsyncIterator[Client]:
    """A worker (and its publishing client: eager start) with this key list; stopped on exit."""
    settings = settings.model_copy(update={"encryption_key": ",".join(keys)})
    assert settings.encryption_keys == keys
    client = codec_client(env, keys)
    async with asyncio.timeout(STEP):
        async with running_worker(client, settings):
            yield client


def event_data(i: int) -> dict:
    return {"id": f"usr_{i}", "email": f"{MARKER}.{i}@example.com"}


async def publish_events(client: Client, settings: Settings, tenant_id: str, first: int, n: int):
    handles = [
        await publish(client, settings, tenant_id, data=event_data(i))
        for i in range(first, first + n)
    ]
    for handle in handles:
        progress = await settled(handle, timeout=STEP)
        assert progress.status == "succeeded", progress
    return handles


async def wait_series(handle: WorkflowHandle, series: int) -> None:
    deadline = time.monotonic() + STEP
    while True:
        progress = await handle.query(EventWorkflow.progress)
        if progress.series >= series and not progress.in_flight:
            assert progress.status == "succeeded", progress
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{handle.id}: series {series} not done in {STEP}s: {progress}")
        await asyncio.sleep(0.1)


def requests_for(receiver: Receiver, event_id: str) -> list[Received]:
    return [r for r in receiver.for_path("/rot") if r.json()["id"] == event_id]


async def encrypted_payloads(env: WorkflowEnvironment, workflow_id: str):
    """[(event, payload)] of one workflow's raw history, checked to hold no plaintext."""
    history = await raw_client(env).get_workflow_handle(workflow_id).fetch_history()
    serialized = b"".join(event.SerializeToString() for event in history.events)
    assert MARKER.encode() not in serialized, workflow_id
    assert MARKER not in history.to_json(), workflow_id
    found = [(e, p) for e in history.events for p in payloads_of(e) if not sdk_metadata(e, p)]
    assert found, f"{workflow_id}: the history should carry payloads"
    for event, payload in found:
        assert payload.metadata["encoding"] == CODEC_ENCODING, (workflow_id, event, payload)
    return found


def key_of(payload: Payload) -> str:
    return payload.metadata[CODEC_KEY_ID].decode("ascii")


def first_of(payloads: list[tuple[HistoryEvent, Payload]], kind: EventType.ValueType) -> Payload:
    return next(p for e, p in payloads if e.event_type == kind)


def wire(*payloads: Payload) -> dict:
    return json_format.MessageToDict(Payloads(payloads=payloads))


async def test_rotation_new_key_encrypts_old_key_still_decrypts(
    dev_env, settings, sessions, tenant, receiver, caplog
):
    settings = isolated_settings(settings)  # a task queue of its own on the shared server
    plain_secret = signing.new_secret()
    # The webhook secret in the store is sealed with A too: the rotated worker opens it.
    sealed = SecretBox([KEY_A]).seal(plain_secret)
    assert sealed.startswith(f"enc:v1:{ID_A}:")
    webhook = await add_webhook(sessions, tenant.tenant_id, receiver.url("/rot"), secret=sealed)
    workflow_ids: list[str] = []
    try:
        # 1. Key A only: events are published and delivered.
        async with worker_with(dev_env, settings, [KEY_A]) as client_a:
            old = await publish_events(client_a, settings, tenant.tenant_id, 0, OLD_EVENTS)
        workflow_ids += [h.id for h in old]
        assert len(receiver.for_path("/rot")) == OLD_EVENTS

        # 2. Rotation, B first: new events, and redeliveries of the old ones (the worker
        # replays their A-encrypted histories, new payloads are sealed with B).
        async with worker_with(dev_env, settings, [KEY_B, KEY_A]) as client_ba:
            new = await publish_events(
                client_ba, settings, tenant.tenant_id, OLD_EVENTS, NEW_EVENTS
            )
            workflow_ids += [h.id for h in new]
            for handle in old:
                await client_ba.get_workflow_handle(handle.id).signal(
                    EventWorkflow.redeliver, RedeliverSignal(webhook_ids=[webhook.id])
                )
            await receiver.wait_for(2 * OLD_EVENTS + NEW_EVENTS, path="/rot", timeout=STEP)
            for handle in old:
                await wait_series(client_ba.get_workflow_handle(handle.id), 1)

        for i, handle in enumerate(old):
            _, deliveries, attempts = await event_rows(sessions, handle.id)
            delivery_id = deliveries[webhook.id].id
            got = requests_for(receiver, handle.id)
            assert len(got) == 2, got  # the first delivery and the redelivery
            for request in got:
                assert request.headers["x-webhook-delivery-id"] == delivery_id
                assert request.headers["x-webhook-attempt"] == "1"
                assert request.json()["data"] == event_data(i)
            assert [(a.series, a.number, a.status_code) for a in attempts] == [
                (0, 1, 200),
                (1, 1, 200),
            ]
        for i, handle in enumerate(new, start=OLD_EVENTS):
            [request] = requests_for(receiver, handle.id)
            assert request.json()["data"] == event_data(i)
        for request in receiver.for_path("/rot"):  # signed with the secret sealed under A
            assert signing.verify_hex(
                plain_secret, request.body, request.headers["x-webhook-signature"]
            )

        # 3. Raw history: no plaintext; A's id on what was written before the rotation,
        # B's id on everything written after it.
        old_payloads = await encrypted_payloads(dev_env, old[0].id)
        history = await raw_client(dev_env).get_workflow_handle(old[0].id).fetch_history()
        rotation = next(
            e.event_id
            for e in history.events
            if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
        )
        before = [key_of(p) for e, p in old_payloads if e.event_id < rotation]
        after = [key_of(p) for e, p in old_payloads if e.event_id >= rotation]
        assert before and set(before) == {ID_A}, before
        assert after and set(after) == {ID_B}, after
        new_payloads = await encrypted_payloads(dev_env, new[0].id)
        assert {key_of(p) for _, p in new_payloads} == {ID_B}

        # 4. The codec endpoint: B,A decodes both; B alone refuses A's payloads (400).
        input_a = first_of(old_payloads, EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED)
        input_b = first_of(new_payloads, EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED)
        signal_b = first_of(old_payloads, EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED)
        assert (key_of(input_a), key_of(input_b), key_of(signal_b)) == (ID_A, ID_B, ID_B)
        headers = tenant.headers | {"X-Namespace": dev_env.client.namespace}
        async with running(
            settings.model_copy(update={"encryption_key": f"{KEY_B},{KEY_A}"})
        ) as api:
            response = await api.post(
                "/codec/decode", json=wire(input_a, input_b, signal_b), headers=headers
            )
        assert response.status_code == 200, response.text
        decoded = [base64.b64decode(p["data"]) for p in response.json()["payloads"]]
        assert json.loads(decoded[0])["data"] == event_data(0)
        assert json.loads(decoded[1])["data"] == event_data(OLD_EVENTS)
        # A signal names no tenant: a tenant's token gets it back as it was, still sealed
        # (only payloads naming the caller's tenant are decoded; the dev UI's secret path
        # decodes everything).
        assert response.json()["payloads"][2] == wire(signal_b)["payloads"][0]
        async with running(settings.model_copy(update={"encryption_key": KEY_B})) as api:
            refused = await api.post("/codec/decode", json=wire(input_a), headers=headers)
            accepted = await api.post("/codec/decode", json=wire(input_b), headers=headers)
        error = assert_error(refused, 400, "bad_request")
        assert ID_A in error["message"] and KEY_A not in refused.text
        assert accepted.status_code == 200, accepted.text

        # 5. Key A dropped too early: a worker with B alone cannot replay the old histories.
        # The failure is visible (the query fails, the worker logs which key is missing),
        # not silent, and nothing is lost; the new events, all under B, still answer.
        caplog.set_level(logging.ERROR, logger="temporalio.worker")
        async with worker_with(dev_env, settings, [KEY_B]) as client_b:
            progress = await client_b.get_workflow_handle(new[0].id).query(
                EventWorkflow.progress, rpc_timeout=timedelta(seconds=STEP)
            )
            assert progress.status == "succeeded"
            stranded = client_b.get_workflow_handle(old[1].id)
            with pytest.raises(WorkflowQueryFailedError):
                await stranded.query(EventWorkflow.progress, rpc_timeout=timedelta(seconds=STEP))
            description = await stranded.describe()
        assert description.status == WorkflowExecutionStatus.RUNNING
        logged = "\n".join(
            f"{r.getMessage()} {r.exc_info[1] if r.exc_info else ''}"
            for r in caplog.records
            if r.name.startswith("temporalio.worker")
        )
        assert f"encrypted with key {ID_A}, which is not in HOOKLINE_ENCRYPTION_KEY" in logged
        assert KEY_A not in logged and KEY_B not in logged  # ids only, never a key
    finally:
        raw = raw_client(dev_env)
        for workflow_id in workflow_ids:
            try:
                await raw.get_workflow_handle(workflow_id).terminate(reason="test over")
            except RPCError:
                pass
