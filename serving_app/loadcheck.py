"""The load check: a registered version loaded and exercised in a fresh Python process.

The worker hands the child the version (a VersionRecord), its model's evaluation datasets and
the serving settings of this deployment as JSON on stdin; the child sets Django up, loads the
version through serving_app.loader (the one loader), predicts on the input example (or a
row made from the signature), scores the evaluation datasets, and prints one JSON result
line. Nothing the model does can touch the worker, and a hang is cut off by the timeout.

    python -m serving_app.loadcheck < payload.json
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from models_app.vocabulary import LoadCheckStatus

RESULT_PREFIX = "AXION_LOAD_CHECK "
# The settings that decide how serving loads and calls a model (and where files are).
SERVING_SETTINGS = (
    "PLATFORM_MODEL_PATHS", "PLATFORM_MODEL_PACKAGE", "PICKLE_EXTRA_GLOBALS",
    "ARTIFACT_ROOT", "STORAGES", "MAX_ARTIFACT_BYTES", "ARTIFACT_CACHE_DIR",
    "ARTIFACT_CACHE_MAX_BYTES", "AWS_STORAGE_BUCKET_NAME", "AWS_S3_ENDPOINT_URL",
    "AWS_S3_REGION_NAME", "AWS_LOCATION", "AWS_S3_MAX_MEMORY_SIZE",
)


def payload_for(record: Any, *, datasets: list[dict[str, Any]], settings: Any) -> dict:
    return {
        "record": dataclasses.asdict(record),
        "datasets": datasets,
        "settings": {name: getattr(settings, name) for name in SERVING_SETTINGS
                     if hasattr(settings, name)},
    }


def check_in_fresh_process(payload: dict, *, timeout: float, cwd: str | Path) -> dict[str, Any]:
    """Run the check in a new interpreter; a failure to run it is a failed check."""
    env = dict(os.environ)
    env.setdefault("DJANGO_SETTINGS_MODULE", "axion_registry.settings")
    started = time.perf_counter()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "serving_app.loadcheck"],
            input=json.dumps(payload, default=str).encode(), capture_output=True,
            timeout=timeout, cwd=str(cwd), env=env, check=False,
        )
    except subprocess.TimeoutExpired:
        return {"status": LoadCheckStatus.FAILED,
                "error": f"the load check took longer than {timeout:g} s and was stopped",
                "hint": "A model that takes this long to load or to predict on its example "
                        "would stall serving; raise LOAD_CHECK_TIMEOUT_SECONDS if it is "
                        "really that slow."}
    for line in reversed(done.stdout.decode(errors="replace").splitlines()):
        if line.startswith(RESULT_PREFIX):
            result = json.loads(line[len(RESULT_PREFIX):])
            result["check_seconds"] = round(time.perf_counter() - started, 3)
            return result
    tail = done.stderr.decode(errors="replace").strip().splitlines()[-5:]
    return {"status": LoadCheckStatus.FAILED,
            "error": f"the check process ended ({done.returncode}) without a result: "
                     + " | ".join(tail)[:1500],
            "hint": "", "check_seconds": round(time.perf_counter() - started, 3)}


# -- in the child --------------------------------------------------------------------


def _rss_mb() -> dict[str, float]:
    values = {}
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(("VmRSS:", "VmHWM:")):
                values[line.split(":")[0]] = int(line.split()[1]) / 1024
    except OSError:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        values = {"VmRSS": peak, "VmHWM": peak}
    return values


def _packages(modules: set[str], obj: Any,
              platform_package: Sequence[str]) -> dict[str, list[str]]:
    """Distributions (name==version) of the modules the load imported and of the classes
    the model holds; modules no distribution ships (the platform's) listed apart."""
    from importlib import metadata

    from models_app.importing import class_modules

    tops = {m.split(".")[0] for m in modules} | {m.split(".")[0] for m in class_modules(obj)}
    tops -= set(sys.stdlib_module_names) | {"builtins", "__main__"}
    owners = metadata.packages_distributions()
    packages, local = set(), set()
    for top in tops:
        if top.startswith("_"):
            continue
        dists = owners.get(top)
        if not dists:
            local.add(next((p for p in platform_package if p.split(".")[0] == top), top))
            continue
        for dist in dists:
            try:
                packages.add(f"{dist}=={metadata.version(dist)}")
            except metadata.PackageNotFoundError:
                packages.add(dist)
    return {"packages": sorted(packages, key=str.lower), "local_modules": sorted(local)}


def _evaluate(artifact: Any, datasets: list[dict[str, Any]]) -> dict[str, Any]:
    import pandas as pd

    from models_app import artifacts
    from models_app.artifact_cache import ArtifactMismatch
    from models_app.evaluation import Answers, answers_of, score

    per_dataset, labels, answers = {}, [], []
    for dataset in datasets:
        try:
            cached = artifacts.artifact_cached(dataset["path"], dataset["sha256"])
        except ArtifactMismatch as exc:
            raise ValueError(f"evaluation dataset {dataset['name']}: the file does not match "
                             "its registered sha256") from exc
        with cached.file as stream:
            frame = (pd.read_parquet(stream) if dataset["file_format"] == "parquet"
                     else pd.read_csv(stream))
        y = frame.pop(dataset["label_column"])
        if artifact.spec.columns is not None:
            frame = frame[[c for c in frame.columns if c in artifact.spec.name_set]]
        model_input, _ = artifact.spec.prepare(frame)
        output = artifact.predict(model_input)
        proba = None
        if getattr(output, "ndim", 2) == 1 and hasattr(artifact.obj, "predict_proba"):
            proba = artifact.obj.predict_proba(model_input)
        got = answers_of(output, proba)
        per_dataset[dataset["name"]] = {"rows": len(y), "metrics": score(y, got)}
        labels.append(y)
        answers.append(got)
    pooled = score(pd.concat(labels, ignore_index=True), Answers.concat(answers))
    return {"datasets": per_dataset, "metrics": pooled}


def _loaded(warm: Any) -> dict[str, Any]:
    if warm.artifact is None or warm.load_ms is None:
        return {}
    obj = warm.artifact.obj
    return {"load_ms": round(warm.load_ms, 3),
            "object_type": f"{type(obj).__module__}.{type(obj).__qualname__}",
            "input": "dataframe" if warm.artifact.spec.dataframe else "numpy"}


def run(payload: dict) -> dict[str, Any]:
    """Load, exercise and score one version here; the result as JSON-ready data."""
    from django.conf import settings

    from serving_app import loader
    from serving_app.exercise import NothingToPredict, failure_hint
    from serving_app.loaded import WarmUp

    record = loader.VersionRecord(**payload["record"])
    warm = WarmUp(record)
    before = set(sys.modules)
    rss_before = _rss_mb()
    result: dict[str, Any] = {"status": LoadCheckStatus.FAILED,
                              "artifact_sha256": record.artifact_sha256,
                              "python": sys.version.split()[0]}
    try:
        try:
            warm.run(rounds=3)
        finally:  # what loaded, also when its prediction then failed
            result.update(_loaded(warm))
        done, artifact = warm.exercised, warm.artifact
        assert artifact is not None
        if done is None:
            raise NothingToPredict(f"{record.label} has no input example and no signature: "
                                   "there is nothing to predict on")
        result.update(done.as_dict())
        if payload.get("datasets"):
            result["evaluation"] = _evaluate(artifact, payload["datasets"])
        result["status"] = LoadCheckStatus.PASSED
    except Exception as exc:  # the version's failure is the result
        result["error"] = f"{type(exc).__name__}: {getattr(exc, 'message', exc)}"[:2000]
        result["hint"] = failure_hint(exc, platform_package=settings.PLATFORM_MODEL_PACKAGE,
                                      platform_paths=settings.PLATFORM_MODEL_PATHS)
        result["traceback"] = traceback.format_exc(limit=-6)[-3000:]
    after = _rss_mb()
    result["rss_mb"] = round(after.get("VmRSS", 0.0), 1)
    result["peak_rss_mb"] = round(after.get("VmHWM", 0.0), 1)
    result["model_rss_mb"] = round(after.get("VmRSS", 0.0) - rss_before.get("VmRSS", 0.0), 1)
    try:
        obj = warm.artifact.obj if warm.artifact is not None else None
        result.update(_packages(set(sys.modules) - before, obj,
                                settings.PLATFORM_MODEL_PACKAGE))
    except Exception as exc:  # the list is informative; never fail the check on it
        result["packages_error"] = str(exc)[:200]
    return result


def main() -> None:
    payload = json.loads(sys.stdin.buffer.read())
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "axion_registry.settings")
    import django
    from django.conf import settings

    django.setup()
    for name, value in payload.get("settings", {}).items():
        setattr(settings, name, value)
    result = run(payload)
    sys.stdout.write(RESULT_PREFIX + json.dumps(result, default=str) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
