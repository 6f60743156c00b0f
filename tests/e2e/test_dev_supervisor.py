"""`hookline dev` as a user runs it (issues 14.7, 14.8): it supervises its children, fails fast
on a taken port, keeps a local key so dev history is ciphertext the UI decodes through the
codec, its admin commands find its store, and a changed key stops the next start in one line."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
import temporalio.converter
from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads
from temporalio.client import Client

from hookline.devserver import free_port, port_open, wait_healthy
from hookline.infra.crypto import CODEC_ENCODING, CODEC_KEY_ID, generate_key, parse_keys
from tests.support.ports import free_port_and_next
from tests.support.receiver import Receiver

MARKER = "dev.history.marker"


class Dev:
    """A `hookline dev` child whose console lines are collected as they come."""

    def __init__(self, data_dir: Path, *extra: str, env: dict[str, str] | None = None) -> None:
        self.api_port, self.temporal_port, self.ui_port = free_port(), free_port(), free_port()
        self.sdk_metrics_port, self.worker_metrics_port = free_port_and_next(), free_port()
        self.data_dir = data_dir
        clean = {k: v for k, v in os.environ.items() if not k.startswith("HOOKLINE_")}
        ports = {
            "--api-port": self.api_port,
            "--temporal-port": self.temporal_port,
            "--ui-port": self.ui_port,
            "--sdk-metrics-port": self.sdk_metrics_port,
            "--worker-metrics-port": self.worker_metrics_port,
        }
        flags = [str(part) for pair in ports.items() for part in pair]
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "hookline.cli",
                "dev",
                "--data-dir",
                str(data_dir),
                *flags,
                *extra,
            ],
            env=clean | (env or {}),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def children(self) -> dict[int, str]:
        """pid -> command line of the dev process's children (Linux /proc)."""
        pid = self.process.pid
        found = {}
        for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
            try:
                found[int(child)] = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ")
            except FileNotFoundError:
                continue
        return {pid: cmd.decode() for pid, cmd in found.items()}

    def worker_pid(self) -> int | None:
        pids = [pid for pid, cmd in self.children().items() if "hookline.cli worker" in cmd]
        return pids[0] if pids else None

    def wait_line(self, text: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.lines:
                if text in line:
                    return line
            time.sleep(0.1)
        raise TimeoutError(f"no line with {text!r} in {self.lines}")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        return self.wait()

    def wait(self, timeout: float = 90) -> int:
        code = self.process.wait(timeout)
        self._reader.join(10)
        return code


def hookline(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("HOOKLINE_")}
    return subprocess.run(
        [sys.executable, "-m", "hookline.cli", *args],
        cwd=cwd,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_dev_restarts_a_killed_worker_keeps_delivering_and_encrypts_history(tmp_path):
    data = tmp_path / "data"
    # A shell's cluster credentials do not apply to the local, plain dev server.
    dev = Dev(data, env={"HOOKLINE_TEMPORAL_TLS": "true"})
    try:
        wait_healthy(dev.base, {"hookline dev": dev.process})
        # Until the banner, `hookline dev` is still starting, and a child's exit there is fatal
        # by design; the kill below is meant to land on the running supervisor.
        dev.wait_line("hookline is running", timeout=60)
        token = (data / "dev-token").read_text().strip()
        headers = {"Authorization": f"Bearer {token}"}
        key_file = data / "encryption-key"
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        [(key_id, _)] = parse_keys([key_file.read_text().strip()])
        async with Receiver() as receiver, httpx.AsyncClient(base_url=dev.base) as api:
            created = await api.post(
                "/api/v1/webhooks",
                headers=headers,
                json={"url": receiver.url("/dev"), "events": ["user.*"]},
            )
            assert created.status_code == 201, created.text

            async def publish(n: int) -> str:
                body = {"type": "user.created", "data": {"n": n, "note": MARKER}}
                answer = await api.post("/api/v1/events", headers=headers, json=body)
                assert answer.status_code == 202, answer.text
                return answer.json()["data"]["id"]

            first = await publish(0)
            await receiver.wait_for(1, path="/dev", timeout=30)

            # Dev history is ciphertext under the dev key; the UI is told where the codec is.
            raw = await Client.connect(
                f"127.0.0.1:{dev.temporal_port}", data_converter=temporalio.converter.default()
            )
            history = await raw.get_workflow_handle(first).fetch_history()
            assert MARKER.encode() not in b"".join(e.SerializeToString() for e in history.events)
            [started] = history.events[0].workflow_execution_started_event_attributes.input.payloads
            assert started.metadata["encoding"] == CODEC_ENCODING
            assert started.metadata[CODEC_KEY_ID].decode() == key_id
            ui_settings = (await api.get(f"http://127.0.0.1:{dev.ui_port}/api/v1/settings")).json()
            endpoint = ui_settings["Codec"]["Endpoint"]
            assert endpoint.startswith(f"{dev.base}/codec/ui/"), ui_settings  # its secret
            ui_origin = f"http://127.0.0.1:{dev.ui_port}"
            wire = json_format.MessageToDict(Payloads(payloads=[started]))
            forged = await api.post("/codec/decode", headers={"Origin": ui_origin}, json=wire)
            assert forged.status_code == 401, forged.text  # an Origin header proves nothing
            decoded = await api.post(f"{endpoint}/decode", headers={"Origin": ui_origin}, json=wire)
            assert decoded.status_code == 200, decoded.text
            [payload] = decoded.json()["payloads"]
            assert json.loads(base64.b64decode(payload["data"]))["data"]["note"] == MARKER

            # SIGKILL the worker child: one line, the API's embedded worker goes on delivering,
            # and the worker comes back after its back-off.
            killed = dev.worker_pid()
            assert killed is not None, dev.children()
            os.kill(killed, signal.SIGKILL)
            line = dev.wait_line("hookline dev: the worker")
            assert line == (
                "hookline dev: the worker was killed by SIGKILL; restarting it in 1 s "
                "(failure 1 in a row)"
            )
            for n in range(1, 6):
                await publish(n)
            await receiver.wait_for(6, path="/dev", timeout=30)
            for _ in range(300):
                back = dev.worker_pid()
                if back not in (None, killed):
                    break
                await asyncio.sleep(0.1)
            assert back not in (None, killed), dev.children()
            for _ in range(300):  # the new worker exports its SDK metrics again
                try:
                    scraped = await api.get(f"http://127.0.0.1:{dev.sdk_metrics_port}/metrics")
                    if "temporal_worker_task_slots_available" in scraped.text:
                        break
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.1)
            assert "temporal_worker_task_slots_available" in scraped.text
            # and its hookline metrics, on the port the killed one held
            scraped = await api.get(f"http://127.0.0.1:{dev.worker_metrics_port}/metrics")
            assert "# TYPE hookline_deliveries_total counter" in scraped.text
            assert dev.process.poll() is None
            assert sum("hookline dev: the" in line for line in dev.lines) == 1, dev.lines
    finally:
        code = dev.stop()
    assert code == 0, dev.lines
    for port in (dev.api_port, dev.temporal_port, dev.ui_port):
        assert not port_open(port)

    # The admin commands find the dev store by the same --data-dir.
    created = hookline("tenant", "create", "acme", "--data-dir", str(data), cwd=tmp_path)
    assert created.returncode == 0 and created.stdout.endswith("\tacme\n"), created.stderr
    elsewhere = hookline("tenant", "create", "acme", cwd=tmp_path)
    assert elsewhere.returncode == 1 and len(elsewhere.stderr.splitlines()) == 1
    assert not (tmp_path / ".hookline").exists()

    # The next start with another key finds the dev key's data and refuses, in one line each.
    other = Dev(data, env={"HOOKLINE_ENCRYPTION_KEY": generate_key()})
    assert other.wait() == 1
    output = "\n".join(other.lines)
    assert "hookline is running" not in output and "Traceback" not in output
    assert any(
        line.startswith("hookline worker: ") and f"encryption key {key_id}, which is not" in line
        for line in other.lines
    ), other.lines
    assert "hookline dev: worker exited with 1 during start-up" in other.lines


@pytest.mark.parametrize(
    "which",
    ["--api-port", "--temporal-port", "--ui-port", "--worker-metrics-port", "--sdk-metrics-port"],
)
def test_a_taken_port_fails_before_the_banner_in_one_line(tmp_path, which):
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        dev = Dev(tmp_path / "data", which, str(port))  # the last --x-port wins
        code = dev.wait()
    assert code == 1
    [line] = dev.lines
    assert line.startswith(f"hookline dev: port {port} (") and which in line and "in use" in line
    assert not (tmp_path / "data").exists()  # nothing was started or created
