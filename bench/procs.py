"""What the bench reads from /proc: CPU seconds and peak RSS of a process tree, resident
memory now, the dev server's SQLite size on disk, and the machine it runs on."""

from __future__ import annotations

import os
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def parse_cpu_seconds(stat: str, ticks: int) -> float:
    """utime + stime of a /proc/PID/stat line (the comm field may hold spaces)."""
    fields = stat.rpartition(")")[2].split()
    # fields[0] is field 3 (state): utime is field 14, stime field 15.
    return (int(fields[11]) + int(fields[12])) / ticks


def parse_status_mb(status: str, field: str) -> float | None:
    """A memory field of /proc/PID/status (`VmHWM`, `VmRSS`) in MB; None if absent."""
    for line in status.splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024  # kB
    return None


def parse_vmhwm_mb(status: str) -> float | None:
    return parse_status_mb(status, "VmHWM")


def report_head(command: str) -> dict[str, Any]:
    """What every bench report starts with: when, the command that made it, the machine."""
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": command,
        "machine": machine(),
    }


def machine() -> dict[str, Any]:
    model = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.partition(":")[2].strip()
                break
    ram_mb = 0.0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                ram_mb = int(line.split()[1]) / 1024
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "ram_gb": round(ram_mb / 1024, 1),
        "python": platform.python_version(),
    }


def process_tree(pid: int) -> list[int]:
    """The process and its descendants (an API with several processes is a tree)."""
    tree, i = [pid], 0
    while i < len(tree):
        try:
            for task in os.listdir(f"/proc/{tree[i]}/task"):
                with open(f"/proc/{tree[i]}/task/{task}/children") as f:
                    tree += [int(child) for child in f.read().split()]
        except OSError:
            pass
        i += 1
    return tree


def cpu_seconds(pid: int, *, tree: bool = True) -> float:
    total = 0.0
    for member in process_tree(pid) if tree else [pid]:
        try:
            with open(f"/proc/{member}/stat") as f:
                total += parse_cpu_seconds(f.read(), os.sysconf("SC_CLK_TCK"))
        except OSError:
            pass
    return total


def rss_mb(pid: int) -> float | None:
    """Resident memory now (VmRSS) of one process."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def sqlite_mb(db_file: Path) -> float:
    """The dev server's SQLite file with its WAL and shared-memory files."""
    names = (db_file, Path(f"{db_file}-wal"), Path(f"{db_file}-shm"))
    return sum(p.stat().st_size for p in names if p.exists()) / 2**20


def peak_rss_mb(pid: int) -> float | None:
    """The largest peak RSS of one process in the tree (each process has its own memory)."""
    peaks = []
    for member in process_tree(pid):
        try:
            with open(f"/proc/{member}/status") as f:
                peaks.append(parse_vmhwm_mb(f.read()))
        except OSError:
            pass
    return max((p for p in peaks if p is not None), default=None)


def tree_rss_mb(pid: int) -> float | None:
    """Resident memory now (VmRSS) of the largest process in the tree (as peak_rss_mb)."""
    now = []
    for member in process_tree(pid):
        try:
            with open(f"/proc/{member}/status") as f:
                now.append(parse_status_mb(f.read(), "VmRSS"))
        except OSError:
            pass
    return max((m for m in now if m is not None), default=None)
