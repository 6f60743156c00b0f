"""`hookline bench`: the end-to-end benchmark (see docs/PERFORMANCE.md), its command line.

One run starts the stack (bench/stack.py) in a temp dir, runs the scenarios A to E
(bench/scenarios.py; with `--fanout N,M` also F: one event to N and to M webhooks), then N, a
noisy neighbour (bench/noisy.py), counts
the Temporal billable actions per event from the histories (bench/costs.py) and, with
`--peer celery`, runs the Celery + Redis peer against the same receiver (bench/peer.py);
then it prints the report (bench/render.py), figures computed by bench/stats.py from what
bench/procs.py read from /proc. `--scale`: bench/scale.py; `--fairness`: bench/fairness.py;
`--tenant-burst`: bench/tenant_burst.py.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench import costs, peer
from bench.config import DEFAULT, FANOUT, PROCESSES, QUICK, Sizes, fanout_key, parse_fanout
from bench.procs import peak_rss_mb, report_head
from bench.progress import progress_bar, timed_log
from bench.render import markdown_header, ratios_line, render, to_markdown
from bench.scenarios import Bench
from bench.stack import Stack, start_stack, stop_stack
from bench.stats import check_targets, compute_ratios

DEFAULT_PRICE_PER_MILLION = 50.0  # Temporal Cloud's list price per million actions


async def run_peer(bench: Bench, stack: Stack, sizes: Sizes, say) -> dict[str, Any]:
    from hookline.devserver import free_port

    say("peer: starting redis-server and a Celery worker")
    sender = peer.Peer(stack.tmp, stack.rx_port, free_port())
    try:
        await asyncio.to_thread(sender.start)
        return await peer.run(bench, sender, sizes, say)
    finally:
        await asyncio.to_thread(sender.stop)


def main(args) -> None:
    from rich.console import Console

    from hookline.devserver import free_port

    console = Console()
    if not console.is_terminal:
        console = Console(width=170)
    sizes = QUICK if args.quick else DEFAULT
    if getattr(args, "open", None):
        sizes = replace(sizes, open_events=args.open)
    if getattr(args, "scale", False):
        from bench.scale import main as scale_main

        scale_main(args, console)
        return
    if getattr(args, "fairness", False):
        from bench.fairness import main as fairness_main

        fairness_main(args, console)
        return
    if getattr(args, "tenant_burst", False):
        from bench.tenant_burst import main as tenant_burst_main

        tenant_burst_main(args, console)
        return
    price = getattr(args, "price_per_million_actions", None) or DEFAULT_PRICE_PER_MILLION
    peer_kind = getattr(args, "peer", None)
    if peer_kind:
        try:
            peer.check_available()  # before minutes of hookline scenarios
        except peer.PeerUnavailable as exc:
            raise SystemExit(str(exc)) from None
    fanout_text = getattr(args, "fanout", None)
    try:
        fanout_sizes = parse_fanout(fanout_text) if fanout_text else ()
    except ValueError as exc:
        raise SystemExit(str(exc)) from None
    started = time.monotonic()
    say = timed_log(console)
    report: dict[str, Any] = {
        **report_head(
            "hookline bench"
            + (" --quick" if args.quick else "")
            + (f" --api-processes {args.api_processes}" if args.api_processes != 1 else "")
            + (f" --open {args.open}" if getattr(args, "open", None) else "")
            + (f" --peer {peer_kind}" if peer_kind else "")
            + (f" --fanout {','.join(map(str, fanout_sizes))}" if fanout_sizes else "")
        ),
        "sizes": sizes.__dict__,
    }
    with tempfile.TemporaryDirectory(prefix="hookline-bench-") as tmp:
        stack = Stack(Path(tmp), free_port(), free_port(), free_port(), args.api_processes)
        stack.fanout_sizes = fanout_sizes
        error: BaseException | None = None
        scenarios: dict[str, dict] = {}
        extras: dict[str, Any] = {}  # costs, peer
        try:
            start_stack(stack, say)

            async def go(progress) -> None:
                bench = Bench(stack, sizes, say, progress)
                try:
                    scenarios.update(await bench.run())
                    keys = {fanout_key(n): n for n in fanout_sizes}
                    # An F event not delivered in full may never settle: not counted.
                    fanouts = {k: n for k, n in keys.items() if scenarios[k]["complete"]}
                    say(
                        "costs: billable actions from the histories of B, C, a redelivery"
                        + (f" and {', '.join(fanouts)} with their chunks" if fanouts else "")
                    )
                    extras["costs"] = await costs.measure(
                        bench, bench.sent_ids, FANOUT, price, fanouts
                    )
                    for key, n in keys.items():
                        if key not in fanouts:
                            extras["costs"][key] = {
                                "webhooks": n,
                                "error": "not counted: the event was not delivered in full",
                            }
                    if peer_kind:
                        extras["peer"] = await run_peer(bench, stack, sizes, say)
                finally:
                    await bench.aclose()

            with progress_bar(console) as progress:
                asyncio.run(go(progress))
        except (Exception, KeyboardInterrupt) as exc:  # report what we have, then re-raise
            error = exc
            for name in ("worker", "api"):
                log = stack.tmp / f"{name}.log"
                if log.exists():
                    tail = log.read_text(errors="replace")[-2000:]
                    if tail.strip():
                        console.print(f"--- {name}.log (tail)\n{tail}")
        finally:
            rss = {name: peak_rss_mb(pid) for name, pid in stack.pids().items()}
            say("stopping")
            stop_stack(stack)
        report["scenarios"] = {
            key: {k: v for k, v in result.items() if not k.startswith("_")}
            for key, result in scenarios.items()
        }
        report["rss_mb"] = {p: rss.get(p) for p in PROCESSES}
        report["ratios"] = compute_ratios(scenarios)
        report["targets"] = check_targets(scenarios, report["ratios"], report["rss_mb"])
        report |= extras
        if "peer" in extras:
            report["peer_ratios"] = peer.compare(report["scenarios"], extras["peer"])
        report["total_seconds"] = round(time.monotonic() - started, 1)
        if error is not None:
            report["error"] = repr(error)
    console.print(render(report))
    console.print(ratios_line(report))
    if args.output:
        Path(args.output).write_text(json.dumps(report, indent=2) + "\n")
        console.print(f"JSON written to {args.output}")
    if getattr(args, "markdown", None):
        Path(args.markdown).write_text(markdown_header(report) + to_markdown(report))
        console.print(f"Markdown written to {args.markdown}")
    if error is not None:
        raise SystemExit(f"bench failed: {error!r}")
