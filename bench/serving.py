"""Serving benchmark: two gunicorn gthread workers on 127.0.0.1, one-row JSON predictions.

Starts and stops everything itself, in a temporary folder (SQLite database, artifact root),
seeded with a LogisticRegression on 10 features in production and a second version in
staging. Measures, several runs each, and prints medians against the targets:

- sequential p50 over keep-alive HTTP (target <= 1 ms);
- throughput with 8 concurrent keep-alive clients (target >= 1,500 requests/s);
- in-process predict() overhead over the raw model.predict (target <= 30 us);
- promotions and rollbacks under 8-client load: failed requests (target 0) and the p99
  from the promotion until the last old-version answer (+250 ms) against the p99 of the
  same run before it (target <= 2x);
- promotions with one sequential client: the first answer of the new version against the
  p50 before (target <= 2x).

Usage: .venv/bin/python bench/serving.py [--runs 3] [--seconds 4] [--fit-on dataframe]
       [--broker redis://127.0.0.1:6379/2]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PY = sys.executable
MODEL = "bench-lr"
FEATURES = [f"x{i}" for i in range(10)]
ROW = {name: round(0.1 * i - 0.3, 3) for i, name in enumerate(FEATURES)}
BODY = json.dumps({"records": [ROW]}).encode()
CLIENTS = 8
DEADLINE_SECONDS = 240  # the whole script stops itself by then


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


# -- setup (runs in subprocesses with the temporary environment) ---------------------------


def seed() -> None:
    import django

    django.setup()
    import io
    import pickle

    import numpy as np
    from django.contrib.auth import get_user_model
    from sklearn.linear_model import LogisticRegression

    from models_app import services

    user = get_user_model().objects.get(username="admin")
    rng = np.random.default_rng(11)
    features = rng.normal(size=(500, 10))
    labels = (features[:, 0] - features[:, 3] + 0.5 * features[:, 7] > 0).astype(int)
    services.model_create(name=MODEL, description="benchmark", gates={"load_check": False})
    signature = {"inputs": [{"name": n, "type": "double"} for n in FEATURES],
                 "outputs": [{"name": "label", "type": "long"}]}
    on_frame = os.environ.get("AXION_BENCH_FIT_ON") == "dataframe"
    if on_frame:  # fitted on named columns: serving_input "dataframe"
        import pandas as pd

        features = pd.DataFrame(features, columns=FEATURES)
    for version, c in (("1.0.0", 1.0), ("1.1.0", 0.3), ("1.2.0", 0.5), ("1.3.0", 0.7)):
        model = LogisticRegression(C=c).fit(features, labels)
        row = services.version_register(
            model_name=MODEL, artifact=io.BytesIO(pickle.dumps(model)), version=version,
            framework="sklearn", artifact_format="pickle", metrics={"auc": 0.9},
            signature=signature, input_example=[ROW],
            serving_input=None if on_frame else "numpy",
        )
        services.version_transition(version=row, to="staging", actor=user)
        if version == "1.0.0":
            services.version_promote(version=row, actor=user, reason="benchmark seed")


def in_process(rounds: int, calls: int) -> None:
    """Print json {"raw_us": [...], "predict_us": [...]} per round, interleaved."""
    import django

    django.setup()
    import numpy as np

    from serving_app.runtime import ServingRuntime, reset_runtime

    runtime = ServingRuntime(background=False)
    reset_runtime(runtime)
    from serving_app.runtime import predict

    records = [dict(ROW)]
    predict(MODEL, records)
    route = runtime.route(MODEL)
    assert route is not None and route.primary is not None
    raw_predict = route.primary.predict_fn
    assert raw_predict is not None
    matrix = np.array([[ROW[n] for n in FEATURES]], dtype=np.float64)
    for _ in range(500):
        raw_predict(matrix)
        predict(MODEL, records)
    raw, full = [], []
    perf = time.perf_counter_ns
    for _ in range(rounds):
        started = perf()
        for _ in range(calls):
            raw_predict(matrix)
        raw.append((perf() - started) / calls / 1000)
        started = perf()
        for _ in range(calls):
            predict(MODEL, records)
        full.append((perf() - started) / calls / 1000)
    print(json.dumps({"raw_us": raw, "predict_us": full}))


# -- the HTTP client -----------------------------------------------------------------------


class Client:
    def __init__(self, port: int, token: str):
        self.port = port
        self.headers = {"Content-Type": "application/json", "Authorization": f"Token {token}",
                        "Connection": "keep-alive"}
        self.conn = self._connect()

    def _connect(self) -> http.client.HTTPConnection:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        conn.connect()
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn

    def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        try:
            self.conn.request("POST", path, body, self.headers)
            response = self.conn.getresponse()
            return response.status, response.read()
        except (http.client.HTTPException, OSError):
            self.conn.close()
            self.conn = self._connect()
            return 0, b""

    def get(self, path: str) -> tuple[int, bytes]:
        self.conn.request("GET", path, headers=self.headers)
        response = self.conn.getresponse()
        return response.status, response.read()


def predict_path() -> str:
    return f"/api/v1/serve/{MODEL}/predict/"


def sequential(port: int, token: str, n: int) -> list[float]:
    client = Client(port, token)
    path, latencies = predict_path(), []
    for _ in range(n):
        started = time.perf_counter_ns()
        status, _ = client.post(path, BODY)
        latencies.append((time.perf_counter_ns() - started) / 1e6)
        if status != 200:
            raise SystemExit(f"sequential request failed with {status}")
    return latencies


def load(port: int, token: str, seconds: float, during=None, clients: int = CLIENTS) -> dict:
    """`clients` keep-alive clients for `seconds`; `during(t0)` runs in this thread meanwhile.
    Every answer is kept as (start offset s, latency ms, status, version)."""
    stop = threading.Event()
    results: list[list[tuple[float, float, int, str]]] = [[] for _ in range(clients)]
    started_at = time.perf_counter()

    def worker(index: int) -> None:
        client = Client(port, token)
        path, out = predict_path(), results[index]
        while not stop.is_set():
            t0 = time.perf_counter()
            status, body = client.post(path, BODY)
            latency = (time.perf_counter() - t0) * 1000
            version = json.loads(body).get("version", "") if status == 200 else ""
            out.append((t0 - started_at, latency, status, version))

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    extra = during(started_at) if during else None
    remaining = seconds - (time.perf_counter() - started_at)
    if remaining > 0:
        time.sleep(remaining)
    stop.set()
    for thread in threads:
        thread.join(15)
    elapsed = time.perf_counter() - started_at
    rows = sorted(r for per in results for r in per)
    return {"rows": rows, "elapsed": elapsed, "extra": extra}


# -- orchestration -------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_ready(port: int, token: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    ready_in_a_row = 0
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/readyz")
            status = conn.getresponse().status
            conn.close()
            ready_in_a_row = ready_in_a_row + 1 if status == 200 else 0
            if ready_in_a_row >= 10:  # new connections land on both workers
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit("the server did not become ready in time")


def report(name: str, value: float, target: str, ok: bool, ratio: str = "") -> bool:
    mark = "ok  " if ok else "MISS"
    print(f"  [{mark}] {name:<48} {value:>10.3f}   target {target:<14} {ratio}")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--threads", type=int, default=4, help="gthread threads per worker")
    parser.add_argument("--fit-on", choices=["matrix", "dataframe"], default="matrix",
                        help="what the benchmark's LogisticRegression is fitted on")
    parser.add_argument("--broker", default="memory://",
                        help="the Celery broker the server announces deployments to (a "
                             "redis:// URL makes a promotion pay for a real publish)")
    parser.add_argument("--seed", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--in-process", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.seed:
        seed()
        return 0
    if args.in_process:
        in_process(rounds=7, calls=3000)
        return 0
    signal.signal(signal.SIGALRM, lambda *_: (_ for _ in ()).throw(SystemExit("time is up")))
    signal.alarm(DEADLINE_SECONDS)

    folder = Path(tempfile.mkdtemp(prefix="axion-bench-serving-"))
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "axion_registry.settings",
        "AXION_VAR_DIR": str(folder),
        "DATABASE_URL": f"sqlite:///{folder / 'bench.sqlite3'}",
        "ARTIFACT_ROOT": str(folder / "artifacts"),
        "CELERY_BROKER_URL": args.broker,
        "REDIS_URL": "",
        "WEB_CONCURRENCY": "2",
        "WEB_THREADS": str(args.threads),
        "LOG_LEVEL": "WARNING",
        "SERVING_FLUSH_SECONDS": "5",
        "AXION_BENCH_FIT_ON": args.fit_on,
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)

    def run(*command: str) -> str:
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
        if done.returncode:
            raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
        return done.stdout

    print(f"setting up in {folder} ...", flush=True)
    run(PY, "manage.py", "migrate", "--noinput")
    run(PY, "manage.py", "bootstrap", "--token-file", str(folder / "token"))
    token = (folder / "token").read_text().strip()
    run(PY, __file__, "--seed")

    print("in-process predict() overhead ...", flush=True)
    measured = json.loads(run(PY, __file__, "--in-process").strip().splitlines()[-1])
    raw_us = statistics.median(measured["raw_us"])
    predict_us = statistics.median(measured["predict_us"])
    overheads = [p - r for p, r in zip(measured["predict_us"], measured["raw_us"], strict=True)]

    port = free_port()
    log = open(folder / "gunicorn.log", "wb")
    server = subprocess.Popen(
        [str(Path(PY).parent / "gunicorn"), "axion_registry.wsgi:application", "-c",
         str(ROOT / "axion_registry" / "gunicorn.conf.py"), "--bind", f"127.0.0.1:{port}"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    results: dict[str, list[float]] = {"p50": [], "p99_seq": [], "rps": [], "p99_load": [],
                                       "p50_load": []}
    try:
        wait_ready(port, token)
        sequential(port, token, 2000)  # warm both workers' code paths
        for run_index in range(args.runs):
            latencies = sequential(port, token, 3000)
            results["p50"].append(statistics.median(latencies))
            results["p99_seq"].append(percentile(latencies, 0.99))
            measured_load = load(port, token, args.seconds)
            rows = [r for r in measured_load["rows"] if r[0] >= 0.5]  # skip connect ramp-up
            ok = [r for r in rows if r[2] == 200]
            if len(ok) != len(rows):
                raise SystemExit(f"{len(rows) - len(ok)} requests failed under load")
            span = max(r[0] for r in rows) - 0.5
            results["rps"].append(len(rows) / span)
            results["p99_load"].append(percentile([r[1] for r in rows], 0.99))
            results["p50_load"].append(percentile([r[1] for r in rows], 0.50))
            print(f"  run {run_index + 1}: sequential p50 {results['p50'][-1]:.3f} ms, "
                  f"{results['rps'][-1]:.0f} requests/s with {CLIENTS} clients "
                  f"(p50 {results['p50_load'][-1]:.2f} ms, p99 {results['p99_load'][-1]:.2f} ms)",
                  flush=True)

        swaps = []
        for swap_index, target in enumerate(["1.1.0", None, "1.2.0"]):
            swaps.append(promotion_under_load(port, token, target, args.seconds + 3))
            s = swaps[-1]
            print(f"  swap {swap_index + 1} under load ({s['action']}): {s['failed']} failed, "
                  f"swap window {s['window_s']:.2f} s, p99 {s['p99_window']:.2f} ms against "
                  f"{s['p99_before']:.2f} ms before", flush=True)
        firsts = []
        for target in [None, "1.3.0"]:
            firsts.append(promotion_under_load(port, token, target, 4.0, clients=1))
            s = firsts[-1]
            print(f"  sequential {s['action']}: {s['failed']} failed, first answer of the new "
                  f"version {s['first_new'][0]:.3f} ms against p50 {s['p50_before']:.3f} ms "
                  "before", flush=True)
        metrics_ok = check_metrics(port)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
        log.close()

    p50 = statistics.median(results["p50"])
    rps = statistics.median(results["rps"])
    overhead = statistics.median(overheads)
    steady_p99 = statistics.median(results["p99_load"])
    steady_p50 = statistics.median(results["p50_load"])
    swap_ratio = statistics.median(s["p99_window"] / s["p99_before"] for s in swaps)
    failed = sum(s["failed"] for s in swaps + firsts)
    first_ratio = statistics.median(s["first_new"][0] / s["p50_before"] for s in firsts)
    print()
    print(f"Serving benchmark ({args.runs} runs each, medians; 2 gunicorn gthread workers, "
          f"{os.cpu_count()} cores, client in this process)")
    print(f"  raw model.predict {raw_us:.1f} us, in-process predict() {predict_us:.1f} us")
    oks = [
        report("sequential p50 (ms)", p50, "<= 1 ms", p50 <= 1.0, f"ratio {p50 / 1.0:.2f}"),
        report(f"throughput, {CLIENTS} clients (requests/s)", rps, ">= 1500", rps >= 1500,
               f"ratio {rps / 1500:.2f}"),
        report("predict() overhead over model.predict (us)", overhead, "<= 30 us",
               overhead <= 30, f"ratio {overhead / 30:.2f}"),
        report("failed requests during promotions", failed, "0", failed == 0),
        report("p99 during swap / p99 before, under load", swap_ratio, "<= 2", swap_ratio <= 2),
        report("first new-version answer / p50 before, sequential", first_ratio, "<= 2",
               first_ratio <= 2),
    ]
    print(f"  sequential p99 {statistics.median(results['p99_seq']):.3f} ms; under load p50 "
          f"{steady_p50:.3f} ms, p99 {steady_p99:.3f} ms; /metrics parsed: {metrics_ok}")
    return 0 if all(oks) and metrics_ok else 1


def promotion_under_load(port: int, token: str, target: str | None, seconds: float,
                         clients: int = CLIENTS) -> dict:
    """Promote `target` (or roll back when None) 2 s into a load of `clients` clients."""
    admin = Client(port, token)
    if target is None:
        path, body, action = f"/api/v1/models/{MODEL}/rollback/", {"reason": "bench"}, "rollback"
    else:
        path = f"/api/v1/models/{MODEL}/versions/{target}/transition/"
        body, action = {"to": "production", "reason": "bench"}, f"promote {target}"
    holder: dict = {}

    def during(started_at: float) -> dict:
        time.sleep(2.0)
        holder["at"] = time.perf_counter() - started_at
        status, answer = admin.post(path, json.dumps(body).encode())
        if status != 200:
            raise SystemExit(f"{action} failed: {status} {answer[:300]!r}")
        holder["version"] = json.loads(answer)["version"]
        return holder

    result = load(port, token, seconds, during, clients=clients)
    rows = result["rows"]
    at, new = holder["at"], holder["version"]
    failed = sum(1 for r in rows if r[2] != 200)
    before = [r[1] for r in rows if 0.5 <= r[0] < at]
    old_answers = [r for r in rows if r[0] >= at and r[3] and r[3] != new]
    last_old = max((r[0] for r in old_answers), default=at)
    window = [r[1] for r in rows if at <= r[0] <= last_old + 0.25]
    first_new = [r[1] for r in rows if r[3] == new and r[0] >= at][:clients]
    if os.environ.get("BENCH_DEBUG"):
        index = next(i for i, r in enumerate(rows) if r[3] == new and r[0] >= at)
        print("around the swap:", [(round(r[0] - at, 3), round(r[1], 2), r[3])
                                   for r in rows[index - 5:index + 8]])
    tail = [r for r in rows if r[0] > last_old + 0.5]
    if not first_new or any(r[3] != new for r in tail if r[2] == 200):
        raise SystemExit(f"{action}: the new version did not take over every answer")
    return {"action": action, "failed": failed, "p99_before": percentile(before, 0.99),
            "p50_before": percentile(before, 0.5), "p99_window": percentile(window, 0.99),
            "window_s": last_old - at, "first_new": first_new}


def check_metrics(port: int) -> bool:
    from prometheus_client.parser import text_string_to_metric_families

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/metrics")
    text = conn.getresponse().read().decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    family = families.get("axion_serving_request_duration_seconds")
    return family is not None and any(s.labels.get("model") == MODEL for s in family.samples)


if __name__ == "__main__":
    sys.exit(main())
