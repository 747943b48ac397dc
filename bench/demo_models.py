"""The four demo models end to end: seeded as `make run` seeds them (platform classes imported
with import_model, load-checked), then served in process with the columns of every request
in reverse order, against the same object's own predict on a DataFrame.

Prints per model: the load check (whole check, load, predict on the example), the serving
predict() latency (median of several runs, one row and 100 rows) and the largest absolute
difference between served and in-process predictions over 100 rows.

Usage: .venv/bin/python bench/demo_models.py [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import pickle
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="axion-bench-demo-")
    os.environ.update(AXION_VAR_DIR=folder, CELERY_BROKER_URL="memory://",
                      PLATFORM_MODEL_PATHS=str(ROOT / "demo" / "platform"),
                      DJANGO_SETTINGS_MODULE="axion_registry.settings",
                      SERVING_FLUSH_SECONDS="0", OMP_NUM_THREADS="1")
    import io

    import django

    django.setup()
    import numpy as np
    import pandas as pd
    from django.core.management import call_command

    from demo import synthetic
    from models_app import artifacts
    from models_app.models import ModelVersion
    from models_app.vocabulary import Stage
    from serving_app.runtime import ServingRuntime, predict, reset_runtime

    call_command("migrate", verbosity=0)
    call_command("seed_demo", "--outcomes", "60", stdout=io.StringIO())
    reset_runtime(ServingRuntime(background=False))
    rng = np.random.default_rng(7)
    print(f"Demo models (platform classes), served in process ({args.runs} runs, medians)")
    print(f"  {'model':<18} {'check s':>8} {'load ms':>8} {'example ms':>10} "
          f"{'serve 1 row':>11} {'serve 100':>10} {'max |served - in-process|':>26}")
    for version in ModelVersion.objects.filter(stage=Stage.PRODUCTION).select_related("model"):
        name = version.model.name
        check = version.load_check
        with artifacts.artifact_open(version.artifact_path) as stream:
            obj = pickle.loads(stream.read())  # noqa: S301 - our own seeded artifact
        rows = pd.DataFrame(synthetic.example_records(name, 100, rng))
        reversed_columns = list(rows.columns)[::-1]
        body = {"dataframe_split": {"columns": reversed_columns,
                                    "data": rows[reversed_columns].to_numpy().tolist()}}
        served = pd.DataFrame(predict(name, body).predictions)
        expected = obj.predict(rows)
        numeric = [c for c in expected.columns if pd.api.types.is_numeric_dtype(expected[c])]
        difference = float(np.abs(served[numeric].to_numpy(float)
                                  - expected[numeric].to_numpy(float)).max())
        same_labels = all((served[c] == expected[c]).all() for c in expected.columns
                          if c not in numeric)
        one = {"dataframe_split": {"columns": reversed_columns,
                                   "data": rows[reversed_columns].head(1).to_numpy().tolist()}}
        timings: dict[int, list[float]] = {1: [], 100: []}
        for _ in range(args.runs):
            for n, payload in ((1, one), (100, body)):
                calls = 200 if n == 1 else 40
                started = time.perf_counter_ns()
                for _ in range(calls):
                    predict(name, payload)
                timings[n].append((time.perf_counter_ns() - started) / calls / 1e6)
        print(f"  {name:<18} {check['check_seconds']:>8.2f} {check['load_ms']:>8.0f} "
              f"{check['predict_ms']:>10.2f} {statistics.median(timings[1]):>9.2f}ms "
              f"{statistics.median(timings[100]):>8.2f}ms {difference:>26.3g}"
              + ("" if same_labels else "  (labels differ!)"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
