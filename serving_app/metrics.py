"""Latency tracking per process: fixed buckets in memory, no database write per request.

Each request adds one count to a (minute, version, outcome) histogram held here and one
observation to a prometheus_client Histogram. A flush (serving_app.flusher, a thread in
each process) drains the minute histograms into LatencyMinute rows. /metrics renders the
Prometheus histograms; under gunicorn they use prometheus_client's multiprocess mode
(PROMETHEUS_MULTIPROC_DIR, set up by axion_registry/gunicorn.conf.py) so any worker
answers for all of them.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

from serving_app import histogram

OK = "ok"
FALLBACK = "fallback"
ERROR = "error"
OUTCOMES = (OK, FALLBACK, ERROR)

REQUEST_SECONDS = Histogram(
    "axion_serving_request_duration_seconds",
    "Prediction request latency by model, version and outcome (ok, fallback, error).",
    ["model", "version", "outcome"],
    buckets=histogram.BOUNDS_SECONDS,
)
SWAPS = Counter("axion_serving_swaps", "Routes swapped to a new deployment, per model.",
                ["model"])
LOAD_FAILURES = Counter("axion_serving_load_failures",
                        "Versions that failed to load or warm up in a serving process.",
                        ["model", "version"])


@dataclass
class MinuteStats:
    model_name: str
    version: str
    counts: list[int] = field(default_factory=histogram.empty)
    total_ns: int = 0
    last_error: str = ""

    @property
    def count(self) -> int:
        return sum(self.counts)


# (minute start as epoch seconds, version id, outcome) -> MinuteStats
Snapshot = dict[tuple[int, int, str], MinuteStats]


class LatencyRecorder:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: Snapshot = {}
        self._children: dict[tuple[int, str], Any] = {}

    def prepare(self, model_name: str, version_id: int, version: str) -> None:
        """Create the Prometheus children ahead of traffic (part of a version's warm-up)."""
        for outcome in OUTCOMES:
            self._child(model_name, version_id, version, outcome)

    def _child(self, model_name: str, version_id: int, version: str, outcome: str) -> Any:
        key = (version_id, outcome)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = REQUEST_SECONDS.labels(model_name, version, outcome)
        return child

    def record(self, model_name: str, version_id: int, version: str, outcome: str,
               elapsed_ns: int, error: str = "") -> None:
        minute = int(time.time()) // 60 * 60
        index = histogram.slot(elapsed_ns)
        key = (minute, version_id, outcome)
        with self._lock:
            stats = self._pending.get(key)
            if stats is None:
                stats = self._pending[key] = MinuteStats(model_name, version)
            stats.counts[index] += 1
            stats.total_ns += elapsed_ns
            if error:
                stats.last_error = error
        self._child(model_name, version_id, version, outcome).observe(elapsed_ns / 1e9)

    def drain(self) -> Snapshot:
        with self._lock:
            snapshot, self._pending = self._pending, {}
        return snapshot

    def restore(self, snapshot: Snapshot) -> None:
        """Put back a snapshot whose flush failed, so the next flush carries it."""
        with self._lock:
            for key, stats in snapshot.items():
                current = self._pending.get(key)
                if current is None:
                    self._pending[key] = stats
                else:
                    histogram.merge(current.counts, stats.counts)
                    current.total_ns += stats.total_ns
                    current.last_error = current.last_error or stats.last_error


def render() -> tuple[bytes, str]:
    """The Prometheus text exposition for this deployment (all workers in multiprocess mode)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
