"""Payload encryption end to end: history on the real dev server holds no plaintext, the
codec client and the webhook still see the data."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
import temporalio.converter
from temporalio.api.common.v1 import Payload, SearchAttributes
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from hookline.infra.crypto import CODEC_ENCODING, generate_key
from tests.support.flow import publish, settled
from tests.support.store import add_webhook
from tests.support.temporal import isolated_settings, running_worker, start_dev_server

MARKER = "jane.secret@example.com"
KEY = generate_key()


@pytest.fixture
async def encrypted_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await start_dev_server(keys=[KEY])
    try:
        yield env
    finally:
        await env.shutdown()


def payloads_of(message) -> list[Payload]:
    """Every Payload anywhere in a proto message (inputs, results, failures, signals...),
    except search attributes: Temporal indexes them, so no codec ever touches them (hookline
    puts only ids and types there, never event data)."""
    found: list[Payload] = []

    def walk(msg) -> None:
        if isinstance(msg, Payload):
            found.append(msg)
            return
        if isinstance(msg, SearchAttributes):
            return
        for field, value in msg.ListFields():
            if field.type != field.TYPE_MESSAGE:
                continue
            if hasattr(value, "ListFields"):  # a singular message
                items = [value]
            elif field.message_type.GetOptions().map_entry:
                items = list(value.values())
            else:  # a repeated message field
                items = list(value)
            for item in items:
                if hasattr(item, "ListFields"):
                    walk(item)

    walk(message)
    return found


def sdk_metadata(event, payload: Payload) -> bool:
    """The SDK's own local-activity marker bookkeeping (seq, attempt, activity id and type,
    times) is written in clear by the SDK core, outside the codec; the result is encrypted.
    So is a patch marker (workflow.patched): its details are the patch id and a flag."""
    if not event.HasField("marker_recorded_event_attributes"):
        return False
    marker = event.marker_recorded_event_attributes
    if marker.marker_name == "core_patch":
        return True
    return "data" in marker.details and payload in marker.details["data"].payloads


async def test_history_holds_no_plaintext(encrypted_env, settings, sessions, tenant, receiver):
    worker_settings = isolated_settings(settings, encryption_key=KEY)
    await add_webhook(sessions, tenant.tenant_id, receiver.url("/enc"))
    data = {"id": "usr_1", "email": MARKER}
    async with running_worker(encrypted_env.client, worker_settings):
        handle = await publish(encrypted_env.client, worker_settings, tenant.tenant_id, data=data)
        progress = await settled(handle)
    assert progress.status == "succeeded"

    # The webhook got the data in clear.
    [request] = receiver.for_path("/enc")
    assert json.loads(request.body)["data"] == data

    # A client without the codec reads the raw history: no marker anywhere.
    raw_client = Client(
        encrypted_env.client.service_client,
        namespace=encrypted_env.client.namespace,
        data_converter=temporalio.converter.default(),
    )
    history = await raw_client.get_workflow_handle(handle.id).fetch_history()
    assert len(history.events) > 3
    serialized = b"".join(event.SerializeToString() for event in history.events)
    assert MARKER.encode() not in serialized
    assert MARKER not in history.to_json()
    payloads = [(e, p) for e in history.events for p in payloads_of(e) if not sdk_metadata(e, p)]
    assert payloads, "the history should carry payloads (workflow input at least)"
    for event, payload in payloads:
        assert payload.metadata["encoding"] == CODEC_ENCODING, (payload, event)

    # The codec client's converter decrypts the workflow input and finds the marker.
    started = history.events[0].workflow_execution_started_event_attributes
    codec = encrypted_env.client.data_converter.payload_codec
    assert codec is not None
    decoded = await codec.decode(started.input.payloads)
    assert any(MARKER.encode() in p.data for p in decoded)
