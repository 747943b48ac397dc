"""Cluster benchmark: one and two simulated hosts (scripts/cluster.py) on this machine.

Each host: gunicorn with 2 gthread workers of 4 threads and a Celery worker; shared: one
PostgreSQL (a throwaway database, axion_cluster_bench unless BENCH_DATABASE_URL names
another), a Redis and a moto S3 bucket started for the run. Prints, medians of --runs runs:

- prediction throughput and p99 with 8 keep-alive clients spread over the hosts, and the
  ratio two hosts / one host;
- connections to the database (pg_stat_activity, the most seen while the load runs) with
  the psycopg pool (DATABASE_POOL_MAX_SIZE=2) and without it (0: one per thread);
- the time from a promotion (and a rollback) on host A to the first answer of the new
  version on host B, with a client on each of B's processes;
- a 500 MB artifact's first load from the bucket into a host's cache, and the next one from
  the cache (--big-mb 0 skips it).

Loads stay on 127.0.0.1; the script stops itself after DEADLINE_SECONDS.
Usage: .venv/bin/python bench/cluster.py [--runs 3] [--seconds 4] [--big-mb 500]
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import pickle
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from cluster import Cluster, Sizing, connections_in_use  # noqa: E402

MODEL = "bench-cluster"
FEATURES = [f"x{i}" for i in range(10)]
ROW = {name: round(0.1 * i - 0.3, 3) for i, name in enumerate(FEATURES)}
BODY = json.dumps({"records": [ROW]}).encode()
CLIENTS = 8
DEADLINE_SECONDS = 900


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


class Client:
    def __init__(self, port: int, token: str):
        self.headers = {"Content-Type": "application/json", "Authorization": f"Token {token}"}
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)

    def call(self, method: str, path: str, body: object = None) -> tuple[int, dict]:
        data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
        self.conn.request(method, path, data, self.headers)
        answer = self.conn.getresponse()
        raw = answer.read()
        return answer.status, json.loads(raw) if raw else {}


def seed(cluster: Cluster) -> None:
    """Four LogisticRegressions registered through host A; 1.0.0 in production."""
    import numpy as np
    import pandas as pd
    import requests
    from sklearn.linear_model import LogisticRegression

    host = cluster.hosts[0]
    client = Client(host.port, cluster.token)
    status, body = client.call("POST", "/api/v1/models/", {
        "name": MODEL, "gates": {"load_check": False}})
    assert status == 201, body
    rng = np.random.default_rng(11)
    frame = pd.DataFrame(rng.normal(size=(500, 10)), columns=FEATURES)
    labels = (frame["x0"] - frame["x3"] > 0).astype(int)
    for version, c in (("1.0.0", 1.0), ("1.1.0", 0.3), ("1.2.0", 0.5), ("1.3.0", 0.7)):
        artifact = pickle.dumps(LogisticRegression(C=c).fit(frame, labels))
        metadata = {"version": version, "framework": "sklearn", "artifact_format": "pickle",
                    "metrics": {"auc": 0.9}, "input_example": [ROW]}
        answer = requests.post(f"{host.base}/api/v1/models/{MODEL}/versions/",
                               headers={"Authorization": f"Token {cluster.token}"},
                               files={"artifact": ("model.pkl", io.BytesIO(artifact))},
                               data={"metadata": json.dumps(metadata)}, timeout=60)
        assert answer.status_code == 201, answer.text
        for stage in ("staging", "production") if version == "1.0.0" else ("staging",):
            status, body = client.call(
                "POST", f"/api/v1/models/{MODEL}/versions/{version}/transition/",
                {"to": stage, "reason": "bench"})
            assert status == 200, body


def warm(cluster: Cluster) -> None:
    """Every process of every host has served a few hundred predictions."""
    for host in cluster.hosts:
        clients = [Client(host.port, cluster.token) for _ in range(8)]
        for _ in range(60):
            for client in clients:
                assert client.call("POST", f"/api/v1/serve/{MODEL}/predict/", BODY)[0] == 200


def load(cluster: Cluster, seconds: float) -> dict[str, float]:
    """CLIENTS clients spread over the hosts, as fast as they get answers."""
    stop = threading.Event()
    latencies: list[list[float]] = [[] for _ in range(CLIENTS)]
    failures = [0]
    peak = [0]

    def run(index: int) -> None:
        host = cluster.hosts[index % len(cluster.hosts)]
        client = Client(host.port, cluster.token)
        while not stop.is_set():
            started = time.perf_counter()
            status, _ = client.call("POST", f"/api/v1/serve/{MODEL}/predict/", BODY)
            latencies[index].append((time.perf_counter() - started) * 1000)
            if status != 200:
                failures[0] += 1

    def watch() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], connections_in_use(cluster.database_url))
            time.sleep(0.5)

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(CLIENTS)]
    watcher = threading.Thread(target=watch, daemon=True)
    started = time.perf_counter()
    for thread in [*threads, watcher]:
        thread.start()
    time.sleep(seconds)
    stop.set()
    for thread in [*threads, watcher]:
        thread.join(30)
    elapsed = time.perf_counter() - started
    every = [v for per in latencies for v in per]
    return {"rps": len(every) / elapsed, "p99": percentile(every, 0.99),
            "p50": percentile(every, 0.5), "failed": failures[0], "connections": peak[0]}


def promotion_to_b(cluster: Cluster, target: str | None) -> float:
    """Seconds from the promotion (or rollback) request on A until host B first answers
    with the new version (clients on B all the while, one per gthread thread pair)."""
    host_a, host_b = cluster.hosts[:2]
    admin = Client(host_a.port, cluster.token)
    seen: list[float] = []
    stop = threading.Event()
    holder: dict[str, str] = {}

    def watch_b() -> None:
        client = Client(host_b.port, cluster.token)
        while not stop.is_set():
            status, body = client.call("POST", f"/api/v1/serve/{MODEL}/predict/", BODY)
            if "new" in holder and body.get("version") == holder["new"]:
                seen.append(time.perf_counter())
                return
            time.sleep(0.002)

    threads = [threading.Thread(target=watch_b, daemon=True) for _ in range(4)]
    for thread in threads:
        thread.start()
    time.sleep(1.0)
    at = time.perf_counter()
    if target is None:
        status, body = admin.call("POST", f"/api/v1/models/{MODEL}/rollback/",
                                  {"reason": "bench"})
    else:
        status, body = admin.call("POST", f"/api/v1/models/{MODEL}/versions/{target}/transition/",
                                  {"to": "production", "reason": "bench"})
    assert status == 200, body
    holder["new"] = body["version"]
    deadline = time.monotonic() + 30
    while not seen and time.monotonic() < deadline:
        time.sleep(0.01)
    stop.set()
    for thread in threads:
        thread.join(10)
    if not seen:
        raise SystemExit(f"host B never answered with {holder['new']}")
    return min(seen) - at


def big_artifact(cluster: Cluster, megabytes: int) -> dict[str, float]:
    """A file of `megabytes` in the bucket: its first load into a fresh host cache and the
    next, in a process with host A's environment (run with --big-inside)."""
    env = dict(cluster.hosts[0].env)
    env["ARTIFACT_CACHE_DIR"] = tempfile.mkdtemp(prefix="axion-bench-cache-")
    done = subprocess.run([sys.executable, __file__, "--big-inside", str(megabytes)], cwd=ROOT,
                          env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"the big-artifact step failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def big_inside(megabytes: int) -> None:
    import django

    django.setup()
    from models_app import artifacts
    from models_app.integrity import sha256_stream

    with tempfile.TemporaryFile() as blob:
        chunk = os.urandom(1024 * 1024)
        for _ in range(megabytes):
            blob.write(chunk)
        blob.seek(0)
        started = time.perf_counter()
        name = artifacts.artifact_save("bench-big/1.0.0/model.bin", blob)
        upload = time.perf_counter() - started
        blob.seek(0)
        sha = sha256_stream(blob)[0]
    timings = {"upload_s": upload}
    for label in ("first_s", "cached_s"):
        started = time.perf_counter()
        cached = artifacts.artifact_cached(name, sha)
        with cached.file as stream:
            while stream.read(8 * 1024 * 1024):
                pass
        timings[label] = time.perf_counter() - started
    artifacts.artifact_delete(name)
    print(json.dumps(timings))


def fresh_database(url: str) -> None:
    import psycopg

    base, name = url.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def measure(hosts: int, pool: int, runs: int, seconds: float, url: str,
            promotions: bool = False, big_mb: int = 0) -> dict[str, Any]:
    fresh_database(url)
    folder = Path(tempfile.mkdtemp(prefix=f"axion-bench-cluster-{hosts}-"))
    cluster = Cluster(folder, Sizing(hosts=hosts, workers=2, threads=4, worker_concurrency=1,
                                     pool=pool),
                      extra_env={"DATABASE_URL": url, "LOG_LEVEL": "WARNING",
                                 "SERVING_GENERATION_CHECK_MS": "500"})
    figures: dict[str, object] = {}
    try:
        cluster.start()
        seed(cluster)
        warm(cluster)
        figures["idle_connections"] = connections_in_use(url)
        figures["loads"] = [load(cluster, seconds) for _ in range(runs)]
        if promotions:
            figures["to_b"] = [promotion_to_b(cluster, target)
                               for target in ("1.1.0", None, "1.2.0", None, "1.3.0")]
        if big_mb:
            figures["big"] = big_artifact(cluster, big_mb)
    finally:
        cluster.stop()
    return figures


def summary(label: str, figures: dict) -> dict[str, float]:
    loads = figures["loads"]
    out = {key: statistics.median(run[key] for run in loads)
           for key in ("rps", "p99", "p50", "connections")}
    failed = sum(run["failed"] for run in loads)
    print(f"  {label:<28} {out['rps']:>7.0f} req/s  p50 {out['p50']:6.2f} ms  "
          f"p99 {out['p99']:6.2f} ms  connections under load {out['connections']:>3.0f} "
          f"(idle {figures['idle_connections']})  failed {failed}", flush=True)
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--big-mb", type=int, default=500)
    parser.add_argument("--big-inside", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.big_inside:
        big_inside(args.big_inside)
        return 0
    signal.signal(signal.SIGALRM, lambda *_: (_ for _ in ()).throw(SystemExit("time is up")))
    signal.alarm(DEADLINE_SECONDS)
    url = os.environ.get("BENCH_DATABASE_URL",
                         "postgres://postgres@127.0.0.1:5432/axion_cluster_bench")
    print(f"Cluster benchmark: {CLIENTS} keep-alive clients, {args.runs} runs of "
          f"{args.seconds:g} s each (medians), {os.cpu_count()} cores, client in this process")
    one = summary("1 host, pool 2", measure(1, 2, args.runs, args.seconds, url))
    two_figures = measure(2, 2, args.runs, args.seconds, url, promotions=True,
                          big_mb=args.big_mb)
    two = summary("2 hosts, pool 2", two_figures)
    no_pool = summary("2 hosts, no pool", measure(2, 0, args.runs, args.seconds, url))
    to_b = two_figures["to_b"]
    print(f"  throughput 2 hosts / 1 host: {two['rps'] / one['rps']:.2f}; "
          f"p99 2 hosts / 1 host: {two['p99'] / one['p99']:.2f}")
    print(f"  connections under load, 2 hosts: pool {two['connections']:.0f} against "
          f"{no_pool['connections']:.0f} without (Sizing bound "
          f"{Sizing(hosts=2, pool=2).connections()})")
    print(f"  promotion or rollback on A -> first new answer on B: median "
          f"{statistics.median(to_b) * 1000:.0f} ms, max {max(to_b) * 1000:.0f} ms "
          f"({len(to_b)} deployments; generation check every 500 ms): "
          + ", ".join(f"{label} {t * 1000:.0f} ms" for label, t in zip(
              ("promote 1.1.0", "rollback", "promote 1.2.0", "rollback", "promote 1.3.0"), to_b,
              strict=True)))
    if "big" in two_figures:
        big = two_figures["big"]
        print(f"  {args.big_mb} MB artifact: upload {big['upload_s']:.2f} s, first load from "
              f"the bucket {big['first_s']:.2f} s, then from the host cache "
              f"{big['cached_s']:.2f} s (verified) ratio {big['first_s'] / big['cached_s']:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
