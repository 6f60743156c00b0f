"""Scenarios B and C of `hookline bench` for several checkouts, back to back, in rounds.

    python -m bench.compare /tmp/before . --events 1000 --rounds 2

Each checkout runs in its own process with its own stack (dev server, receiver, worker, API,
all from that checkout; the checkouts share this venv's packages). Rounds alternate the
checkouts, so a change is judged against a baseline measured minutes apart on the same
machine. Prints events/s, deliveries/s and CPU ms per event of each process.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.run import FANOUT


def _measure(events: int) -> dict:
    from bench.run import DEFAULT, Bench, Stack, start_stack, stop_stack
    from hookline.devserver import free_port

    def cpu_ms(result: dict) -> dict:
        return {k: round(v * 1000, 2) for k, v in result["cpu_s_per_event"].items() if v}

    async def scenarios(stack: Stack) -> tuple[dict, dict]:
        bench = Bench(stack, DEFAULT, lambda *_: None)
        try:
            await bench.warm_up()
            await bench.closed_loop("warm-up", "user.created", 100, 1)
            b = await bench.closed_loop("B", "user.created", events, 1)
            c = await bench.closed_loop("C", "data.created", events // 5, FANOUT)
            return b, c
        finally:
            await bench.aclose()

    with tempfile.TemporaryDirectory() as tmp:
        stack = Stack(Path(tmp), free_port(), free_port(), free_port())
        try:
            start_stack(stack, lambda *_: None)  # runs its own event loop for the store
            b, c = asyncio.run(scenarios(stack))
        finally:
            stop_stack(stack)
    return {
        "B events/s": round(b["events_per_s"], 1),
        "B cpu ms/event": cpu_ms(b),
        "C deliveries/s": round(c["deliveries_per_s"], 1),
        "C cpu ms/event": cpu_ms(c),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("checkouts", nargs="+", type=Path)
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:  # in a child whose sys.path starts with the checkout
        print(json.dumps(_measure(args.events)))
        return
    for round_ in range(1, args.rounds + 1):
        for checkout in args.checkouts:
            root = checkout.resolve()
            # This file, run with the checkout first on sys.path: its bench.run and hookline
            # (an older checkout need not have this file).
            code = (
                f"import runpy, sys; sys.path.insert(0, {str(root)!r}); "
                f"sys.argv = ['compare', '{root}', '--one', '--events', '{args.events}']; "
                f"runpy.run_path({__file__!r}, run_name='__main__')"
            )
            out = subprocess.run(
                [sys.executable, "-c", code],
                cwd=root,
                env={**_env_without_pythonpath(), "PYTHONPATH": str(root)},
                capture_output=True,
                text=True,
                timeout=60 + args.events,
            )
            if out.returncode != 0:
                print(f"round {round_} {root}: failed\n{out.stderr[-2000:]}", flush=True)
                continue
            print(f"round {round_} {root}: {out.stdout.strip().splitlines()[-1]}", flush=True)


def _env_without_pythonpath() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


if __name__ == "__main__":
    main()
