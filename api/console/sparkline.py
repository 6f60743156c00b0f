"""An attempts sparkline: one stacked bar per hour, by status class, drawn as inline SVG by the
`sparkline` macro (templates/macros.html) from the geometry computed here."""

from __future__ import annotations

from dataclasses import dataclass, field

CLASSES = ("2xx", "3xx", "4xx", "5xx", "network")  # bottom to top
WIDTH = 168
HEIGHT = 28
GAP = 1


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    status_class: str
    title: str


@dataclass
class Sparkline:
    width: int = WIDTH
    height: int = HEIGHT
    bars: list[Bar] = field(default_factory=list)
    totals: dict[str, int] = field(default_factory=dict)

    @property
    def label(self) -> str:
        if not self.totals:
            return "No attempts in the last 24 hours"
        parts = ", ".join(f"{n} {c}" for c, n in self.totals.items())
        return f"Attempts in the last 24 hours, by status: {parts}"


def status_class(status_code: int | None) -> str:
    if status_code is None:
        return "network"
    return f"{min(max(status_code // 100, 2), 5)}xx"


def build(buckets: list[dict[str, int]], hours_ago_first: int | None = None) -> Sparkline:
    """`buckets`: attempts per status class for each hour, oldest first."""
    spark = Sparkline()
    if not buckets:
        return spark
    slot = WIDTH / len(buckets)
    tallest = max((sum(b.values()) for b in buckets), default=0)
    first = hours_ago_first if hours_ago_first is not None else len(buckets)
    for index, bucket in enumerate(buckets):
        y = float(HEIGHT)
        for name in CLASSES:
            count = bucket.get(name, 0)
            if not count:
                continue
            spark.totals[name] = spark.totals.get(name, 0) + count
            height = max(1.0, HEIGHT * count / tallest)
            y -= height
            hours = first - index
            spark.bars.append(
                Bar(
                    x=round(index * slot, 2),
                    y=round(max(y, 0.0), 2),
                    width=round(max(slot - GAP, 1.0), 2),
                    height=round(height, 2),
                    status_class=name,
                    title=f"{count} {name}, {hours - 1} to {hours} h ago",
                )
            )
    spark.totals = {name: spark.totals[name] for name in CLASSES if name in spark.totals}
    return spark
