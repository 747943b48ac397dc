"""A version loaded in this process, its call, and the one warm-up.

`version_warm_up` is "load, then predict on the example", for the three places that do it:
a serving process warming a version before it takes traffic (serving_app.route), the
warm-up task after a deployment (serving_app.services) and the load check before a version
leaves draft (serving_app.loadcheck). `LoadedVersion.call` is what a request runs; a
`Prediction` is its answer. No database access here.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any

from serving_app import loader
from serving_app.exercise import Exercise, exercise
from serving_app.inputs import InputSpec, to_jsonable


class VersionBroken(RuntimeError):
    """The version failed to load or warm up in this process; it is never called."""


class PredictionTimeout(RuntimeError):
    pass


class WarmUp:
    """One version loaded, then exercised on its input example (else a row made from its
    signature). After a failure in `run`, what was done so far stays readable (the load
    check lists the packages of a model that loaded but failed to predict)."""

    def __init__(self, record: loader.VersionRecord):
        self.record = record
        self.artifact: loader.LoadedArtifact | None = None
        self.load_ms: float | None = None
        self.exercised: Exercise | None = None  # None: nothing to predict on
        self.exercise_ms: float | None = None

    def run(self, *, rounds: int = 1) -> WarmUp:
        started = time.perf_counter()
        self.artifact = artifact = loader.load(self.record)
        self.load_ms = (time.perf_counter() - started) * 1000
        started = time.perf_counter()
        self.exercised = exercise(artifact.predict, artifact.spec,
                                  signature=self.record.signature,
                                  input_example=self.record.input_example, rounds=rounds)
        self.exercise_ms = (time.perf_counter() - started) * 1000
        return self


def version_warm_up(record: loader.VersionRecord, *, rounds: int = 1) -> WarmUp:
    """Load, then predict on the example; raises what loading or predicting raised."""
    return WarmUp(record).run(rounds=rounds)


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

    @classmethod
    def warmed(cls, warm: WarmUp) -> LoadedVersion:
        assert warm.artifact is not None, "a warm-up that ran has its artifact"
        version = cls(warm.record, warm.artifact.predict, warm.artifact.spec,
                      load_ms=warm.load_ms)
        version.warm_ms = warm.exercise_ms
        return version

    def answer(self, rows: Any, timeout: float | None) -> list:
        """The model's answers for the caller's rows (RowsError when they do not fit)."""
        if self.error or self.spec is None:
            raise VersionBroken(self.error)
        model_input, n = self.spec.prepare(rows)
        return self.call(model_input, n, timeout)

    def call(self, model_input: Any, n: int, timeout: float | None) -> list:
        if self.error or self.predict_fn is None:
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

    @property
    def unchecked(self) -> bool:
        """Loaded without a signature: nothing checked the caller's rows before the model."""
        return self.spec is not None and self.spec.columns is None

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
