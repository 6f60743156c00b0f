"""The real stack as `hookline dev` runs it, one process per piece, for e2e and fault tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from hookline.devserver import dev_server_args, free_port, start_dev_server, stop_process
from hookline.store.admin import new_token_value


@dataclass
class Stack:
    data_dir: Path
    temporal_port: int = field(default_factory=free_port)
    api_port: int = field(default_factory=free_port)
    token: str = field(default_factory=new_token_value)
    extra_env: dict[str, str] = field(default_factory=dict)
    temporal: subprocess.Popen | None = None
    worker: subprocess.Popen | None = None
    api: subprocess.Popen | None = None

    @property
    def env(self) -> dict[str, str]:
        return os.environ | {
            "HOOKLINE_DATA_DIR": str(self.data_dir),
            "HOOKLINE_TEMPORAL_ADDRESS": f"127.0.0.1:{self.temporal_port}",
            "HOOKLINE_ALLOW_PRIVATE_URLS": "true",
            "HOOKLINE_BOOTSTRAP_TOKEN": self.token,
            "HOOKLINE_RATE_LIMIT": "1000000/minute",
            "HOOKLINE_RETRY_INITIAL_INTERVAL": "1s",
            "HOOKLINE_RETRY_BACKOFF": "1.5",
            "HOOKLINE_PUBLIC_URL": self.base_url,  # the console's sign-in links
            # Off, as in the tests' settings: these tests expect failing receivers' events to
            # fail (an open circuit holds them); tests/workflows/test_throttling.py tests it.
            "HOOKLINE_BREAKER_MIN_ATTEMPTS": "1000000",
            **self.extra_env,
        }

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def start_temporal(self) -> None:
        args = dev_server_args(
            port=self.temporal_port, ui_port=None, db_file=self.data_dir / "temporal.db"
        )
        self.temporal = start_dev_server(
            args, port=self.temporal_port, log=self.data_dir / "temporal.log"
        )

    def _hookline(self, *args: str) -> subprocess.Popen:
        log = open(self.data_dir / f"{args[0]}.log", "ab")  # closed with the child
        return subprocess.Popen(
            [sys.executable, "-m", "hookline.cli", *args],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def migrate(self) -> None:
        subprocess.run([sys.executable, "-m", "hookline.cli", "migrate"], env=self.env, check=True)

    def start_worker(self) -> None:
        self.worker = self._hookline("worker")

    def start_api(self, timeout: float = 60) -> None:
        self.api = self._hookline("api", "--port", str(self.api_port))
        self.wait_api(timeout, require_healthy=False)

    def wait_api(self, timeout: float = 60, *, require_healthy: bool = True) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                answer = httpx.get(f"{self.base_url}/healthz", timeout=2)
                if answer.status_code == 200 or not require_healthy:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise TimeoutError("API did not answer")

    def start(self) -> Stack:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.migrate()
        self.start_temporal()
        self.start_worker()
        self.start_api()
        self.wait_api()
        return self

    def kill(self, name: str) -> None:
        process = getattr(self, name)
        process.send_signal(signal.SIGKILL)
        process.wait(10)

    def stop(self) -> None:
        for process in (self.api, self.worker, self.temporal):
            if process is not None:
                stop_process(process)
