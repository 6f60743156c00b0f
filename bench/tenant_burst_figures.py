"""`hookline bench --tenant-burst` (bench/tenant_burst.py), its figures: B's publish-to-receipt
percentiles, A's receipts, the /healthz answers, when a phase may end, the processes' log
lines, the ratio and the table. Pure: what the run measured in, figures out.

Receiver records are bench/receiver.py's: [wall time, event id, delivery id, path].
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from bench.stats import percentile, ratio

# Receiver paths (bench/receiver.py answers a path holding /hang/ after 20 s, past the 15 s
# delivery timeout, and does not record it).
A_FAST, A_HANG, B_PATH = "/ta/fast/", "/ta/hang/0", "/tb/0"
LOG_PATTERNS = {  # what a log line holds -> its count's key
    "Traceback": "traceback",
    "TMPRL1104": "wft_over_5s",  # the SDK's warning: a workflow task took over 5 s
    "deadlock detected": "deadlock",
    "canceling statement": "pg_cancel",
    "QueuePool limit": "pool_limit",
}
HEADERS = (
    "phase|B p50 s|B p95 s|B max s|B delivered/sent|B status|A status|healthz non-200/polls"
    "|A fast receipts/all|seconds"
).split("|")


def first_receipts(records: list[list], path: str) -> dict[str, float]:
    """Event id -> its first arrival at `path`."""
    first: dict[str, float] = {}
    for at, event_id, _delivery, where in records:
        if where == path:
            first[event_id] = min(at, first.get(event_id, at))
    return first


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def b_figures(sent: dict[str, float], records: list[list]) -> dict[str, Any]:
    """B's publish-to-receipt (s) over its 202'd events (event id -> publish request start)."""
    first = first_receipts(records, B_PATH)
    lat = [first[e] - at for e, at in sent.items() if e in first]
    return {
        "sent": len(sent),
        "delivered": len(lat),
        "p50_s": _round(percentile(lat, 50)),
        "p95_s": _round(percentile(lat, 95)),
        "max_s": _round(max(lat, default=None)),
        "duplicates": sum(1 for x in records if x[3] == B_PATH and x[1] in sent) - len(lat),
    }


def a_figures(records: list[list], since: float, until: float) -> dict[str, int]:
    """A's fast webhooks within [since, until]: distinct deliveries, and distinct events (an
    event of a batch answered 503 may have been accepted all the same)."""
    mine = [x for x in records if x[3].startswith(A_FAST) and since <= x[0] <= until]
    return {"receipts": len({x[2] for x in mine}), "events": len({x[1] for x in mine})}


def health_figures(polls: list[tuple[float, str, Any, float]]) -> dict[str, dict[str, Any]]:
    """Per API: polls, non-200 answers (and the span of offsets they came in), the answers by
    status (or exception name), the slowest."""
    out: dict[str, dict[str, Any]] = {}
    for offset, api, answer, seconds in polls:
        one = out.setdefault(api, {"polls": 0, "non_200": 0, "answers": Counter(), "slowest_s": 0})
        one["polls"] += 1
        one["non_200"] += answer != 200
        one["answers"][str(answer)] += 1
        one["slowest_s"] = round(max(one["slowest_s"], seconds), 2)
        if answer != 200:
            one.setdefault("non_200_span_s", [offset, offset])[1] = offset
    for one in out.values():
        one["answers"] = dict(one["answers"])
    return out


def finished(pending: int, elapsed: float, min_s: float, cap_s: float) -> bool:
    """Whether a phase may end: every 202'd B event arrived and `min_s` passed, or `cap_s`."""
    return elapsed >= cap_s or (pending == 0 and elapsed >= min_s)


def count_patterns(lines, patterns: dict[str, str] = LOG_PATTERNS) -> dict[str, int]:
    counts = dict.fromkeys(patterns.values(), 0)
    for line in lines:
        for text, key in patterns.items():
            counts[key] += text in line
    return counts


def _exception_in(line: str) -> str | None:
    """The exception line of a JSON log line's traceback (hookline logs JSON, with the
    traceback in a field): its last line; None if it has none."""
    try:
        document = json.loads(line)
    except ValueError:
        return None
    for value in document.values() if isinstance(document, dict) else ():
        if isinstance(value, str) and value.lstrip().startswith("Traceback"):
            lines = value.strip().splitlines()
            return lines[-1] if len(lines) > 1 else None
    return None


def exceptions(lines, most: int = 5) -> dict[str, int]:
    """The exception of each traceback, the `most` frequent: a JSON log line's (see
    _exception_in), or in plain text the first unindented line after "Traceback" (chained ones
    included)."""
    counts: Counter[str] = Counter()
    inside = False
    for line in lines:
        if line.startswith("{") and "Traceback" in line:
            found = _exception_in(line)
            if found:
                counts[found[:160]] += 1
        elif line.startswith("Traceback"):
            inside = True
        elif inside and line.strip() and not line[0].isspace():
            counts[line.strip()[:160]] += 1
            inside = False
    return dict(counts.most_common(most))


def cpu_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {k: round(after[k] - before.get(k, 0.0), 2) for k in after}


def p95_ratio(report: dict[str, Any]) -> float | None:
    """Burst B p95 over alone B p95 (None when a phase has none)."""
    phases = report.get("phases", {})
    alone, burst = phases.get("alone", {}).get("B", {}), phases.get("burst", {}).get("B", {})
    value = ratio(burst.get("p95_s"), alone.get("p95_s"))
    return None if value is None else round(value, 2)


def table_rows(report: dict[str, Any]) -> list[list[str]]:
    def num(v) -> str:
        return "-" if v is None else f"{v:.2f}"

    def statuses(counts: dict[str, int]) -> str:
        return " ".join(f"{k}:{v}" for k, v in sorted(counts.items())) or "-"

    rows = []
    for name, p in report.get("phases", {}).items():
        b, a, health = p["B"], p["A"], p["healthz"].values()
        row = [name, num(b["p50_s"]), num(b["p95_s"]), num(b["max_s"])]
        row += [f"{b['delivered']}/{b['sent']}", statuses(p["B_status"]), statuses(p["A_status"])]
        row.append(f"{sum(h['non_200'] for h in health)}/{sum(h['polls'] for h in health)}")
        row += [f"{a['receipts']:,}/{a['all']:,}", f"{p['seconds']:.0f}"]
        rows.append(row)
    return rows
