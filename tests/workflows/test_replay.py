"""Histories written by earlier versions of EventWorkflow replay with this one: events still
open in their 7-day window survive an upgrade of the workers.

`histories/event_2026-11-23_retry.json` was recorded with the code of f59f5cb (accept_event =
record + match, then deliver_first as a second local activity): one event, two webhooks, one
answering 500 then 200 (a retry as a regular activity, then settle_event), settled, waiting
in its window. Today's code makes attempt 1 inside accept_event; given an old accept result
(no `first`), it must take the fallback path, whose commands are the old ones.
`event_2026-11-30_retry.json` is the same scenario recorded with today's code (one local
activity on the way in): a change that breaks it breaks today's open events.
Changing the workflow's commands? Record a new history here and keep the old ones."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner

from hookline.core.crypto import data_converter
from hookline.worker import PASSTHROUGH
from hookline.workflows.event import EventWorkflow

HISTORIES = {  # name -> the history as `temporal workflow show --output json` writes it
    path.stem: path.read_text()
    for path in sorted((Path(__file__).parent / "histories").glob("*.json"))
}


@pytest.mark.parametrize("name", sorted(HISTORIES))
@pytest.mark.parametrize("sandboxed", [True, False], ids=["sandboxed", "unsandboxed"])
async def test_an_older_history_replays(name: str, sandboxed: bool):
    from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

    runner = (
        SandboxedWorkflowRunner(
            restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH)
        )
        if sandboxed
        else UnsandboxedWorkflowRunner()
    )
    history = WorkflowHistory.from_json(name, HISTORIES[name])
    replayer = Replayer(
        workflows=[EventWorkflow], data_converter=data_converter([]), workflow_runner=runner
    )
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, result.replay_failure


def test_there_is_a_history_to_replay():
    assert HISTORIES, "tests/workflows/histories/ holds no recorded history"
