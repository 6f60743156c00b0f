"""The report's extra tables: cost per event, the open events' footprint, the peer."""

from __future__ import annotations

from typing import Any

Table = tuple[str, list[str], list[list[str]]]
PEER_KEYS = ("C/peer", "D p50 ms", "peer p50 ms", "D p99 ms", "peer p99 ms")


def fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def extra_tables(report: dict[str, Any]) -> list[Table]:
    tables: list[Table] = []
    costs = report.get("costs")
    if costs:
        from bench.costs import rows

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
                        fmt(costs[key]["actions_per_delivery"], 2),
                    ]
                    for key in ("B", "C")
                    if key in costs
                ],
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
