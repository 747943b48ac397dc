"""Experiment tracking through the REST API against a real gunicorn server.

Starts gunicorn through bench/harness.py (the project's gunicorn.conf.py, 127.0.0.1, a free
port, a fresh SQLite database and artifact folder in a temporary directory, migrated, with a
user and token), then measures over one keep-alive requests.Session:

  1. single metric logs (POST runs/{id}/log-metric/), median latency    target <= 2 ms
  2. 100,000 points by log-batch (1,000 per request, MLflow's cap)       target >= 80,000 pts/s
     (ten times MLflow 3.17's 8,172 points/s measured on this machine)
  3. the history of a 100,000-point metric downsampled to 1,000 points   target <= 100 ms
  4. comparison of 50 runs (10 params, 10 metrics each)                  target <= 50 ms

Each figure is the median over --rounds rounds. The server is stopped (its whole process
group) on the way out, whatever happens. Usage: .venv/bin/python bench/tracking.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import orjson  # noqa: E402
from harness import report, server  # noqa: E402

SINGLE_LOGS = 2000
BATCH_POINTS = 100_000
BATCH_SIZE = 1000
HISTORY_POINTS = 1000
COMPARED_RUNS = 50
MLFLOW_BATCH_POINTS_PER_S = 8172.0
JSON = {"Content-Type": "application/json"}


class Api:
    def __init__(self, base: str, session):
        self.base = base
        self.session = session

    def post(self, path: str, body: dict) -> dict:
        response = self.session.post(f"{self.base}/{path}", json=body, timeout=60)
        if response.status_code >= 300:
            raise SystemExit(f"POST {path}: {response.status_code} {response.text[:300]}")
        return response.json()

    def get(self, path: str, **params) -> dict:
        response = self.session.get(f"{self.base}/{path}", params=params, timeout=60)
        if response.status_code >= 300:
            raise SystemExit(f"GET {path}: {response.status_code} {response.text[:300]}")
        return response.json()


def bench_single(api: Api, experiment: str) -> float:
    run_id = api.post("runs/", {"experiment": experiment, "name": "single"})["run_id"]
    url = f"{api.base}/runs/{run_id}/log-metric/"
    post = api.session.post
    times = []
    stamp = int(time.time() * 1000)
    for step in range(SINGLE_LOGS):
        body = {"key": "loss", "value": 1.0 / (step + 1), "step": step, "timestamp": stamp}
        start = time.perf_counter()
        response = post(url, data=orjson.dumps(body), headers=JSON)
        times.append(time.perf_counter() - start)
        if response.status_code != 201:
            raise SystemExit(f"log-metric: {response.status_code} {response.text[:300]}")
    return statistics.median(times) * 1000


def bench_batch(api: Api, experiment: str) -> tuple[float, str]:
    run_id = api.post("runs/", {"experiment": experiment, "name": "batch"})["run_id"]
    rng = random.Random(7)
    stamp = int(time.time() * 1000)
    bodies = []
    for start in range(0, BATCH_POINTS, BATCH_SIZE):
        bodies.append({"metrics": [
            {"key": "loss", "value": math.exp(-step / 20000) + rng.random() * 0.01,
             "step": step, "timestamp": stamp + step}
            for step in range(start, start + BATCH_SIZE)
        ]})
    url = f"{api.base}/runs/{run_id}/log-batch/"
    post = api.session.post
    began = time.perf_counter()
    for body in bodies:  # the client's work (encoding the JSON) is inside the timing
        response = post(url, data=orjson.dumps(body), headers=JSON)
        if response.status_code != 200:
            raise SystemExit(f"log-batch: {response.status_code} {response.text[:300]}")
    elapsed = time.perf_counter() - began
    return BATCH_POINTS / elapsed, run_id


def bench_history(api: Api, run_id: str, repeats: int = 20) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        data = api.get(f"runs/{run_id}/metrics/loss/history/", max_points=HISTORY_POINTS)
        times.append(time.perf_counter() - start)
    assert data["total_points"] == BATCH_POINTS, data["total_points"]
    assert data["returned_points"] <= HISTORY_POINTS
    return statistics.median(times) * 1000


def bench_compare(api: Api, experiment: str, repeats: int = 20) -> float:
    run_ids = []
    for number in range(COMPARED_RUNS):
        run_id = api.post("runs/", {"experiment": experiment, "name": f"cmp-{number}"})["run_id"]
        api.post(f"runs/{run_id}/log-batch/", {
            "params": {f"p{i}": str(i if i % 3 else number) for i in range(10)},
            "metrics": [{"key": f"m{i}", "value": number * 0.01 + i, "step": 0}
                        for i in range(10)],
        })
        run_ids.append(run_id)
    joined = ",".join(run_ids)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        data = api.get("runs/compare/", run_ids=joined)
        times.append(time.perf_counter() - start)
    assert len(data["run_ids"]) == COMPARED_RUNS
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    with server() as running:
        session = running.session()
        # Loopback, no proxy, no .netrc: skip requests' per-request environment lookups.
        session.trust_env = False
        api = Api(f"{running.base}/api/v1", session)
        api.get("experiments/")  # warm both workers' imports
        api.get("experiments/")
        results: dict[str, list[float]] = {"single": [], "batch": [], "history": [],
                                           "compare": []}
        for number in range(args.rounds):
            experiment = f"bench-{number}"
            results["single"].append(bench_single(api, experiment))
            rate, run_id = bench_batch(api, experiment)
            results["batch"].append(rate)
            results["history"].append(bench_history(api, run_id))
            results["compare"].append(bench_compare(api, experiment))
            print(f"round {number + 1}: single {results['single'][-1]:.2f} ms, "
                  f"batch {rate:,.0f} points/s, history {results['history'][-1]:.1f} ms, "
                  f"compare {results['compare'][-1]:.1f} ms", flush=True)

    print(f"\nexperiment tracking, SQLite, gunicorn 2 workers x 4 threads, "
          f"medians over {args.rounds} rounds:")
    median = statistics.median
    report("single metric log (POST log-metric), median latency", median(results["single"]),
           2.0, "ms")
    report("100,000 points by log-batch (1,000 per request)", median(results["batch"]),
           80_000.0, "pts/s", higher_is_better=True,
           reference=("MLflow 3.17", MLFLOW_BATCH_POINTS_PER_S))
    report("history of 100,000 points downsampled to 1,000", median(results["history"]),
           100.0, "ms")
    report("comparison of 50 runs (10 params, 10 metrics each)", median(results["compare"]),
           50.0, "ms")


if __name__ == "__main__":
    main()
