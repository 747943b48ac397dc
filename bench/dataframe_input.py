"""DataFrame-input versus matrix-input serving, in process (no HTTP, no database).

The same LogisticRegression coefficients on 10 features, fitted once on a DataFrame (so
serving calls it with one: serving_input "dataframe") and once on a matrix ("numpy"). Each
call goes the request path's way: the version's InputSpec turns `dataframe_split` rows into
the model's input (serving_app.loader.input_spec decides its shape, as for a loaded version),
the model predicts, the answer becomes JSON-ready (LoadedVersion.call).
Prints medians of several runs, at 1 row and at 100 rows, the floors (the estimator's own
predict on a ready array or DataFrame), and the ratio against the target (<= 1.3x).

Usage: .venv/bin/python bench/dataframe_input.py [--runs 5] [--calls 2000]
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "axion_registry.settings")

import django  # noqa: E402

django.setup()

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402

from models_app.vocabulary import ArtifactFormat  # noqa: E402
from serving_app.loaded import LoadedVersion  # noqa: E402
from serving_app.loader import VersionRecord, input_spec  # noqa: E402

FEATURES = [f"x{i}" for i in range(10)]
SIGNATURE = {"inputs": [{"name": n, "type": "double"} for n in FEATURES]}
TARGET = 1.3


def versions() -> tuple[LoadedVersion, LoadedVersion, LogisticRegression, LogisticRegression]:
    rng = np.random.default_rng(11)
    x = rng.normal(size=(500, 10))
    y = (x[:, 0] - x[:, 3] + 0.5 * x[:, 7] > 0).astype(int)
    on_frame = LogisticRegression().fit(pd.DataFrame(x, columns=FEATURES), y)
    on_matrix = LogisticRegression().fit(x, y)
    loaded = []
    for number, model, mode in (("1.0.0", on_frame, "dataframe"), ("1.1.0", on_matrix, "numpy")):
        record = VersionRecord(1, 1, "bench", number, ArtifactFormat.PICKLE, "", "", 0, SIGNATURE,
                               serving_input=mode)
        loaded.append(LoadedVersion(record, model.predict, input_spec(record, model)))
    return loaded[0], loaded[1], on_frame, on_matrix


def cases_for(body: dict, data: np.ndarray, frame_version: LoadedVersion,
              matrix_version: LoadedVersion, on_frame: LogisticRegression,
              on_matrix: LogisticRegression) -> dict:
    ready_frame, ready_matrix = pd.DataFrame(data, columns=FEATURES), data.copy()
    return {
        "dataframe version": lambda: frame_version.answer(body, None),
        "matrix version": lambda: matrix_version.answer(body, None),
        "floor: predict(DataFrame)": lambda: on_frame.predict(ready_frame),
        "floor: predict(array)": lambda: on_matrix.predict(ready_matrix),
    }


def timed(call, calls: int) -> float:
    """Microseconds per call."""
    started = time.perf_counter_ns()
    for _ in range(calls):
        call()
    return (time.perf_counter_ns() - started) / calls / 1000


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    frame_version, matrix_version, on_frame, on_matrix = versions()
    rng = np.random.default_rng(3)
    ok = True
    print(f"DataFrame vs matrix input, in process ({args.runs} runs, medians, "
          f"{args.calls} calls each)")
    for rows in (1, 100):
        data = np.round(rng.normal(size=(rows, 10)), 4)
        body = {"dataframe_split": {"columns": FEATURES, "data": data.tolist()}}
        cases = cases_for(body, data, frame_version, matrix_version, on_frame, on_matrix)
        for call in cases.values():
            timed(call, 200)  # warm
        results: dict[str, list[float]] = {name: [] for name in cases}
        calls = max(50, args.calls // rows) if rows > 1 else args.calls
        for _ in range(args.runs):
            for name, call in cases.items():
                gc.collect()
                results[name].append(timed(call, calls))
        medians = {name: statistics.median(values) for name, values in results.items()}
        ratio = medians["dataframe version"] / medians["matrix version"]
        ok &= ratio <= TARGET
        print(f"  {rows} row(s):")
        for name, value in medians.items():
            print(f"    {name:<28} {value:8.1f} us")
        print(f"    [{'ok' if ratio <= TARGET else 'MISS'}] dataframe / matrix {ratio:.2f}x "
              f"(target <= {TARGET}x)")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
