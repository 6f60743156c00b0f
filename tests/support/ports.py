"""Ports for `hookline dev` in tests."""

from __future__ import annotations

from hookline.devserver import free_port, port_free


def free_port_and_next() -> int:
    """A free port whose next one is free too: `hookline dev` puts the API's SDK metrics on
    `--sdk-metrics-port` + 1, and refuses to start when that one is taken."""
    for _ in range(50):  # bounded
        port = free_port()
        if port_free(port + 1):
            return port
    raise RuntimeError("no free port with a free next one")
