"""`hookline dev`'s supervision: back-off, one line per crash, taken ports."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys

from hookline.devserver import (
    MAX_RESTART_DELAY,
    STABLE_AFTER,
    SupervisedChild,
    exit_reason,
    restart_delay,
    taken_ports,
)


def test_back_off_doubles_from_one_second_up_to_the_cap():
    assert [restart_delay(n) for n in range(1, 8)] == [1, 2, 4, 8, 16, 30, 30]
    assert restart_delay(100) == MAX_RESTART_DELAY


def test_exit_reasons_name_the_signal_or_the_code():
    assert exit_reason(-signal.SIGKILL) == "was killed by SIGKILL"
    assert exit_reason(3) == "exited with code 3"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_crashing_child_restarts_with_growing_delays_and_one_line_each():
    clock, lines, started = Clock(), [], []

    def start() -> subprocess.Popen:
        process = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
        process.wait(10)
        started.append(process)
        return process

    child = SupervisedChild("worker", start, clock=clock)
    for expected_delay in (1, 2, 4):
        child.tend(lines.append)  # notices the exit
        assert lines[-1] == (
            f"hookline dev: the worker exited with code 3; restarting it in {expected_delay} s "
            f"(failure {len(lines)} in a row)"
        )
        child.tend(lines.append)  # not yet due: no restart, no second line
        clock.now += expected_delay
        child.tend(lines.append)  # due: restarted
    assert len(started) == 4 and len(lines) == 3
    # A child that ran long enough before crashing starts over at the first delay.
    clock.now += STABLE_AFTER
    child.tend(lines.append)
    assert lines[-1].endswith("restarting it in 1 s (failure 1 in a row)")


def test_a_running_child_is_left_alone_and_stopped_on_request():
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    child = SupervisedChild("API", lambda: process)
    lines: list[str] = []
    child.tend(lines.append)
    assert lines == [] and process.poll() is None
    child.stop()
    assert process.poll() is not None


def test_taken_ports_name_each_held_port():
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        with socket.socket() as spare:
            spare.bind(("127.0.0.1", 0))
            free = spare.getsockname()[1]
        assert taken_ports({"API, --api-port": port, "Temporal, --temporal-port": free}) == [
            f"port {port} (API, --api-port)"
        ]
