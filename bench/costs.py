"""What an event costs on a Temporal cluster: billable actions and history size, from the
histories of events the bench just delivered (bench/actions.py counts; docs/PERFORMANCE.md).

Samples: B (one webhook) and C (fan-out) events as they wait in their window, one redelivery
of a B event (what the signal and its attempt added), and one event published straight to
Temporal with a few seconds of retention, followed to its end (what expiry adds).
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any

import httpx
from temporalio.api.history.v1 import History
from temporalio.client import Client, WorkflowHistory

from bench import actions

HOST = "127.0.0.1"
SAMPLE = 10  # histories per scenario
SHORT_RETENTION = timedelta(seconds=3)


async def _history(client: Client, event_id: str) -> WorkflowHistory:
    return await client.get_workflow_handle(event_id).fetch_history()


def _bytes(history: WorkflowHistory) -> int:
    """Serialized size of the history's events (what the server stores, before compression)."""
    return History(events=history.events).ByteSize()


async def _counted(client: Client, event_id: str) -> tuple[dict[str, int], int, int]:
    history = await _history(client, event_id)
    document = history.to_json_dict()
    return actions.count_actions(document), _bytes(history), actions.history_events(document)


async def _settled(client: Client, event_id: str, timeout: float = 30) -> dict[str, int]:
    """The history's actions once they stop changing for a second (bounded)."""
    deadline = time.monotonic() + timeout
    last, quiet = None, 0
    while time.monotonic() < deadline:
        counts = (await _counted(client, event_id))[0]
        quiet = quiet + 1 if counts == last else 0
        if quiet >= 5:
            return counts
        last = counts
        await asyncio.sleep(0.2)
    raise RuntimeError(f"history of {event_id} kept changing for {timeout} s")


def _summary(samples: list[tuple[dict[str, int], int, int]], per: int = 1) -> dict[str, Any]:
    by_kind = actions.mean(s[0] for s in samples)
    per_event = actions.total(by_kind)
    return {
        "histories": len(samples),
        "actions_per_event": per_event,
        "actions_per_delivery": per_event / per,
        "by_kind": {k: v for k, v in by_kind.items() if v},
        "history_bytes": sum(s[1] for s in samples) / len(samples),
        "history_events": sum(s[2] for s in samples) / len(samples),
    }


async def _fanout_event(client: Client, event_id: str, timeout: float = 180) -> dict[str, Any]:
    """A large event's actions and history size with its chunk workflows', once its chunks
    have all closed and its history has stopped changing."""
    deadline = time.monotonic() + timeout
    while True:
        document = (await _history(client, event_id)).to_json_dict()
        if actions.child_workflow_ids(document) and actions.children_open(document) == 0:
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"the chunks of {event_id} were still open after {timeout} s")
        await asyncio.sleep(0.5)
    await _settled(client, event_id)
    parent, parent_bytes, parent_events = await _counted(client, event_id)
    history = (await _history(client, event_id)).to_json_dict()
    children = [await _counted(client, c) for c in actions.child_workflow_ids(history)]
    return {
        "counts": actions.with_children(parent, (c[0] for c in children)),
        "chunks": len(children),
        "history_bytes": parent_bytes + sum(c[1] for c in children),
        "history_events": parent_events + sum(c[2] for c in children),
        "event_history_events": parent_events,
        "largest_chunk_history_events": max((c[2] for c in children), default=0),
        "event_actions": actions.total(parent),
        "chunk_actions": [actions.total(c[0]) for c in children],
    }


async def measure(
    bench,
    sent: dict[str, list[str]],
    fanout: int,
    price_per_million: float,
    fanouts: dict[str, int] | None = None,
) -> dict[str, Any]:
    """Actions, history size and cost for B, C, a redelivery and the expiry step (`bench`: a
    bench.scenarios.Bench, for its stack and receiver); `fanouts`: F keys -> webhooks, their
    first pass's event counted with its chunks."""
    from hookline.api.publish import event_workflow_input, start_event
    from hookline.infra.config import Settings
    from hookline.infra.crypto import data_converter

    stack = bench.stack
    client = await Client.connect(
        f"{HOST}:{stack.temporal_port}", data_converter=data_converter([])
    )
    out: dict[str, Any] = {"price_per_million_actions": price_per_million}
    b = [await _counted(client, e) for e in sent["B"][:SAMPLE]]
    c = [await _counted(client, e) for e in sent["C"][:SAMPLE]]
    out["B"] = _summary(b)
    out["C"] = _summary(c, per=fanout)
    large = {}
    for key, webhooks in (fanouts or {}).items():
        try:
            large[key] = (webhooks, await _fanout_event(client, sent[key][0]))
        except RuntimeError as exc:  # its chunks never closed: reported, not counted
            out[key] = {"webhooks": webhooks, "error": str(exc)}

    # A redelivery of one B event to its webhook, through the API: the signal and what the
    # workflow did with it.
    event_id = sent["B"][0]
    before = await _settled(client, event_id)
    base = await bench.count()
    async with httpx.AsyncClient(
        base_url=f"http://{HOST}:{stack.api_port}",
        headers={"Authorization": f"Bearer {stack.token}"},
        timeout=30,
    ) as api:
        answer = await api.post(
            f"/api/v1/events/{event_id}/redeliver",
            json={"webhook_ids": stack.webhook_ids["/b"]},
        )
        answer.raise_for_status()
    _, arrived = await bench.wait(base, 1, 30)
    if not arrived:
        raise RuntimeError(f"the redelivery of {event_id} did not arrive in 30 s")
    after = await _settled(client, event_id)
    added = actions.difference(after, before)
    out["redelivery"] = {
        "actions": actions.total(added),
        "by_kind": {k: v for k, v in added.items() if v},
    }

    # One event from start to expiry, with a short window (published as the API does).
    settings = Settings(
        temporal_address=f"{HOST}:{stack.temporal_port}",
        task_queue=stack.task_queue,
        event_retention=SHORT_RETENTION,
    )
    event = event_workflow_input(settings, stack.tenant_id, "user.created", {"id": "usr_x"}, None)
    handle = await start_event(client, settings, event)
    assert handle is not None
    await asyncio.wait_for(handle.result(), timeout=60)
    whole = (await _counted(client, event.event_id))[0]
    expiry = actions.difference(whole, actions.mean(s[0] for s in b))
    out["expiry"] = {
        "actions": actions.total(expiry),
        "by_kind": {k: v for k, v in expiry.items() if v},
    }
    out["B to expiry"] = {
        "actions_per_event": actions.total(whole),
        "by_kind": {k: v for k, v in whole.items() if v},
    }
    for key, (webhooks, counted) in large.items():
        out[key] = {
            "webhooks": webhooks,
            "workflows_per_event": 1 + counted["chunks"],
            "actions_per_event": actions.total(counted["counts"]),
            "actions_per_delivery": actions.total(counted["counts"]) / webhooks,
            "by_kind": {k: v for k, v in counted["counts"].items() if v},
        } | {k: v for k, v in counted.items() if k != "counts"}
    units = [("B to expiry", 1), ("C", fanout)] + [(k, w) for k, (w, _) in large.items()]
    for key, unit in units:
        per_event = out[key]["actions_per_event"]
        if key != "B to expiry":  # samples still in their window: add what expiry adds
            per_event += out["expiry"]["actions"]
            out[key]["actions_per_event_to_expiry"] = per_event
            kinds = out[key]["by_kind"] | {}
            for kind, n in out["expiry"]["by_kind"].items():
                kinds[kind] = kinds.get(kind, 0) + n
            out[key]["by_kind_to_expiry"] = kinds
        out[key]["webhooks"] = unit
        out[key]["actions_per_delivery_to_expiry"] = per_event / unit
        out[key]["cost_per_million_events"] = actions.cost_per_million(per_event, price_per_million)
        out[key]["cost_per_million_deliveries"] = actions.cost_per_million(
            per_event / unit, price_per_million
        )
    out["redelivery"]["cost_per_million"] = actions.cost_per_million(
        out["redelivery"]["actions"], price_per_million
    )
    return out


def fanout_keys(costs: dict[str, Any]) -> list[str]:
    """The F scenarios counted (F1k, F10k), smallest first."""
    counted = (k for k in costs if k.startswith("F") and "error" not in costs[k])
    return sorted(counted, key=lambda k: costs[k]["webhooks"])


def per_delivery_rows(costs: dict[str, Any]) -> list[list[str]]:
    """Actions per delivery to expiry at 1 (B), 10 (C) and each F's webhooks per event:
    webhooks, workflows counted, actions per event, per delivery, $ per million deliveries."""
    price = costs["price_per_million_actions"]
    out = []
    failed = sorted(
        (k for k in costs if k.startswith("F") and "error" in costs[k]),
        key=lambda k: costs[k]["webhooks"],
    )
    for key in ["B to expiry", "C", *fanout_keys(costs), *failed]:
        item = costs.get(key)
        if item and "error" in item:
            out.append([f"{item['webhooks']:,} ({key})", "-", "-", "-", item["error"]])
            continue
        if not item or "actions_per_delivery_to_expiry" not in item:
            continue
        per_event = item.get("actions_per_event_to_expiry", item["actions_per_event"])
        per_delivery = item["actions_per_delivery_to_expiry"]
        out.append(
            [
                f"{item['webhooks']:,} ({key.removesuffix(' to expiry')})",
                str(item.get("workflows_per_event", 1)),
                f"{per_event:g}",
                f"{per_delivery:.4g}",
                f"${per_delivery * price:,.2f}",
            ]
        )
    return out


def rows(costs: dict[str, Any]) -> list[list[str]]:
    """The cost table: what, actions, by kind, $ per million."""

    def kinds(by_kind: dict[str, float]) -> str:
        return ", ".join(f"{k} {v:g}" for k, v in by_kind.items())

    price = costs["price_per_million_actions"]
    out = []
    for key, label in (
        ("B to expiry", "B: one event, one webhook, start to expiry"),
        ("C", "C: one event to 10 webhooks (to expiry)"),
        ("redelivery", "a redelivery (one webhook)"),
        ("expiry", "of which: expiry"),
        *(
            (
                key,
                f"{key}: one event to {costs[key]['webhooks']:,} webhooks, "
                f"with its {costs[key]['workflows_per_event'] - 1} chunk workflows (to expiry)",
            )
            for key in fanout_keys(costs)
        ),
    ):
        item = costs.get(key)
        if not item:
            continue
        n = next(
            item[k]
            for k in ("actions_per_event_to_expiry", "actions_per_event", "actions")
            if k in item
        )
        by_kind = item.get("by_kind_to_expiry", item["by_kind"])
        out.append([label, f"{n:g}", kinds(by_kind), f"${n * price:,.2f}"])
    return out
