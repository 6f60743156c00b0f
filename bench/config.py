"""What the bench's parts share: where it runs, which processes it measures, how big a run is."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
PROCESSES = ("server", "worker", "api")
FANOUT = 10


@dataclass(frozen=True)
class Sizes:
    naive: int
    events: int
    fanout_events: int
    latency_seconds: float
    latency_rate: float
    open_events: int
    concurrency: int
    peer_burst: int  # deliveries in the peer's burst (--peer)


QUICK = Sizes(  # under a minute; shorter passes of B and C measured mostly noise
    naive=200,
    events=300,
    fanout_events=60,
    latency_seconds=3,
    latency_rate=10,
    open_events=500,
    concurrency=20,
    peer_burst=500,
)
DEFAULT = Sizes(
    naive=1000,
    events=1000,
    fanout_events=200,
    latency_seconds=10,
    latency_rate=10,
    open_events=5000,
    concurrency=20,
    peer_burst=2000,
)
