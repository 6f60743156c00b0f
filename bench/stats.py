"""A run's figures from what was measured: percentiles, one scenario's summary, passes pooled,
the ratios between scenarios and the targets they are held to (docs/PERFORMANCE.md)."""

from __future__ import annotations

from typing import Any

# Scenario N (bench/noisy.py): the quiet tenant alone (N0), then with the noisy one hanging (N).
NOISY_RATIO = "N p99 noisy/alone"

# Targets (docs/PERFORMANCE.md, "Targets").
TARGETS = {
    "B/A": 2.0,  # hookline events/s over the naive baseline
    "C/B": 6.0,  # fan-out deliveries/s over B's
    "D p50 ms": 35.0,
    "D p99 ms": 80.0,
    "E/B": 0.8,
    "worker RSS MB": 250.0,
    "api RSS MB": 250.0,
    "F10k/C": 1.0,  # deliveries/s of one event to 10,000 webhooks over C's (10 webhooks)
    NOISY_RATIO: 2.0,  # the quiet tenant's p99 with its neighbour hanging over alone
}
FANOUT_TARGET_KEY = "F10k"  # the fan-out scenario held to a target (when it ran)


def percentile(values: list[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default); None for no values."""
    if not values:
        return None
    if not 0 <= q <= 100:
        raise ValueError("q must be within [0, 100]")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return numerator / denominator


def summarize(
    name: str,
    sent: dict[str, float],
    records: list[list],
    cpu: dict[str, float],
    *,
    complete: bool,
    expected: int,
    seconds: float | None = None,
) -> dict[str, Any]:
    """One scenario's figures from publish times (event id -> wall time) and receiver records
    ([wall time, event id, delivery id, path]); over `seconds` if given, else from the first
    publish to the last arrival."""
    events = len(sent)
    first: dict[str, float] = {}
    for at, event_id, _dlv, _path in records:
        if event_id in sent:
            first[event_id] = min(at, first.get(event_id, at))
    latencies = [1000 * (first[e] - sent[e]) for e in first]
    if seconds is None:
        start = min(sent.values()) if sent else 0.0
        end = max((r[0] for r in records), default=start)
        seconds = max(end - start, 1e-9)
    return {
        "name": name,
        "events": events,
        "deliveries": len(records),
        "expected_deliveries": expected,
        "complete": complete,
        "seconds": round(seconds, 3),
        "events_per_s": events / seconds if records else None,
        "deliveries_per_s": len(records) / seconds if records else None,
        "p50_ms": percentile(latencies, 50),
        "p99_ms": percentile(latencies, 99),
        "max_ms": max(latencies, default=None),
        "cpu_s": {k: round(v, 3) for k, v in cpu.items()},
        "cpu_s_per_event": {k: (v / events if events else None) for k, v in cpu.items()},
    }


def pool(name: str, passes: list[dict]) -> dict[str, Any]:
    """Passes of one scenario measured apart (A, B and C run in turn), as one: their events,
    time and CPU added up, their latencies pooled. Each pass keeps its rate under "passes"."""
    sent: dict[str, float] = {}
    records: list[list] = []
    cpu: dict[str, float] = {}
    for one in passes:
        raw = one["_raw"]
        sent |= raw["sent"]
        records += raw["records"]
        for process, seconds in raw["cpu"].items():
            cpu[process] = cpu.get(process, 0.0) + seconds
    pooled = summarize(
        name,
        sent,
        records,
        cpu,
        complete=all(one["complete"] for one in passes),
        expected=sum(one["expected_deliveries"] for one in passes),
        seconds=sum(one["seconds"] for one in passes),
    )
    pooled["passes"] = [
        {"events_per_s": one["events_per_s"], "seconds": one["seconds"]} for one in passes
    ]
    return pooled


def compute_ratios(scenarios: dict[str, dict]) -> dict[str, float | None]:
    def get(key: str, field_: str) -> float | None:
        return scenarios.get(key, {}).get(field_)

    out = {
        "B/A": ratio(get("B", "events_per_s"), get("A", "events_per_s")),
        "C/B": ratio(get("C", "deliveries_per_s"), get("B", "deliveries_per_s")),
        "E/B": ratio(get("E", "events_per_s"), get("B", "events_per_s")),
    }
    for key in scenarios:  # fan-out to many webhooks (--fanout): deliveries/s over C's
        if key.startswith("F"):
            out[f"{key}/C"] = ratio(get(key, "deliveries_per_s"), get("C", "deliveries_per_s"))
    if "N0" in scenarios or "N" in scenarios:
        out[NOISY_RATIO] = noisy_ratio(scenarios.get("N0", {}), scenarios.get("N", {}))
    return out


def latencies_by_publish(sent: dict[str, float], records: list[list]) -> list[float | None]:
    """Each event's publish-to-receipt ms (its first arrival), in publish order; None for one
    that never arrived. Scenario N keeps them: a delay that fades within the phase shows."""
    first: dict[str, float] = {}
    for at, event_id, _dlv, _path in records:
        if event_id in sent:
            first[event_id] = min(at, first.get(event_id, at))
    order = sorted(sent, key=sent.__getitem__)
    return [round(1000 * (first[e] - sent[e]), 1) if e in first else None for e in order]


def noisy_ratio(alone: dict, crowded: dict) -> float | None:
    """Scenario N: the quiet tenant's p99 latency with its neighbour hanging over its p99
    alone (target at most 2: a hanging tenant does not delay another)."""
    return ratio(crowded.get("p99_ms"), alone.get("p99_ms"))


def check_targets(
    scenarios: dict[str, dict], ratios: dict, rss: dict[str, float | None]
) -> list[dict]:
    d = scenarios.get("D", {})
    rows = [
        ("B/A", ratios.get("B/A"), ">="),
        ("C/B", ratios.get("C/B"), ">="),
        ("D p50 ms", d.get("p50_ms"), "<="),
        ("D p99 ms", d.get("p99_ms"), "<="),
        ("E/B", ratios.get("E/B"), ">="),
        ("worker RSS MB", rss.get("worker"), "<"),
        ("api RSS MB", rss.get("api"), "<"),
    ]
    fanout = f"{FANOUT_TARGET_KEY}/C"
    if fanout in ratios:
        rows.append((fanout, ratios[fanout], ">="))
    if NOISY_RATIO in ratios:
        rows.append((NOISY_RATIO, ratios[NOISY_RATIO], "<="))
    out = []
    for name, value, op in rows:
        target = TARGETS[name]
        if value is None:
            met = None
        elif op == ">=":
            met = value >= target
        elif op == "<=":
            met = value <= target
        else:
            met = value < target
        out.append({"target": name, "op": op, "goal": target, "value": value, "met": met})
    return out


def open_event_footprint(before: dict, after: dict, events: int) -> dict[str, float | None]:
    """The dev server's SQLite and RSS growth per event left open (in kB)."""
    out: dict[str, float | None] = {"events": events}
    for key in ("sqlite_mb", "rss_mb"):
        grown = None if before[key] is None or after[key] is None else after[key] - before[key]
        out[key] = after[key]
        out[key.replace("_mb", "_kb_per_open_event")] = (
            None if grown is None or not events else 1024 * grown / events
        )
    return out


def fanout_summary(
    name: str,
    webhooks: int,
    event_id: str,
    published_at: float,
    records: list[list],
    cpu: dict[str, float],
    *,
    complete: bool,
    rss_before: dict[str, float | None],
    rss_peak: dict[str, float | None],
) -> dict[str, Any]:
    """One event to `webhooks` webhooks (an F scenario), from its records at the receiver.
    A delivery counts once, at its first arrival (one retried after a client-side timeout
    arrives again: counted under "duplicates"); the rate is distinct deliveries over the time
    from the publish to the last first arrival. Also the time to the first delivery, the CPU
    per delivery, the processes' RSS before it and at their peak while it ran (sampled
    VmRSS; the run-wide peak stays in the RSS table)."""
    sent = {event_id: published_at}
    mine = [r for r in records if r[1] == event_id]
    first: dict[str, float] = {}
    for at, _event, delivery, _path in mine:
        first[delivery] = min(at, first.get(delivery, at))
    distinct = len(first)
    last = max(first.values()) - published_at if first else None
    result = summarize(
        name, sent, mine, cpu, complete=complete, expected=webhooks, seconds=last or 1e-9
    )
    result |= {
        "webhooks": webhooks,
        "deliveries": distinct,
        "distinct_deliveries": distinct,
        "duplicates": len(mine) - distinct,
        "complete": complete and distinct >= webhooks,
        "deliveries_per_s": distinct / last if last else None,
        "events_per_s": 1 / last if last else None,
        "first_delivery_s": min(first.values()) - published_at if first else None,
        "last_delivery_s": last,
        "cpu_ms_per_delivery": {
            k: (1000 * v / distinct if distinct else None) for k, v in cpu.items()
        },
        "rss_before_mb": rss_before,
        "rss_peak_mb": rss_peak,
    }
    return result


def _mean(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) / len(known) if known else None


def _largest(maps: list[dict[str, float | None]]) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for one in maps:
        for key, value in one.items():
            if value is not None and (out.get(key) is None or out[key] < value):
                out[key] = value
            else:
                out.setdefault(key, None)
    return out


def pool_fanout(name: str, passes: list[dict]) -> dict[str, Any]:
    """F passes as one (see pool): distinct deliveries and seconds added up; the times to
    the first and last delivery averaged over the passes; the RSS peak the largest of any
    pass. Each pass keeps its own figures under "passes"."""
    pooled = pool(name, passes)
    distinct = sum(one["distinct_deliveries"] for one in passes)
    seconds = sum(one["last_delivery_s"] or 0 for one in passes)
    pooled |= {
        "webhooks": passes[0]["webhooks"],
        "deliveries": distinct,
        "distinct_deliveries": distinct,
        "duplicates": sum(one["duplicates"] for one in passes),
        "seconds": round(seconds, 3),
        "deliveries_per_s": distinct / seconds if seconds else None,
        "events_per_s": len(passes) / seconds if seconds else None,
        "first_delivery_s": _mean([one["first_delivery_s"] for one in passes]),
        "last_delivery_s": _mean([one["last_delivery_s"] for one in passes]),
        "cpu_ms_per_delivery": {
            k: (1000 * v / distinct if distinct else None) for k, v in pooled["cpu_s"].items()
        },
        "rss_before_mb": passes[0]["rss_before_mb"],
        "rss_peak_mb": _largest([one["rss_peak_mb"] for one in passes]),
        "seed_seconds": passes[0].get("seed_seconds"),
        "failing_share": passes[0].get("failing_share"),
        "complete": all(one["complete"] for one in passes),
    }
    pooled["passes"] = [
        {
            "deliveries_per_s": one["deliveries_per_s"],
            "seconds": one["seconds"],
            "first_delivery_s": one["first_delivery_s"],
            "last_delivery_s": one["last_delivery_s"],
            "distinct_deliveries": one["distinct_deliveries"],
            "duplicates": one["duplicates"],
            "rss_peak_mb": one["rss_peak_mb"],
        }
        for one in passes
    ]
    return pooled
