"""Registry reads at scale on PostgreSQL (issue 18): seeds its own database in bulk (COPY)
to 10^3 ... 10^6 versions and times each request of the issue's first table through the
REST API (the Django test client: the whole request path but the socket), median of 20,
with the growth ratio between sizes. Prints figures; asserts nothing.

Shape at N versions: model `ranking` holds N/10 of them (the one that grows: 100 ...
100,000 versions), the rest are N/1000 models of 900 versions each (1,001 models at 10^6),
registrations interleaved across models as on a live system. Tags
{"team": one of 20, "env": "research"}, metrics auc ~ U(0.5, 0.9) and rmse, stages mostly
draft, one production per model.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/axion_scalereg_bench \\
        .venv/bin/python bench/scale_registry.py [--sizes 1000,10000,100000,1000000]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import pickle
import random
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DEFAULT_DATABASE = "postgres://postgres@127.0.0.1:5432/axion_scalereg_bench"
os.environ.setdefault("DATABASE_URL", DEFAULT_DATABASE)
os.environ.setdefault("CELERY_BROKER_URL", "memory://")
os.environ.setdefault("ARTIFACT_ROOT", "/tmp/axion-scalereg-bench-artifacts")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "axion_registry.settings")

FILLER_VERSIONS = 900  # per model beside `ranking`
BIG_MODEL = "ranking"
REPEATS = 20


def ensure_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as admin:
        if not admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            admin.execute(f'CREATE DATABASE "{name}"')


def semver(index: int) -> tuple[int, int, int]:
    return 1 + index // 10_000, (index // 100) % 100, index % 100


STAGES = ["draft"] * 70 + ["archived"] * 15 + ["deprecated"] * 10 + ["staging"] * 5
FRAMEWORKS = ["sklearn", "lightgbm", "xgboost"]


def version_row(model_id: int, index: int, rng: random.Random, start: datetime) -> tuple:
    major, minor, patch = semver(index)
    stage = "production" if index == 0 else rng.choice(STAGES)
    return (
        model_id, f"{major}.{minor}.{patch}", major, minor, patch, stage,
        rng.choice(FRAMEWORKS), "pickle",
        json.dumps({"auc": round(rng.uniform(0.5, 0.9), 4),
                    "rmse": round(rng.uniform(0.01, 0.1), 4)}),
        json.dumps({"depth": rng.randint(2, 9), "lr": 0.1}),
        json.dumps({"team": f"team-{rng.randrange(20)}", "env": "research",
                    **({"gpu": ""} if rng.random() < 0.1 else {})}),
        "", "{}", f"bench/{model_id}/{index}.pkl", "0" * 64, 1000, "", "", "", "numpy",
        "passed", "{}", "{}", start + timedelta(seconds=index), index + 1,
    )


COLUMNS = ("model_id", "version", "major", "minor", "patch", "stage", "framework",
           "artifact_format", "metrics", "hyperparameters", "tags", "description",
           "signature", "artifact_path", "artifact_sha256", "artifact_size",
           "signature_bundle", "signed_with", "source_run_id", "serving_input",
           "load_check_status", "load_check", "verified_metrics", "created_at", "sequence")


def copy_versions(rows: Callable[[], Any], total: int) -> None:
    from django.db import connection

    started = time.perf_counter()
    with connection.cursor() as cursor:
        raw = cursor.cursor
        with raw.copy(f"COPY model_versions ({', '.join(COLUMNS)}) FROM STDIN") as copy:
            for done, row in enumerate(rows(), 1):
                copy.write_row(row)
                if done % 100_000 == 0:
                    rate = done / (time.perf_counter() - started)
                    print(f"    {done:>9,} / {total:,} versions ({rate:,.0f}/s)", flush=True)


def seed(size: int, rng: random.Random) -> None:
    """Grow the catalogue to `size` versions (only adds rows)."""
    from django.db import connection
    from django.db.models import Count

    from models_app.models import ModelVersion, RegisteredModel
    from models_app.version_metrics import backfill

    start = datetime(2024, 1, 1, tzinfo=UTC)
    big, _ = RegisteredModel.objects.get_or_create(
        name=BIG_MODEL, defaults={"gates": {"load_check": False}})
    fillers = max(1, size // 1000)
    have = set(RegisteredModel.objects.filter(name__startswith="model-")
               .values_list("name", flat=True))
    RegisteredModel.objects.bulk_create([
        RegisteredModel(name=f"model-{i:04}") for i in range(fillers)
        if f"model-{i:04}" not in have])
    counts = dict(ModelVersion.objects.order_by().values_list("model_id").annotate(
        n=Count("id")))
    plan: list[tuple[int, int, int]] = [(big.pk, counts.get(big.pk, 0), size // 10)]
    for model_id in RegisteredModel.objects.filter(
            name__startswith="model-").values_list("id", flat=True):
        plan.append((model_id, counts.get(model_id, 0), FILLER_VERSIONS))
    total = sum(max(0, want - have_n) for _, have_n, want in plan)
    print(f"  seeding {total:,} versions over {len(plan):,} models", flush=True)
    started = time.perf_counter()

    def rows() -> Any:
        """Models' registrations interleaved, as years of use leave them on disk."""
        turns = [model_id for model_id, have_n, want in plan
                 for _ in range(max(0, want - have_n))]
        rng.shuffle(turns)
        next_index = {model_id: have_n for model_id, have_n, _ in plan}
        for model_id in turns:
            yield version_row(model_id, next_index[model_id], rng, start)
            next_index[model_id] += 1

    copy_versions(rows, total)
    print(f"  metric rows: {backfill(connection):,} added", flush=True)
    # What autovacuum does after a bulk insert: statistics, and the visibility map that lets
    # an index-only scan (the metric threshold's) skip the heap.
    with connection.cursor() as cursor:
        for table in ("model_versions", "models_app_registeredmodel",
                      "models_app_versionmetric"):
            cursor.execute(f"VACUUM ANALYZE {table}")
    print(f"  seeded in {time.perf_counter() - started:.1f} s "
          f"({ModelVersion.objects.count():,} versions)", flush=True)


def timed(call: Callable[[], Any]) -> float:
    start = time.perf_counter()
    call()
    return (time.perf_counter() - start) * 1000


def median_ms(call: Callable[[], Any], repeats: int = REPEATS) -> float:
    call()  # warm: the plan and the token are cached from here on
    return statistics.median(timed(call) for _ in range(repeats))


def measure(size: int, client: Any, artifact: bytes) -> dict[str, float]:
    def get(path: str) -> dict[str, Any]:
        response = client.get(f"/api/v1/{path}")
        assert response.status_code == 200, response.content[:300]
        return response.json()

    def walk(model: str) -> int:
        page = get(f"models/{model}/versions/?page_size=1000")
        seen = len(page["results"])
        while page["next"]:
            response = client.get(page["next"])
            page = response.json()
            seen += len(page["results"])
        return seen

    figures: dict[str, float] = {}
    versions = f"models/{BIG_MODEL}/versions/"
    figures["versions list, first page of 50"] = median_ms(
        lambda: get(f"{versions}?page_size=50"))
    figures["versions list, last page of 50"] = median_ms(
        lambda: get(f"{versions}?page_size=50&page=last"))
    figures["versions list, page 10 of 50 (?page=10)"] = median_ms(
        lambda: get(f"{versions}?page_size=50&page=10"))
    repeats = 3 if size >= 100_000 else 5
    walked = walk(BIG_MODEL)
    every = f"every version of {BIG_MODEL} (N/10), pages of 1,000"
    figures[every] = median_ms(lambda: walk(BIG_MODEL), repeats)
    figures["  the same, per 1,000 versions read"] = figures[every] / walked * 1000
    figures["every version of model-0000 (900), pages of 1,000"] = median_ms(
        lambda: walk("model-0000"), repeats)
    figures["latest version (?page_size=1)"] = median_ms(
        lambda: get(f"{versions}?page_size=1"))
    figures["latest version (versions/latest/)"] = median_ms(lambda: get(f"{versions}latest/"))
    figures["latest staging version (latest/?stage=staging)"] = median_ms(
        lambda: get(f"{versions}latest/?stage=staging"))
    figures["model detail with latest_version"] = median_ms(lambda: get(f"models/{BIG_MODEL}/"))
    searches = {
        "search by tag (tag=team:team-7)": "tag=team:team-7",
        "search by tag presence (tag=gpu)": "tag=gpu",
        "search by two tags (team-7 and gpu)": "tag=team:team-7&tag=gpu",
        "search by metric (metric=auc>=0.85)": "metric=auc>=0.85",
        "search by rare metric (metric=auc>=0.899, 1 in 400)": "metric=auc>=0.899",
        "search by rarer metric (metric=auc>=0.8998, 1 in 2,000)": "metric=auc>=0.8998",
        "search by name (name=model-000)": "name=model-000",
        "search by stage (stage=staging)": "stage=staging",
        "search by name and stage": "name=rank&stage=production",
        "search, newest first (ordering=-created_at)": "ordering=-created_at",
    }
    for label, query in searches.items():
        figures[label] = median_ms(partial(get, f"versions/?{query}&page_size=50"))
    figures["register one version"], figures["promote one (staging -> production)"] = (
        writes(client, artifact))
    return figures


def writes(client: Any, artifact: bytes) -> tuple[float, float]:
    register, promote = [], []
    for _ in range(REPEATS):
        metadata = json.dumps({"framework": "sklearn", "artifact_format": "pickle",
                               "bump": "patch", "metrics": {"auc": 0.8}})
        start = time.perf_counter()
        response = client.post(f"/api/v1/models/{BIG_MODEL}/versions/", {
            "artifact": io.BytesIO(artifact), "metadata": metadata}, format="multipart")
        register.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 201, response.content[:300]
        version = response.json()["version"]
        path = f"/api/v1/models/{BIG_MODEL}/versions/{version}/transition/"
        assert client.post(path, {"to": "staging"}, format="json").status_code == 200
        start = time.perf_counter()
        response = client.post(path, {"to": "production", "reason": "bench"}, format="json")
        promote.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, response.content[:300]
    return statistics.median(register), statistics.median(promote)


def print_table(results: dict[int, dict[str, float]]) -> None:
    sizes = sorted(results)
    labels = list(results[sizes[-1]])
    head = "| request | " + " | ".join(f"{s:,} versions" for s in sizes)
    steps = zip(sizes, sizes[1:], strict=False)
    head += " | " + " | ".join(f"x{b // a} growth" for a, b in steps) + " |"
    print("\n" + head)
    print("|" + " --- |" * (1 + 2 * len(sizes) - 1))
    for label in labels:
        cells = [results[s].get(label) for s in sizes]
        shown = [f"{c:,.2f} ms" if c is not None else "" for c in cells]
        ratios = [f"{b / a:.2f}" if a and b else "" for a, b in zip(cells, cells[1:], strict=False)]
        print(f"| {label} | " + " | ".join(shown + ratios) + " |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000,1000000")
    parser.add_argument("--fresh", action="store_true", help="drop the seeded versions first")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    ensure_database(os.environ["DATABASE_URL"])

    import django

    django.setup()
    import numpy as np
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from rest_framework.test import APIClient
    from sklearn.linear_model import LogisticRegression

    settings.ALLOWED_HOSTS = ["*"]
    call_command("migrate", "--noinput", verbosity=0)
    from django.db import connection

    if args.fresh:
        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE model_versions, models_app_registeredmodel CASCADE")
    user, _ = get_user_model().objects.get_or_create(
        username="bench", defaults={"is_superuser": True, "is_staff": True})
    client = APIClient()
    client.force_authenticate(user)
    features = np.random.default_rng(0).normal(size=(50, 4))
    artifact = pickle.dumps(LogisticRegression().fit(features, features[:, 0] > 0))
    rng = random.Random(18)
    results: dict[int, dict[str, float]] = {}
    for size in sizes:
        print(f"\n== {size:,} versions", flush=True)
        seed(size, rng)
        results[size] = measure(size, client, artifact)
        for label, value in results[size].items():
            print(f"  {label:<52} {value:>10.2f} ms", flush=True)
        print_table(results)


if __name__ == "__main__":
    main()
