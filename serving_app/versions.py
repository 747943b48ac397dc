"""What a serving process holds per model: loaded versions, routes, prediction answers.

No database access here; serving_app.runtime builds these and swaps them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any

from serving_app import loader
from serving_app.inputs import InputSpec, to_jsonable
from serving_app.routing import ABRoute


class VersionBroken(RuntimeError):
    """The version failed to load or warm up in this process; it is never called."""


class PredictionTimeout(RuntimeError):
    pass


class LoadedVersion:
    """One version loaded (or refused) in this process."""

    __slots__ = ("record", "version_id", "version", "model_name", "label", "predict_fn",
                 "spec", "load_ms", "warm_ms", "error", "loaded_at")

    def __init__(self, record: loader.VersionRecord, predict_fn: Callable[[Any], Any] | None,
                 spec: InputSpec | None, *, load_ms: float | None = None, error: str = ""):
        self.record = record
        self.version_id = record.version_id
        self.version = record.version
        self.model_name = record.model_name
        self.label = record.label
        self.predict_fn = predict_fn
        self.spec = spec
        self.load_ms = load_ms
        self.warm_ms: float | None = None
        self.error = error
        self.loaded_at = time.time()

    def call(self, model_input: Any, n: int, timeout: float | None) -> list:
        if self.error:
            raise VersionBroken(self.error)
        if timeout is None:
            return to_jsonable(self.predict_fn(model_input), n)
        future = _timeout_pool().submit(self.predict_fn, model_input)
        try:
            output = future.result(timeout)
        except FutureTimeout as exc:
            raise PredictionTimeout(
                f"{self.label} took longer than the {timeout * 1000:.0f} ms timeout"
            ) from exc
        return to_jsonable(output, n)

    def describe(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "version_id": self.version_id,
            "loaded": not self.error,
            "warm": not self.error and self.warm_ms is not None,
            "load_ms": None if self.load_ms is None else round(self.load_ms, 3),
            "warm_ms": None if self.warm_ms is None else round(self.warm_ms, 3),
            "error": self.error or None,
        }


@dataclass(frozen=True, eq=False)
class Route:
    model_name: str
    model_id: int
    generation: int
    plan_seq: int
    primary: LoadedVersion | None
    fallback: LoadedVersion | None
    abtest: ABRoute | None = None
    champion: LoadedVersion | None = None
    challenger: LoadedVersion | None = None
    timeout: float | None = None
    built_at: float = field(default_factory=time.monotonic)

    def versions(self) -> list[LoadedVersion]:
        return [v for v in (self.primary, self.fallback, self.champion, self.challenger) if v]


@dataclass(slots=True)
class Prediction:
    model: str
    version: str
    version_id: int
    predictions: list
    arm: str | None
    fallback: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "version": self.version,
            "predictions": self.predictions,
            "arm": self.arm,
            "fallback": self.fallback,
        }


_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _timeout_pool() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        with _pool_lock:
            if _pool is None:
                _pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="serving-timeout")
    return _pool
