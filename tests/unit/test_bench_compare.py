"""bench/compare.py runs each checkout's own code: its self-check fails when two sides would
import `hookline` from the same files, or a side from outside its checkout, as they did when
every side ran this venv's python with its checkout on PYTHONPATH."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench.compare import SameCode, check_sides, probe, probe_process

ROOT = Path(__file__).resolve().parents[2]


def test_this_venv_imports_hookline_from_this_checkout() -> None:
    found = probe(sys.executable)
    assert Path(found["cli"]).resolve() == ROOT / "cli.py"
    check_sides({ROOT: {"bench": found}})


def test_another_checkout_on_pythonpath_still_imports_this_one(tmp_path: Path) -> None:
    """The old way: PYTHONPATH names the other checkout, yet this venv's editable finder maps
    `hookline` here. The self-check says so."""
    other = tmp_path / "before"
    shutil.copytree(ROOT, other, ignore=shutil.ignore_patterns(".venv", ".git", "*.db"))
    env = {**os.environ, "PYTHONPATH": str(other)}
    found = probe(sys.executable, env=env, cwd=other)
    assert Path(found["cli"]).resolve() == ROOT / "cli.py"
    with pytest.raises(SameCode, match="imports hookline from"):
        check_sides({ROOT: {"bench": probe(sys.executable)}, other: {"bench": found}})


def test_two_sides_with_the_same_files_are_refused(tmp_path: Path) -> None:
    found = probe(sys.executable)
    twice = tmp_path / "link"
    twice.symlink_to(ROOT)  # the same checkout under another name: the same files
    with pytest.raises(SameCode, match="the same files"):
        check_sides({ROOT: {"bench": found}, twice: {"api": found}})
    # ...but a different tree of files for each passes.
    a, b = tmp_path / "a", tmp_path / "b"
    for root in (a, b):
        (root / "hookline").mkdir(parents=True)
        (root / "cli.py").write_text("")
    check_sides(
        {
            a: {"bench": {"path": [str(a)], "cli": str(a / "cli.py")}},
            b: {"worker": {"path": [str(b)], "cli": str(b / "cli.py")}},
        }
    )


def test_a_running_process_is_asked_with_its_own_interpreter_and_environment() -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", "import sys; print('up', flush=True); sys.stdin.read()"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        cwd=ROOT / "bench",
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert child.stdout is not None and child.stdout.readline() == b"up\n"
        found = probe_process(child.pid)
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait(timeout=30)
        child.stdout.close()
    assert Path(found["cli"]).resolve() == ROOT / "cli.py"
