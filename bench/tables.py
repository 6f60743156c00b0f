"""The report's extra tables: fan-out, the noisy neighbour, cost per event, the open events'
footprint, the peer."""

from __future__ import annotations

from typing import Any

from bench.stats import ratio

Table = tuple[str, list[str], list[list[str]]]
PEER_KEYS = ("C/peer", "D p50 ms", "peer p50 ms", "D p99 ms", "peer p99 ms")


def fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def fanout_rows(report: dict[str, Any]) -> list[list[str]]:
    """One row per F scenario: webhooks, distinct deliveries, deliveries/s (pooled, then each
    pass), seconds to the first and the last delivery, F/C, worker and API RSS (before the
    first pass, peak while they ran), CPU ms per delivery (server, worker, API)."""
    scenarios = report.get("scenarios", {})
    ratios = report.get("ratios", {})
    out = []
    for key, s in scenarios.items():
        if not key.startswith("F") or "webhooks" not in s:
            continue
        before, peak = s.get("rss_before_mb", {}), s.get("rss_peak_mb", {})
        per = s.get("cpu_ms_per_delivery", {})
        passes = " / ".join(fmt(p.get("deliveries_per_s")) for p in s.get("passes", []))
        out.append(
            [
                key + ("" if s.get("complete", True) else " (INCOMPLETE)"),
                f"{s['webhooks']:,}",
                f"{s['distinct_deliveries']:,}",
                fmt(s["deliveries_per_s"]),
                passes or "-",
                fmt(s.get("first_delivery_s"), 2),
                fmt(s.get("last_delivery_s"), 2),
                fmt(ratios.get(f"{key}/C"), 2),
                *(f"{fmt(before.get(p))} / {fmt(peak.get(p))}" for p in ("worker", "api")),
                ", ".join(fmt(per.get(p), 2) for p in ("server", "worker", "api")),
            ]
        )
    return out


def failing_rows(report: dict[str, Any]) -> list[list[str]]:
    """One row per F scenario: its failing share (flaky: 503 to attempt 1, then retried;
    dead: 400, failed for good), seconds from the publish to the last retry's arrival and to
    the event's settlement, what the store holds, and the redelivery of the failed ones."""
    out = []
    for key, s in report.get("scenarios", {}).items():
        share = s.get("failing_share") if key.startswith("F") else None
        if not share:
            continue
        store = share["store"]
        by_status = ", ".join(f"{k} {v:,}" for k, v in sorted(store["deliveries"].items()))
        answer = share["redeliver_answer"]
        out.append(
            [
                key + ("" if share["complete"] else " (INCOMPLETE)"),
                f"{share['flaky']:,} / {share['dead']:,}",
                fmt(share["retries_done_s"], 2),
                fmt(share["settled_s"], 2),
                f"{store['event_status']}; {by_status}; attempts {store['attempts']:,}",
                f"{answer['status']}: {answer['scheduled']} ({answer['not_scheduled']} not)",
                fmt(share["redelivered_s"], 2),
            ]
        )
    return out


FAILING_HEADERS = [
    "scenario",
    "flaky / dead",
    "s to last retry",
    "s to settled",
    "store: event; deliveries; attempts",
    "redeliver: HTTP: scheduled",
    "s to last redelivery",
]


def noisy_rows(report: dict[str, Any]) -> list[list[str]]:
    """Scenario N: the quiet tenant's latency alone (N0), then with its neighbour hanging (N),
    p99 over alone's, and the noisy tenant's /hang/ POSTs at the receiver (hanging at the
    phase's start and end, the most at once) by then."""
    scenarios = report.get("scenarios", {})
    alone = scenarios.get("N0")
    out = []
    for key in ("N0", "N"):
        s = scenarios.get(key)
        if s is None:
            continue
        neighbour = s.get("neighbour")
        if neighbour:
            start, end = neighbour["hanging_at_start"], neighbour["hanging_at_end"]
            hanging = (
                f"{neighbour['burst']:,} in {fmt(neighbour['burst_publish_s'], 1)} s; "
                f"{start['now']} / {end['now']} (most {end['most']}); "
                f"{end['received']:,} POSTs / {end['deliveries']:,} deliveries"
            )
        else:
            hanging = "-"
        out.append(
            [
                key + ("" if s.get("complete", True) else " (INCOMPLETE)"),
                f"{s['deliveries']} of {s['events']}",
                fmt(s.get("p50_ms")),
                fmt(s.get("p99_ms")),
                fmt(s.get("max_ms")),
                fmt(ratio(s.get("p99_ms"), alone and alone.get("p99_ms")), 2),
                hanging,
            ]
        )
    return out


NOISY_HEADERS = [
    "quiet tenant",
    "delivered",
    "p50 ms",
    "p99 ms",
    "max ms",
    "p99 / alone",
    "noisy: burst; POSTs hanging at start / end (most at once); all its POSTs / deliveries",
]


FANOUT_HEADERS = [
    "scenario",
    "webhooks",
    "deliveries",
    "deliveries/s",
    "per pass",
    "s to first",
    "s to last",
    "F/C",
    "worker RSS MB before / peak",
    "API RSS MB before / peak",
    "CPU ms/delivery server, worker, API",
]


def extra_tables(report: dict[str, Any]) -> list[Table]:
    tables: list[Table] = []
    fanout = fanout_rows(report)
    if fanout:
        tables.append(
            ("fan-out: ONE event to many webhooks (s: from its publish)", FANOUT_HEADERS, fanout)
        )
    failing = failing_rows(report)
    if failing:
        tables.append(
            ("fan-out: the failing share, settled, then redelivered", FAILING_HEADERS, failing)
        )
    noisy = noisy_rows(report)
    if noisy:
        tables.append(
            (
                "noisy neighbour (N): the quiet tenant alone, then right after the noisy "
                "tenant's burst to a receiver that hangs past the delivery timeout "
                "(target: p99 / alone <= 2)",
                NOISY_HEADERS,
                noisy,
            )
        )
    costs = report.get("costs")
    if costs:
        from bench.costs import fanout_keys, per_delivery_rows, rows

        price = costs["price_per_million_actions"]
        tables.append(
            (
                f"Temporal billable actions (Cloud's definition; ${price:g} per million actions)",
                ["what", "actions", "by kind", "$ per million"],
                rows(costs),
            )
        )
        tables.append(
            (
                "history per event (serialized events, unencrypted payloads)",
                ["scenario", "history events", "history bytes", "actions per delivery (in window)"],
                [
                    [
                        key,
                        fmt(costs[key]["history_events"]),
                        fmt(costs[key]["history_bytes"], 0),
                        fmt(a := costs[key]["actions_per_delivery"], 2 if a >= 0.1 else 4),
                    ]
                    for key in ("B", "C", *fanout_keys(costs))
                    if key in costs
                ],
            )
        )
        per_delivery = per_delivery_rows(costs)
        if len(per_delivery) > 2:  # with --fanout
            tables.append(
                (
                    "actions per delivery by webhooks per event (to expiry; F: the event's "
                    "workflow and its chunk workflows)",
                    [
                        "webhooks",
                        "workflows",
                        "actions per event",
                        "actions per delivery",
                        "$ per million deliveries",
                    ],
                    per_delivery,
                )
            )
    footprint = report.get("scenarios", {}).get("E0", {}).get("server_footprint")
    if footprint:
        tables.append(
            (
                f"dev server with {footprint['events']} more events open (E)",
                ["SQLite MB", "SQLite kB / open event", "RSS MB", "RSS kB / open event"],
                [
                    [
                        fmt(footprint["sqlite_mb"]),
                        fmt(footprint["sqlite_kb_per_open_event"], 2),
                        fmt(footprint["rss_mb"]),
                        fmt(footprint["rss_kb_per_open_event"], 2),
                    ]
                ],
            )
        )
    peer = report.get("peer")
    if peer:
        ratios = report.get("peer_ratios", {})
        rows = []
        for key in ("burst", "latency"):
            s = peer.get(key)
            if s:
                rows.append(
                    [
                        s["name"] + ("" if s["complete"] else " (INCOMPLETE)"),
                        str(s["deliveries"]),
                        fmt(s["seconds"], 2),
                        fmt(s["deliveries_per_s"]),
                        fmt(s["p50_ms"]),
                        fmt(s["p99_ms"]),
                        fmt(1000 * sum(s["cpu_s"].values()) / max(s["deliveries"], 1), 2),
                    ]
                )
        headers = ["run", "deliveries", "s", "deliveries/s", "p50 ms", "p99 ms"]
        tables.append(("peer: Celery + Redis", [*headers, "Celery+Redis CPU ms/delivery"], rows))
        tables.append(
            (
                "hookline against the peer",
                ["C/peer", "D p50 ms", "peer p50 ms", "D p99 ms", "peer p99 ms"],
                [[fmt(ratios.get(k), 2) for k in PEER_KEYS]],
            )
        )
    return tables


def rich_tables(report: dict[str, Any]) -> list[Any]:
    from rich.table import Table as RichTable

    out = []
    for title, headers, rows in extra_tables(report):
        table = RichTable(title=title, title_justify="left")
        for i, header in enumerate(headers):
            table.add_column(header, justify="left" if i == 0 else "right")
        for row in rows:
            table.add_row(*row)
        out.append(table)
    return out


def markdown(report: dict[str, Any]) -> str:
    lines: list[str] = []
    for title, headers, rows in extra_tables(report):
        lines += ["", f"{title}:", "", "| " + " | ".join(headers) + " |"]
        lines.append("|" + "---|" * len(headers))
        lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n" if lines else ""
