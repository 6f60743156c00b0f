"""Scenarios B and C of `hookline bench` for several checkouts, back to back, in rounds.

    python -m bench.compare /tmp/before . --events 1000 --rounds 2

Each checkout runs in its own process with its own stack (dev server, receiver, worker, API,
all from that checkout). Rounds alternate the checkouts, so a change is judged against a
baseline measured minutes apart on the same machine. Prints events/s, deliveries/s and CPU ms
per event of each process.

Why a venv per checkout: the repository root is the `hookline` package (pyproject maps it), so
no PYTHONPATH entry can name another checkout's `hookline` (a checkout has no `hookline/`
folder to find), and this venv's editable install maps `hookline` to the one checkout it was
installed from, for every process it runs. So each checkout gets a venv of its own, made once
under the cache dir (`--cache`, default ~/.cache/hookline-compare, remade when the checkout's
pyproject.toml changes) with `pip install -e 'CHECKOUT[dev]'`; its python runs that checkout's
side, and the stack's processes (started with `sys.executable`) inherit it. The checkout this
venv was installed from keeps using this venv.

Checked, not assumed: before measuring, each side's interpreter says where `hookline` comes
from, and so does every process of its stack once started (`hookline api`, `hookline worker`:
their interpreter, environment and working directory, read from /proc, asked the same); the
comparison stops if a side imports from outside its checkout or two sides the same files.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

# Where `hookline` comes from, as the interpreter running it resolves it (without importing
# hookline.cli itself: the namespace package, then the spec of one module).
PROBE = (
    "import importlib.util, json, hookline; "
    "print(json.dumps({'path': list(hookline.__path__), "
    "'cli': importlib.util.find_spec('hookline.cli').origin}))"
)
CACHE = Path.home() / ".cache" / "hookline-compare"
STACK_PROCESSES = ("api", "worker")


class SameCode(RuntimeError):
    """A side would not run its own checkout's code."""


def probe(python: str | Path, env: dict[str, str] | None = None, cwd: Path | None = None) -> dict:
    """{'path': hookline.__path__, 'cli': hookline/cli.py's file} as `python` resolves them."""
    out = subprocess.run(
        [str(python), "-c", PROBE],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def probe_process(pid: int) -> dict:
    """What a running process imports as `hookline`: its interpreter (argv[0]), environment and
    working directory, read from /proc, asked the same question."""
    proc = Path("/proc") / str(pid)
    argv = (proc / "cmdline").read_bytes().split(b"\0")
    if not argv[0]:
        raise RuntimeError(f"process {pid} is gone (or not started): nothing to ask")
    env = dict(
        entry.split("=", 1)
        for entry in (proc / "environ").read_bytes().decode(errors="replace").split("\0")
        if "=" in entry
    )
    return probe(os.fsdecode(argv[0]), env=env, cwd=Path(os.readlink(proc / "cwd")))


def files_of(found: dict) -> tuple[str, ...]:
    """The folders and the file a probe found (not the editable finder's placeholder entry
    in `__path__`, a name that is no folder)."""
    named = [p for p in [*found["path"], found["cli"]] if Path(p).is_absolute()]
    return tuple(sorted(str(Path(p).resolve()) for p in named))


def check_sides(sides: dict[Path, dict[str, dict]]) -> None:
    """`sides`: checkout -> process name -> probe. Raises SameCode if a process imports
    `hookline` from outside its checkout, or two checkouts import the same files."""
    owner: dict[tuple[str, ...], Path] = {}
    for root, processes in sides.items():
        for name, found in processes.items():
            files = files_of(found)
            outside = [f for f in files if not Path(f).is_relative_to(root.resolve())]
            if outside:
                raise SameCode(f"{root}: its {name} imports hookline from {outside}")
            other = owner.setdefault(files, root)
            if other != root:
                raise SameCode(f"{root} and {other} import the same files: {files}")


def checkout_venv(root: Path, cache: Path = CACHE) -> Path:
    """The python to run `root` with: this one if this venv's editable install maps
    `hookline` there, else the checkout's own venv under `cache`, made once."""
    root = root.resolve()
    if Path(probe(sys.executable)["cli"]).resolve().is_relative_to(root):
        return Path(sys.executable)
    pyproject = (root / "pyproject.toml").read_bytes()
    key = hashlib.sha256(str(root).encode() + b"\0" + pyproject).hexdigest()[:12]
    venv = cache / f"{root.name}-{key}"
    python = venv / "bin" / "python"
    done = venv / ".installed"
    if not done.exists():
        shutil.rmtree(venv, ignore_errors=True)
        print(f"making a venv for {root} in {venv} (once)", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "-e", f"{root}[dev]"], check=True
        )
        done.write_text(str(root))
    return python


def _measure(events: int) -> dict:
    try:  # this layout of bench/
        from bench.config import DEFAULT, FANOUT
        from bench.scenarios import Bench
        from bench.stack import Stack, start_stack, stop_stack
    except ImportError:  # an older checkout (a side of the comparison): all in bench/run.py
        from bench.run import DEFAULT, FANOUT, Bench, Stack, start_stack, stop_stack
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
            imports = {name: probe_process(stack.procs[name].pid) for name in STACK_PROCESSES}
            b, c = asyncio.run(scenarios(stack))
        finally:
            stop_stack(stack)
    return {
        "B events/s": round(b["events_per_s"], 1),
        "B cpu ms/event": cpu_ms(b),
        "C deliveries/s": round(c["deliveries_per_s"], 1),
        "C cpu ms/event": cpu_ms(c),
        "imports": imports | {"bench": probe(sys.executable)},
    }


def _side(python: Path, root: Path, events: int) -> subprocess.CompletedProcess:
    # This file, run with the checkout first on sys.path for its `bench` (an older checkout
    # need not have this file); `hookline` comes from `python`'s editable install.
    code = (
        f"import runpy, sys; sys.path.insert(0, {str(root)!r}); "
        f"sys.argv = ['compare', '{root}', '--one', '--events', '{events}']; "
        f"runpy.run_path({__file__!r}, run_name='__main__')"
    )
    return subprocess.run(
        [str(python), "-c", code],
        cwd=root,
        env=_side_env(root),
        capture_output=True,
        text=True,
        timeout=120 + events,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("checkouts", nargs="+", type=Path)
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--cache", type=Path, default=CACHE, help="where the venvs are kept")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:  # in a child, with the checkout's own python
        print(json.dumps(_measure(args.events)))
        return
    roots = [checkout.resolve() for checkout in args.checkouts]
    pythons = {root: checkout_venv(root, args.cache) for root in roots}
    check_sides({root: {"bench": probe(pythons[root], _side_env(root), root)} for root in roots})
    for root in roots:
        print(f"{root}: {pythons[root]} imports hookline from {root}", flush=True)
    for round_ in range(1, args.rounds + 1):
        seen: dict[Path, dict[str, dict]] = {}
        for root in roots:
            out = _side(pythons[root], root, args.events)
            if out.returncode != 0:
                print(f"round {round_} {root}: failed\n{out.stderr[-2000:]}", flush=True)
                continue
            result = json.loads(out.stdout.strip().splitlines()[-1])
            seen[root] = result.pop("imports")
            check_sides({root: seen[root]})  # before its figures are shown
            if round_ == 1:
                print(f"{root}: its {', '.join(seen[root])} import hookline from it", flush=True)
            print(f"round {round_} {root}: {json.dumps(result)}", flush=True)
        check_sides(seen)  # the stacks' own processes, as they ran


def _side_env(root: Path) -> dict[str, str]:
    """The environment of a side: the checkout (for its `bench`) as the only PYTHONPATH."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return env | {"PYTHONPATH": str(root)}


if __name__ == "__main__":
    main()
