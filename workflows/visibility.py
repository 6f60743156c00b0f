"""What a person sees of an event in Temporal: search attributes, current details, summaries.

Search attribute values are limited to 2 KB each (40 KB in all) and the server terminates a
workflow that upserts more, so `HooklineWebhookIds` holds at most `SHOWN_WEBHOOK_IDS` ids:
every matched webhook for a small event; for a larger one, those whose delivery failed or
retries first (what a person searches for), then the others, up to the bound. The current
details list at most `DETAIL_LINES` deliveries, the unsettled first, with the counts of all.
"""

from __future__ import annotations

from temporalio import workflow

from hookline.workflows.state import EventState

with workflow.unsafe.imports_passed_through():
    from hookline.core import search_attributes as sa
    from hookline.core.models import DeliveryStatus, EventStatus

# A webhook id is 30 characters; 40 of them, JSON-encoded, stay near 1.4 KB of the 2 KB.
SHOWN_WEBHOOK_IDS = 40
DETAIL_LINES = 50


class Visibility:
    def __init__(self) -> None:
        self._shown: tuple[list[str], EventStatus] | None = None  # last upserted
        self._seen: tuple | None = None  # the state's shape when last shown

    def show(self, state: EventState) -> None:
        """Search attributes (only what changed) and the UI's current details. Nothing when
        the state's shape has not changed since the last call: the retries of a chunk all
        call it as they begin, in one activation, and each showing reads every delivery."""
        seen = (
            state.status,
            len(state.matched),
            len(state.in_flight),
            len(state.retrying),
            len(state.throttled),
        )
        if seen == self._seen:
            return
        self._seen = seen
        shown = (webhook_ids_shown(state), state.status)
        if shown != self._shown:
            workflow.upsert_search_attributes(
                [sa.WEBHOOK_IDS.value_set(shown[0]), sa.STATUS.value_set(shown[1])]
            )
            self._shown = shown
        workflow.set_current_details(details(state))


def webhook_ids_shown(state: EventState) -> list[str]:
    ids = list(state.matched)
    if len(ids) <= SHOWN_WEBHOOK_IDS:
        return ids
    unsettled = [wh for wh in ids if needs_a_look(state, wh)]
    rest = [wh for wh in ids if not needs_a_look(state, wh)]
    return (unsettled + rest)[:SHOWN_WEBHOOK_IDS]


def needs_a_look(state: EventState, webhook_id: str) -> bool:
    return webhook_id in state.retrying or state.outcomes.get(webhook_id) == DeliveryStatus.FAILED


def details(state: EventState) -> str:
    """The UI's "current details": a markdown list, one line per delivery (bounded)."""
    counts: dict[str, int] = {}
    for wh in state.matched:
        shown = state.shown_status(wh)
        counts[shown] = counts.get(shown, 0) + 1
    summary = ", ".join(f"{n} {name}" for name, n in sorted(counts.items()))
    if state.chunked_total is not None:  # a large event: its chunks show their deliveries
        return (
            f"**{state.input.type}**: {state.chunked_total} webhooks, event **{state.status}**;"
            f" delivered by chunk workflows `{state.input.event_id}-s<series>-c<chunk>`,"
            " each listing its own failing webhooks"
        )
    lines = [
        f"**{state.input.type}**: {len(state.matched)} webhooks, event **{state.status}**"
        + (f" ({summary})" if len(state.matched) > 1 else ""),
        "",
    ]
    ordered = [wh for wh in state.matched if needs_a_look(state, wh)]
    ordered += [wh for wh in state.matched if not needs_a_look(state, wh)]
    lines += [
        f"- `{wh}` · `{state.matched[wh].delivery_id}` · {state.shown_status(wh)}"
        for wh in ordered[:DETAIL_LINES]
    ]
    if len(ordered) > DETAIL_LINES:
        lines.append(f"- … and {len(ordered) - DETAIL_LINES} more")
    return "\n".join(lines)


def named(webhook_ids: list[str], shown: int = 3) -> str:
    """Webhook ids for an activity summary: a few by name, then how many more."""
    listed = ", ".join(webhook_ids[:shown])
    more = len(webhook_ids) - shown
    return f"{listed} (+{more} more)" if more > 0 else listed


def of_series(series: int) -> str:
    return f", redelivery {series}" if series else ""


def stage(series: int) -> str:
    return "delivered" if series == 0 else f"redelivered (series {series})"
