"""A report as people read it: the rich tables printed at the end of a run and the same tables
as Markdown (`--markdown`), with the extra tables of bench/tables.py."""

from __future__ import annotations

from typing import Any

from bench.config import PROCESSES
from bench.tables import fmt, markdown, rich_tables

HEADERS = [
    "scenario",
    "events",
    "deliveries",
    "s",
    "events/s",
    "deliveries/s",
    "p50 ms",
    "p99 ms",
    "server CPU ms/ev",
    "worker CPU ms/ev",
    "API CPU ms/ev",
]


def table_rows(scenarios: dict[str, dict]) -> list[list[str]]:
    """The main table's rows as strings (CPU in ms per event)."""
    rows = []
    for key, s in scenarios.items():
        per = s.get("cpu_s_per_event", {})
        label = f"{key} {s['name']}" + ("" if s.get("complete", True) else " (INCOMPLETE)")
        rows.append(
            [
                label,
                str(s["events"]),
                str(s["deliveries"]),
                fmt(s["seconds"], 2),
                fmt(s["events_per_s"]),
                fmt(s["deliveries_per_s"]),
                fmt(s["p50_ms"]),
                fmt(s["p99_ms"]),
                *(fmt(None if per.get(p) is None else 1000 * per[p], 2) for p in PROCESSES),
            ]
        )
    return rows


def render(report: dict) -> Any:
    """A rich renderable: the scenario table, peak RSS, ratios and targets."""
    from rich.console import Group
    from rich.table import Table

    main = Table(title="hookline bench", title_justify="left")
    for i, header in enumerate(HEADERS):
        main.add_column(header, justify="left" if i == 0 else "right")
    for row in table_rows(report["scenarios"]):
        main.add_row(*row)
    rss = Table(title="peak RSS (VmHWM, MB)", title_justify="left")
    for p in PROCESSES:
        rss.add_column(p, justify="right")
    rss.add_row(*(fmt(report["rss_mb"].get(p)) for p in PROCESSES))
    targets = Table(title="targets", title_justify="left")
    for header in ("target", "goal", "value", "met"):
        targets.add_column(header)
    for t in report["targets"]:
        met = {True: "met", False: "NOT met", None: "-"}[t["met"]]
        targets.add_row(t["target"], f"{t['op']} {t['goal']:g}", fmt(t["value"], 2), met)
    return Group(main, rss, targets, *rich_tables(report))


def to_markdown(report: dict) -> str:
    lines = ["| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    lines += ["| " + " | ".join(row) + " |" for row in table_rows(report["scenarios"])]
    lines += ["", "| process | peak RSS MB |", "|---|---|"]
    lines += [f"| {p} | {fmt(report['rss_mb'].get(p))} |" for p in PROCESSES]
    lines += ["", "| target | goal | value | met |", "|---|---|---|---|"]
    for t in report["targets"]:
        met = {True: "met", False: "**not met**", None: "-"}[t["met"]]
        lines.append(f"| {t['target']} | {t['op']} {t['goal']:g} | {fmt(t['value'], 2)} | {met} |")
    return "\n".join(lines) + "\n" + markdown(report)


def markdown_header(report: dict) -> str:
    """The line above the Markdown tables: when, the command, how long, on what."""
    m = report["machine"]
    return (
        f"Run {report['date']}, `{report['command']}`, {report['total_seconds']} s, on "
        f"{m.get('nproc')} CPUs ({m.get('cpu')}), {m.get('ram_gb')} GB RAM, "
        f"Python {m.get('python')}.\n\n"
    )


def ratios_line(report: dict) -> str:
    """The line printed under the tables: the ratios and the run's total time."""
    return (
        "ratios: "
        + ", ".join(f"{k} = {fmt(v, 2)}" for k, v in report["ratios"].items())
        + f"; total {report['total_seconds']} s"
    )
