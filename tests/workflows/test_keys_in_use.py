"""Keys are never silently lost: start-up and redelivery look for data sealed by
a key that is no longer configured, and refuse in one line naming its id (never the key)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator

import pytest
from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from hookline.core import signing
from hookline.infra.config import Settings
from hookline.infra.crypto import SecretBox, data_converter, generate_key, parse_keys
from hookline.infra.keys_in_use import missing_keys_problem
from tests.api.conftest import assert_error, running
from tests.support.flow import publish, settled
from tests.support.receiver import Receiver
from tests.support.store import add_webhook
from tests.support.temporal import isolated_settings, running_worker, start_dev_server

KEY_A, KEY_B = generate_key(), generate_key()
[(ID_A, _)], [(ID_B, _)] = parse_keys([KEY_A]), parse_keys([KEY_B])


@pytest.fixture
async def own_server() -> AsyncIterator[WorkflowEnvironment]:
    """A server of its own: the check samples every open workflow of the namespace."""
    env = await start_dev_server()
    yield env
    await env.shutdown()


def client_with(env: WorkflowEnvironment, keys: list[str]) -> Client:
    return Client(
        env.client.service_client,
        namespace=env.client.namespace,
        data_converter=data_converter(keys),
    )


def start_worker(settings: Settings, address: str, keys: list[str]) -> subprocess.CompletedProcess:
    """`hookline worker` as an operator starts it; it must refuse before polling."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOOKLINE_")} | {
        "HOOKLINE_DATABASE_URL": settings.database_url,
        "HOOKLINE_TEMPORAL_ADDRESS": address,
        "HOOKLINE_TASK_QUEUE": settings.task_queue,
        "HOOKLINE_ENCRYPTION_KEY": ",".join(keys),
    }
    return subprocess.run(
        [sys.executable, "-m", "hookline.cli", "worker"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_store_secret_sealed_by_a_dropped_key_stops_the_worker_at_start(
    settings, sessions, tenant, own_server
):
    sealed = SecretBox([KEY_A]).seal(signing.new_secret())
    await add_webhook(sessions, tenant.tenant_id, "https://example.com/h", secret=sealed)
    address = own_server.client.service_client.config.target_host
    settings = isolated_settings(settings)

    refused = start_worker(settings, address, [KEY_B])
    assert refused.returncode == 1, refused.stderr
    assert "Traceback" not in refused.stderr
    [line] = refused.stderr.strip().splitlines()
    assert line.startswith(
        f"hookline worker: webhook secrets in the store are sealed with encryption key {ID_A}"
    )
    assert f"HOOKLINE_ENCRYPTION_KEY holds {ID_B}" in line
    assert KEY_A not in line and KEY_B not in line
    assert await missing_keys_problem([KEY_B, KEY_A]) is None
    async with sessions() as session:
        assert await missing_keys_problem([KEY_B, KEY_A], session=session) is None
        assert ID_A in (await missing_keys_problem([], session=session) or "")


async def test_open_workflow_sealed_by_a_dropped_key_refuses_start_and_redelivery(
    settings, sessions, tenant, own_server
):
    settings = isolated_settings(settings, encryption_key=KEY_A)
    address = own_server.client.service_client.config.target_host
    client_a = client_with(own_server, [KEY_A])
    async with Receiver() as receiver:
        # A plain secret: only the workflow's history holds key A's ciphertext.
        webhook = await add_webhook(sessions, tenant.tenant_id, receiver.url("/k"))
        async with running_worker(client_a, settings):
            handle = await publish(client_a, settings, tenant.tenant_id, data={"n": 1})
            assert (await settled(handle)).status == "succeeded"
    try:
        assert await missing_keys_problem([KEY_A], client=client_a) is None
        problem = await missing_keys_problem([KEY_B], client=client_with(own_server, [KEY_B]))
        assert problem and problem.startswith(
            f"open event workflows are sealed with encryption key {ID_A}"
        )

        refused = start_worker(settings, address, [KEY_B])
        assert refused.returncode == 1 and "Traceback" not in refused.stderr
        [line] = refused.stderr.strip().splitlines()
        assert f"open event workflows are sealed with encryption key {ID_A}" in line
        lost = start_worker(settings, address, [])
        assert "HOOKLINE_ENCRYPTION_KEY is not set" in lost.stderr and lost.returncode == 1

        # An API that started anyway (or lost the key since) answers 409, not "scheduled".
        api_settings = settings.model_copy(
            update={"encryption_key": KEY_B, "temporal_address": address}
        )
        async with running(api_settings) as api:
            answer = await api.post(
                f"/api/v1/events/{handle.id}/redeliver",
                json={"webhook_ids": [webhook.id]},
                headers=tenant.headers,
            )
        error = assert_error(answer, 409, "conflict")
        assert ID_A in error["message"] and KEY_A not in answer.text
        assert error["details"] == {"missing_key_ids": [ID_A]}
    finally:
        try:
            await handle.terminate(reason="test over")
        except RPCError:
            pass
