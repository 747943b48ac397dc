"""Exercising a loaded version on its example, and saying what to do when loading fails.

`exercise` is the predicting half of the one warm-up, serving_app.loaded.version_warm_up
(load, then predict on the example), which a serving process, the warm-up task and the load
check all run. No Django here.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from serving_app.inputs import InputSpec, example_rows, to_jsonable


class NothingToPredict(ValueError):
    """A version with neither an input example nor a signature cannot be exercised."""


@dataclass(frozen=True)
class Exercise:
    rows: int
    output_type: str
    output_shape: list[int]
    predict_ms: float  # the fastest round
    first_predict_ms: float

    def as_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "output_type": self.output_type,
                "output_shape": self.output_shape, "predict_ms": round(self.predict_ms, 3),
                "first_predict_ms": round(self.first_predict_ms, 3)}


def _shape(output: Any) -> list[int]:
    shape = getattr(output, "shape", None)
    if shape is not None:
        return [int(n) for n in shape]
    return [len(output)] if hasattr(output, "__len__") else []


def exercise(predict: Callable[[Any], Any], spec: InputSpec, *,
             signature: Mapping[str, Any] | None, input_example: Any,
             rounds: int = 1) -> Exercise | None:
    """Predict on the version's input example (else a row made from its signature) `rounds`
    times, checking one answer per row. None when there is nothing to predict on."""
    rows = example_rows(signature, input_example)
    if rows is None:
        return None
    times = []
    output: Any = None
    n = 0
    for _ in range(max(1, rounds)):
        started = time.perf_counter()
        model_input, n = spec.prepare(rows)
        output = predict(model_input)
        to_jsonable(output, n)
        times.append((time.perf_counter() - started) * 1000)
    return Exercise(rows=n, output_type=f"{type(output).__module__}.{type(output).__qualname__}",
                    output_shape=_shape(output), predict_ms=min(times),
                    first_predict_ms=times[0])


def failure_hint(exc: BaseException, *, platform_package: Sequence[str],
                 platform_paths: Sequence[str]) -> str:
    """A sentence naming the setting or package to add, for a version that failed to load."""
    if isinstance(exc, ModuleNotFoundError):
        name = exc.name or ""
        top = name.split(".")[0]
        for package in platform_package:
            package_top = package.split(".")[0]
            if name and (top == package_top or name.startswith(package)):
                where = ", ".join(platform_paths) or "empty"
                return (f"The platform package {package} cannot be imported: add the folder "
                        f"that holds {package_top}/ to PLATFORM_MODEL_PATHS (now {where}) in "
                        "the environment of the web processes and the Celery workers.")
        return (f"The module {name or '?'} is not installed where serving runs: add its "
                f"package to requirements.txt (pip install {top or name}) and restart.")
    if type(exc).__name__ == "ArtifactRefused" and "cannot be imported here" in str(exc):
        where = ", ".join(platform_paths) or "empty"
        return (f"A class of the platform package ({', '.join(platform_package)}) cannot be "
                f"imported: add the folder that holds it to PLATFORM_MODEL_PATHS (now {where}) "
                "in the environment of the web processes and the Celery workers.")
    if isinstance(exc, NothingToPredict):
        return ("Register the version with an input example or a signature, so it can be "
                "exercised before it serves.")
    if type(exc).__name__ == "ArtifactRefused" and getattr(exc, "code", "") == "not_a_model":
        return "The file does not hold a model with predict(); check what was saved."
    return ""
