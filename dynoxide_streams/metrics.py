"""Server metrics in the Prometheus text format (``GET /_admin/metrics``).

One :class:`Metrics` per running server (held by the engine context) — no global
registry. Counters and histograms are plain numbers updated on the event loop;
gauges that describe live state (push subscribers, trigger lag) are computed by
collector callbacks when the metrics are read.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

Labels = tuple[tuple[str, str], ...]
Sample = tuple[Labels, float]


def _labels(labels: Labels) -> str:
    if not labels:
        return ""
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in labels)
    return "{" + inner + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer():
        return str(int(value))
    return repr(float(value))


@dataclass
class Counter:
    name: str
    help: str
    values: dict[Labels, float] = field(default_factory=dict)

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        self.values[key] = self.values.get(key, 0.0) + amount

    def render(self) -> Iterable[str]:
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} counter"
        for labels, value in sorted(self.values.items()):
            yield f"{self.name}{_labels(labels)} {_number(value)}"


@dataclass
class Histogram:
    name: str
    help: str
    buckets: tuple[float, ...]
    counts: list[int] = field(default_factory=list)
    total: float = 0.0
    count: int = 0

    def __post_init__(self) -> None:
        self.counts = [0] * (len(self.buckets) + 1)

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.buckets, value)] += 1
        self.total += value
        self.count += 1

    def render(self) -> Iterable[str]:
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} histogram"
        running = 0
        for bound, count in zip((*self.buckets, math.inf), self.counts, strict=True):
            running += count
            yield f'{self.name}_bucket{{le="{_number(bound)}"}} {running}'
        yield f"{self.name}_sum {_number(self.total)}"
        yield f"{self.name}_count {self.count}"


@dataclass
class Gauge:
    """A gauge whose samples are computed when the metrics are read."""

    name: str
    help: str
    collect: Callable[[], list[Sample]]

    def render(self) -> Iterable[str]:
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} gauge"
        for labels, value in self.collect():
            yield f"{self.name}{_labels(labels)} {_number(value)}"


class Metrics:
    """Everything ``/_admin/metrics`` shows."""

    def __init__(self) -> None:
        self.requests = Counter(
            "dynoxide_requests_total", "API requests by operation and error (empty: success)."
        )
        self.write_batch_items = Histogram(
            "dynoxide_write_batch_items",
            "Item writes committed per Writer transaction (group commit size).",
            (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024),
        )
        self.commit_seconds = Histogram(
            "dynoxide_commit_seconds",
            "Time to decide, write and commit one Writer transaction.",
            (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
        )
        self.stream_records = Counter(
            "dynoxide_stream_records_appended_total", "Stream records appended to the change log."
        )
        self.ttl_expired = Counter(
            "dynoxide_ttl_items_expired_total", "Items deleted by the TTL sweeper."
        )
        self.checkpoint_failures = Counter(
            "dynoxide_checkpoint_failures_total",
            "WAL checkpoints that failed (a full disk); each is retried with back-off.",
        )
        self.gauges: list[Gauge] = []
        for counter in (self.stream_records, self.ttl_expired, self.checkpoint_failures):
            counter.inc(0)  # shown as 0 before the first event

    def gauge(self, name: str, help: str, collect: Callable[[], list[Sample]]) -> None:
        """Register a gauge computed at read time (replacing one of the same name)."""
        self.gauges = [g for g in self.gauges if g.name != name]
        self.gauges.append(Gauge(name, help, collect))

    def render(self) -> bytes:
        lines: list[str] = []
        metrics: list[Counter | Histogram | Gauge] = [
            self.requests,
            self.write_batch_items,
            self.commit_seconds,
            self.stream_records,
            self.ttl_expired,
            self.checkpoint_failures,
            *self.gauges,
        ]
        for metric in metrics:
            lines.extend(metric.render())
        return ("\n".join(lines) + "\n").encode()


CONTENT_TYPE = b"text/plain; version=0.0.4; charset=utf-8"
