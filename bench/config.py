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
    noisy_burst: int  # N: the noisy tenant's burst to its hanging receiver
    noisy_seconds: float  # N: each phase of the quiet tenant, at latency_rate events/s


QUICK = Sizes(  # under a minute; shorter passes of B and C measured mostly noise
    naive=200,
    events=300,
    fanout_events=60,
    latency_seconds=3,
    latency_rate=10,
    open_events=500,
    concurrency=20,
    peer_burst=500,
    noisy_burst=300,
    noisy_seconds=5,
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
    noisy_burst=1000,
    noisy_seconds=15,
)

# Fan-out to many webhooks for ONE event (`--fanout`, F scenarios): each size gets its own
# tenant (matching reads every active webhook of the tenant, so B and C must not see them).
FANOUT_SIZES = (1000, 10000)  # `--fanout` without a value


def parse_fanout(text: str) -> tuple[int, ...]:
    """`--fanout 1000,10000` -> (1000, 10000): positive, distinct, in the order given."""
    sizes: list[int] = []
    for part in text.split(","):
        part = part.strip().replace("_", "")
        if not part:
            continue
        try:
            n = int(part)
        except ValueError:
            raise ValueError(
                f"--fanout takes webhook counts like 1000,10000, not {part!r}"
            ) from None
        if n < 1:
            raise ValueError(f"--fanout: a webhook count must be at least 1, not {n}")
        if n in sizes:
            raise ValueError(f"--fanout: {n} given twice")
        sizes.append(n)
    if not sizes:
        raise ValueError("--fanout: no webhook count given")
    return tuple(sizes)


def fanout_key(webhooks: int) -> str:
    """The scenario's key in the report: F1k, F10k, F2500."""
    return f"F{webhooks // 1000}k" if webhooks % 1000 == 0 else f"F{webhooks}"


def fanout_timeout(webhooks: int) -> float:
    """How long an F scenario may take: any rate under 40 deliveries/s counts as a failure."""
    return 60 + webhooks / 40
