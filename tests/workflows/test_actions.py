"""What an event costs in Temporal billable actions, counted (bench/actions.py) from the
histories of real runs to their expiry, on the time-skipping test server: the happy path is 4
actions, a redelivery adds 2 (its signal and its attempt, no timer), a delivery that needs one
retry costs 8. `HOOKLINE_RECORD_HISTORIES=1` saves the retried one for the replay tests."""

from __future__ import annotations

import asyncio
import os
from datetime import timedelta
from pathlib import Path

from temporalio.api.enums.v1 import EventType

from bench import actions
from hookline.core.models import RedeliverSignal
from hookline.workflows.event import EventWorkflow
from tests.support.flow import publish, settled
from tests.support.receiver import Reply
from tests.support.store import add_webhook
from tests.support.temporal import isolated_settings, running_worker

HISTORIES = Path(__file__).parent / "histories"
RETRIED = "event_2026-12-01_retry_to_expiry"


def nonzero(counts: dict) -> dict:
    return {kind: n for kind, n in counts.items() if n}


async def timer_started(handle) -> None:
    """Until the first workflow task (with attempt 1, local) is done: a timer is waiting."""
    started = EventType.EVENT_TYPE_TIMER_STARTED
    for _ in range(300):
        if any(e.event_type == started for e in (await handle.fetch_history()).events):
            return
        await asyncio.sleep(0.1)
    raise TimeoutError("no timer started")


async def run_to_expiry(time_env, settings, tenant, *, redeliver: bool = False):
    client = time_env.client
    async with running_worker(client, settings):
        # The server cannot see local activities: no skipping while attempt 1 runs.
        with time_env.auto_time_skipping_disabled():
            handle = await publish(client, settings, tenant.tenant_id)
            await timer_started(handle)
        if redeliver:
            await settled(handle)
            with time_env.auto_time_skipping_disabled():  # its attempt 1 runs locally too
                await handle.signal(EventWorkflow.redeliver, RedeliverSignal())
                for _ in range(300):
                    if (await handle.query(EventWorkflow.progress)).series == 1:
                        break
                    await asyncio.sleep(0.1)
                await settled(handle)
        assert await handle.result() == "expired"
        return await handle.fetch_history()


async def test_the_happy_path_to_expiry_is_four_actions(
    time_env, settings, sessions, tenant, receiver
):
    settings = isolated_settings(settings, event_retention=timedelta(hours=1))
    await add_webhook(sessions, tenant.tenant_id, receiver.url("/ok"))
    history = await run_to_expiry(time_env, settings, tenant)
    counts = actions.count_actions(history.to_json_dict())
    assert nonzero(counts) == {
        "workflow start": 1,
        "local activities": 1,  # record, match, attempt 1
        "timers": 1,  # the window
        "search-attribute upserts": 1,  # the outcome
    }


async def test_a_redelivery_is_its_signal_and_its_attempt(
    time_env, settings, sessions, tenant, receiver
):
    settings = isolated_settings(settings, event_retention=timedelta(hours=1))
    receiver.script("/once", [Reply(400), Reply(200)])
    await add_webhook(
        sessions, tenant.tenant_id, receiver.url("/once"), retry={"client_error_max_attempts": 1}
    )
    history = await run_to_expiry(time_env, settings, tenant, redeliver=True)
    assert len(receiver.for_path("/once")) == 2
    counts = actions.count_actions(history.to_json_dict())
    assert nonzero(counts) == {
        "workflow start": 1,
        "local activities": 2,  # accept; then deliver_first of the redelivery
        "timers": 1,  # the window, once: the redelivery started none
        "signals": 1,
        "search-attribute upserts": 2,  # failed, then succeeded
    }


async def test_one_retry_to_expiry_is_eight_actions(time_env, settings, sessions, tenant, receiver):
    settings = isolated_settings(settings, event_retention=timedelta(hours=1))
    receiver.script("/flaky", [Reply(500), Reply(200)])
    await add_webhook(sessions, tenant.tenant_id, receiver.url("/flaky"))
    history = await run_to_expiry(time_env, settings, tenant)
    assert len(receiver.for_path("/flaky")) == 2
    counts = actions.count_actions(history.to_json_dict())
    assert nonzero(counts) == {
        "workflow start": 1,
        "local activities": 2,  # accept; settle_event once attempt 2 is in
        "timers": 2,  # the window; the back-off before attempt 2
        "activities": 1,  # attempt 2
        "search-attribute upserts": 2,  # executing while it waits, then succeeded
    }
    if os.environ.get("HOOKLINE_RECORD_HISTORIES"):
        (HISTORIES / f"{RETRIED}.json").write_text(history.to_json())
