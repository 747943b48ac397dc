"""Restricted loading against plain pickle and joblib, and the upload walker on a large file.

    .venv/bin/python bench/safe_load.py [--runs 15] [--large-mb 100]

1. Load time: the four demo models (demo/training.py) plus a LightGBM, an XGBoost and a
   RandomForest model, each as a protocol-5 pickle and as a joblib file (raw and zlib).
   restricted_loads against pickle.loads, restricted_joblib_load against joblib.load, the
   median of --runs loads each, alternating; the figure is the ratio. Target: overhead under 10%
   (ratio <= 1.10).
2. The upload walker (what registration runs) on each of those files, for scale.
3. The walker on a --large-mb joblib file on disk (a model holding one large array), raw
   and zlib-compressed: time and the peak memory it allocates while streaming. Target: the
   peak stays under 16 MiB whatever the file's size.
"""

from __future__ import annotations

import argparse
import io
import pickle
import statistics
import sys
import tempfile
import time
import tracemalloc
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import joblib  # noqa: E402
import numpy as np  # noqa: E402

from bench.harness import report  # noqa: E402
from models_app.safe_pickle import (  # noqa: E402
    GlobalPolicy,
    check_file,
    restricted_joblib_load,
    restricted_loads,
)
from models_app.vocabulary import ArtifactFormat  # noqa: E402


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15, help="repetitions per figure")
    parser.add_argument("--large-mb", type=int, default=100, help="size of the large file")
    return parser.parse_args()


def models() -> dict[str, object]:
    import lightgbm as lgb
    import xgboost as xgb
    from sklearn.ensemble import RandomForestClassifier

    from demo import training

    out: dict[str, object] = {}
    for name, spec in training.SPECS.items():
        out[f"demo {name}"] = training.train(name, spec.baseline).estimator
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5000, 20))
    y = (x[:, 0] + x[:, 1] * x[:, 2] > 0).astype(int)
    out["lightgbm 200 trees"] = lgb.LGBMClassifier(n_estimators=200, verbose=-1).fit(x, y)
    out["xgboost 200 trees"] = xgb.XGBClassifier(n_estimators=200, n_jobs=1).fit(x, y)
    out["random forest 100 trees"] = RandomForestClassifier(
        n_estimators=100, n_jobs=1, random_state=0).fit(x, y)
    return out


def paired_ms(plain, restricted, runs: int) -> tuple[float, float]:
    """Medians of alternating runs, so load on a shared machine hits both sides alike."""
    plain(), restricted()  # warm caches (imports, resolved globals)
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(runs):
        for side, call in enumerate((plain, restricted)):
            start = time.perf_counter()
            call()
            times[side].append((time.perf_counter() - start) * 1000)
    return statistics.median(times[0]), statistics.median(times[1])


def median_ms(call, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def joblib_bytes(obj: object, compress: object = 0) -> bytes:
    buffer = io.BytesIO()
    joblib.dump(obj, buffer, compress=compress)
    return buffer.getvalue()


def main() -> int:
    args = parse_args()
    warnings.simplefilter("ignore")
    policy = GlobalPolicy(platform_packages=("src.ml",))  # the demo models are platform classes
    met = True
    print("training the models...", flush=True)
    trained = models()
    ratios: list[float] = []
    print(f"\n{'model / file':<40} {'size':>9} {'plain ms':>9} {'restricted ms':>13} "
          f"{'ratio':>6} {'walker ms':>10}")
    for label, obj in trained.items():
        files = [("pickle", pickle.dumps(obj, protocol=5)), ("joblib", joblib_bytes(obj)),
                 ("joblib zlib", joblib_bytes(obj, ("zlib", 3)))]
        for kind, data in files:
            if kind == "pickle":
                plain, restricted = paired_ms(lambda d=data: pickle.loads(d),  # noqa: S301
                                              lambda d=data: restricted_loads(d, policy),
                                              args.runs)
            else:
                plain, restricted = paired_ms(
                    lambda d=data: joblib.load(io.BytesIO(d)),
                    lambda d=data: restricted_joblib_load(io.BytesIO(d), policy), args.runs)
            walker = median_ms(lambda d=data, k=kind: check_file(
                io.BytesIO(d), ArtifactFormat.JOBLIB if k != "pickle" else ArtifactFormat.PICKLE,
                policy), args.runs)
            ratio = restricted / plain
            ratios.append(ratio)
            print(f"{label + ' ' + kind:<40} {len(data) / 1024:>7.0f}KB {plain:>9.2f} "
                  f"{restricted:>13.2f} {ratio:>6.3f} {walker:>10.2f}", flush=True)
            met &= report(f"  restricted/plain load time, {label} {kind}", ratio, 1.10, "x")
    print(f"median ratio over all {len(ratios)} files: {statistics.median(ratios):.3f}; "
          f"geometric mean {statistics.geometric_mean(ratios):.3f}\n")
    count = args.large_mb * 1024 * 1024 // 8
    large = {"weights": np.random.default_rng(1).normal(size=count), "model": trained[
        "random forest 100 trees"]}
    with tempfile.TemporaryDirectory() as folder:
        for kind, compress in (("raw", 0), ("zlib", ("zlib", 1))):
            path = Path(folder) / f"large-{kind}.joblib"
            joblib.dump(large, path, compress=compress)
            size_mb = path.stat().st_size / 1024 / 1024

            def walk(p: Path = path) -> None:
                with open(p, "rb") as stream:
                    check_file(stream, ArtifactFormat.JOBLIB, policy)

            seconds = median_ms(walk, max(3, args.runs // 2)) / 1000
            tracemalloc.start()
            walk()
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            print(f"walker on a {size_mb:.0f} MB {kind} joblib file: {seconds:.2f} s "
                  f"({size_mb / seconds:.0f} MB/s)", flush=True)
            met &= report(f"  walker peak memory, {size_mb:.0f} MB {kind} joblib",
                          peak / 1024 / 1024, 16, "MiB")
    print("\nall targets met" if met else "\nsome targets missed")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
