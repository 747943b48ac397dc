"""One mlflow-client workload against Axion and against `mlflow server`, side by side.

Axion runs as `make run` starts it (gunicorn with the project's gunicorn.conf.py, a Celery
worker for load checks, SQLite); `mlflow server` runs from the full `mlflow` package in a
venv of its own (var/bench/mlflow-venv, built on first use: mlflow pins an older gunicorn
than Axion's), with 1 worker and SQLite. The same client (mlflow-skinny in Axion's venv)
drives both. Prints per-call medians, throughput and the ratio Axion / MLflow for:
2,000 log_metric calls, 20,000 points by log_batch, 200 create_model_version,
search_model_versions over 220 versions, 100 stage transitions, get_model_version_by_alias
and search_runs over 200 runs. Each Axion round also measures the client's own cost per call
(its floor: the same calls answered from memory by bench/replay.py), which bounds the
end-to-end ratio any server can reach, and prints the servers' own ratio beside it.
Not a test: it prints, it asserts nothing.

    .venv/bin/python bench/mlflow_side_by_side.py [--rounds 3] [--quick]
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import BIN, ROOT, free_port, server  # noqa: E402

MLFLOW_VERSION = "3.17.2"
BROKER = os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/9")


@dataclass
class Sizes:
    log_metric: int = 2000
    batch_points: int = 20000
    versions: int = 220
    timed_versions: int = 200
    transitions: int = 100
    alias_reads: int = 50
    runs: int = 200
    searches: int = 20


@dataclass
class Figures:
    """Milliseconds per call (lists) and points per second, for one server and round."""

    calls: dict[str, list[float]] = field(default_factory=dict)
    rates: dict[str, float] = field(default_factory=dict)

    def add(self, name: str, ms: float) -> None:
        self.calls.setdefault(name, []).append(ms)


def say(message: str) -> None:
    print(message, flush=True)


def _timed(figures: Figures, name: str, call: Callable[[], object]) -> object:
    start = time.perf_counter()
    answer = call()
    figures.add(name, (time.perf_counter() - start) * 1000)
    return answer


# --- the servers ----------------------------------------------------------------------------

def mlflow_venv(path: Path) -> Path:
    """The full mlflow package in a venv of its own, built once (pip shows its progress)."""
    binary = path / "bin" / "mlflow"
    if binary.exists():
        return binary
    say(f"building {path} with mlflow=={MLFLOW_VERSION} (once; a few minutes) ...")
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
    subprocess.run([str(path / "bin" / "pip"), "install", "--progress-bar", "on",
                    f"mlflow=={MLFLOW_VERSION}"], check=True)
    return binary


def _wait_http(url: str, what: str, log: Path, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=5).status_code == 200:
                return
        except (requests.ConnectionError, requests.Timeout):
            pass
        time.sleep(0.3)
    raise SystemExit(f"{what} did not start; see {log}")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


@contextmanager
def mlflow_server(binary: Path) -> Iterator[str]:
    workdir = Path(tempfile.mkdtemp(prefix="mlflow-bench-"))
    port = free_port()
    log = workdir / "server.log"
    env = dict(os.environ, MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true")
    process = subprocess.Popen(
        [str(binary), "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
         "--backend-store-uri", f"sqlite:///{workdir / 'mlflow.db'}",
         "--artifacts-destination", str(workdir / "artifacts")],
        cwd=workdir, env=env, stdout=open(log, "wb"), stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        _wait_http(f"http://127.0.0.1:{port}/health", "mlflow server", log)
        yield f"http://127.0.0.1:{port}"
    finally:
        _stop(process)
        shutil.rmtree(workdir, ignore_errors=True)


@dataclass
class Target:
    name: str
    uri: str
    token: str = ""
    # Called once every version is registered: Axion starts its load-check worker then.
    registered: Callable[[], None] = lambda: None


@contextmanager
def axion_server() -> Iterator[Target]:
    """gunicorn as `make run` starts it, plus one Celery worker for the load checks, started
    once the versions are registered (their checks wait in Redis until then): in production
    workers run on other hosts, and on this machine's two cores a worker sandboxing 220 model
    loads would otherwise slow every registration timed beside it."""
    with server(extra_env={"CELERY_BROKER_URL": BROKER}) as run:
        log = run.workdir / "worker.log"
        workers: list[subprocess.Popen] = []

        def start_worker() -> None:
            if workers:
                return
            workers.append(subprocess.Popen(
                [str(BIN / "celery"), "-A", "axion_registry", "worker", "--loglevel",
                 "WARNING", "--concurrency", "2",
                 "-Q", f"celery,{run.env.get('LOAD_CHECK_QUEUE', 'loadcheck')}"],
                cwd=ROOT, env=run.env, stdout=open(log, "wb"), stderr=subprocess.STDOUT,
                start_new_session=True,
            ))

        try:
            yield Target("axion", run.base, run.token, start_worker)
        finally:
            for worker in workers:
                _stop(worker)


# --- the workload ---------------------------------------------------------------------------

def _point_client(target: Target):  # noqa: ANN202 - mlflow's own types
    import mlflow
    from mlflow import MlflowClient

    logging.getLogger("mlflow").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", category=FutureWarning)
    os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
    os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "0"
    if target.token:
        os.environ["MLFLOW_TRACKING_TOKEN"] = target.token
    else:
        os.environ.pop("MLFLOW_TRACKING_TOKEN", None)
    mlflow.set_tracking_uri(target.uri)
    mlflow.set_registry_uri(target.uri)
    return mlflow, MlflowClient(tracking_uri=target.uri, registry_uri=target.uri)


@dataclass
class Made:
    """What the workload made, for the floor to call again: names and ids."""

    experiment: str = ""
    run_id: str = ""
    model: str = ""
    source: str = ""
    source_run_id: str = ""
    model_id: str = ""


def _tracking(client, figures: Figures, sizes: Sizes, tag: str, made: Made) -> None:  # noqa: ANN001
    from mlflow.entities import Metric

    experiment = client.create_experiment(f"bench-{tag}")
    run_id = client.create_run(experiment).info.run_id
    made.experiment, made.run_id = experiment, run_id
    for step in range(sizes.log_metric):
        _timed(figures, "log_metric",
               partial(client.log_metric, run_id, "loss", 1 / (step + 1), step=step))
    stamp = int(time.time() * 1000)
    start = time.perf_counter()
    for first in range(0, sizes.batch_points, 1000):
        metrics = [Metric("val_loss", 1 / (i + 1), stamp, i)
                   for i in range(first, min(first + 1000, sizes.batch_points))]
        _timed(figures, "log_batch (1,000 points)",
               partial(client.log_batch, run_id, metrics=metrics))
    figures.rates["log_batch points/s"] = sizes.batch_points / (time.perf_counter() - start)
    for index in range(sizes.runs):
        run = client.create_run(experiment)
        client.log_batch(run.info.run_id, metrics=[Metric("loss", index / sizes.runs, stamp, 0)])
        client.log_param(run.info.run_id, "lr", "0.01" if index % 2 else "0.1")
    for _ in range(sizes.searches):
        _timed(figures, "search_runs (200 runs)", lambda: client.search_runs(
            [experiment], "metrics.loss < 1 and params.lr = '0.01'", max_results=200))


def _logged_model(mlflow, experiment: str) -> tuple[str, str, str]:  # noqa: ANN001
    """One sklearn model logged with mlflow 3's log_model: the source of every version."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    features = np.random.default_rng(7).normal(size=(200, 4))
    labels = (features[:, 0] > 0).astype(int)
    estimator = LogisticRegression().fit(features, labels)
    mlflow.set_experiment(experiment_id=experiment)
    with mlflow.start_run() as run:
        info = mlflow.sklearn.log_model(estimator, name="model", input_example=features[:3],
                                        serialization_format="pickle")
    return info.model_uri, run.info.run_id, info.model_id


def _wait_load_checks(target: Target, name: str) -> None:
    """Axion lets a version into staging after a worker load-checked it. Wait until the
    worker has checked every version registered: its checks share this machine's two cores
    with the server, and would otherwise slow the calls timed next (workers run on other
    hosts in production). Prints how long the worker took."""
    if not target.token:
        return
    session = requests.Session()
    session.headers["Authorization"] = f"Token {target.token}"
    started = time.monotonic()
    while time.monotonic() < started + 600:
        rows = session.get(f"{target.uri}/api/v1/models/{name}/versions/",
                           params={"page_size": 1000}, timeout=30).json()
        results = rows.get("results", rows) if isinstance(rows, dict) else rows
        pending = sum(row.get("load_check_status") in (None, "pending") for row in results)
        if results and not pending:
            say(f"  the worker load-checked {len(results)} versions; waited "
                f"{time.monotonic() - started:.1f} s after the last registration")
            return
        time.sleep(1)
    raise SystemExit(f"{name}'s load checks did not finish in 10 minutes")


def _registry(mlflow, client, target: Target, figures: Figures, sizes: Sizes,  # noqa: ANN001
              made: Made, tag: str) -> None:
    source, run_id, model_id = _logged_model(mlflow, made.experiment)
    name = f"bench-model-{tag}"
    made.model, made.source, made.source_run_id, made.model_id = name, source, run_id, model_id
    client.create_registered_model(name)
    def create() -> object:
        return client.create_model_version(name, source, run_id=run_id, model_id=model_id)

    for index in range(sizes.versions):
        if index < sizes.timed_versions:
            _timed(figures, "create_model_version", create)
        else:
            create()
    target.registered()
    _wait_load_checks(target, name)
    for _ in range(sizes.searches):
        _timed(figures, "search_model_versions (220)", lambda: client.search_model_versions(
            f"name = '{name}'", max_results=1000))
    for index in range(sizes.transitions):
        stage = "Staging" if index % 2 == 0 else "None"
        _timed(figures, "transition_model_version_stage",
               partial(client.transition_model_version_stage, name, "1", stage))
    client.set_registered_model_alias(name, "champion", "1")
    for _ in range(sizes.alias_reads):
        _timed(figures, "get_model_version_by_alias",
               lambda: client.get_model_version_by_alias(name, "champion"))


def workload(target: Target, sizes: Sizes, tag: str, made: Made) -> Figures:
    mlflow, client = _point_client(target)
    figures = Figures()
    _tracking(client, figures, sizes, tag, made)
    _registry(mlflow, client, target, figures, sizes, made, tag)
    return figures


def floor(target: Target, made: Made, calls: int) -> Figures:
    """The client's own cost per call: the same calls against bench/replay.py, which asks
    Axion once per distinct request and then answers from memory (answers of the real size
    and shape, no server work). No server can answer the client faster than this."""
    from mlflow.entities import Metric

    port = free_port()
    replay = subprocess.Popen([sys.executable, str(ROOT / "bench" / "replay.py"), str(port),
                               target.uri], start_new_session=True)
    try:
        uri = f"http://127.0.0.1:{port}"
        _wait_http(f"{uri}/healthz", "the replay server", Path("/dev/null"), 30)
        _, client = _point_client(Target(target.name, uri, target.token))
        stamp = int(time.time() * 1000)
        metrics = [Metric("val_loss", 1 / (i + 1), stamp, i) for i in range(1000)]
        workload = {
            "log_metric": lambda: client.log_metric(made.run_id, "loss", 0.5, step=1),
            "log_batch (1,000 points)": lambda: client.log_batch(made.run_id,
                                                                 metrics=metrics),
            "search_runs (200 runs)": lambda: client.search_runs(
                [made.experiment], "metrics.loss < 1 and params.lr = '0.01'",
                max_results=200),
            "create_model_version": lambda: client.create_model_version(
                made.model, made.source, run_id=made.source_run_id, model_id=made.model_id),
            "search_model_versions (220)": lambda: client.search_model_versions(
                f"name = '{made.model}'", max_results=1000),
            "transition_model_version_stage": lambda: client.transition_model_version_stage(
                made.model, "1", "None"),
            "get_model_version_by_alias": lambda: client.get_model_version_by_alias(
                made.model, "champion"),
        }
        figures = Figures()
        for name, call in workload.items():
            call()  # the one that reaches Axion
            for _ in range(calls):
                _timed(figures, name, call)
        return figures
    finally:
        _stop(replay)


# --- the report -----------------------------------------------------------------------------

TARGETS = {  # the targets: Axion at least this many times faster than mlflow server
    "log_metric": 5, "create_model_version": 5, "transition_model_version_stage": 5,
    "get_model_version_by_alias": 5, "log_batch points/s": 10,
    "search_model_versions (220)": 3, "search_runs (200 runs)": 3,
}


def _medians(rounds: list[Figures]) -> dict[str, float]:
    """Per figure: the median over rounds of each round's median call (or rate)."""
    names = {n for r in rounds for n in r.calls} | {n for r in rounds for n in r.rates}
    out = {}
    for name in names:
        per_round = [statistics.median(r.calls[name]) if name in r.calls else r.rates[name]
                     for r in rounds if name in r.calls or name in r.rates]
        out[name] = statistics.median(per_round)
    return out


def _net(total: float, floor_ms: float) -> float:
    return max(total - floor_ms, 0.05 * floor_ms)  # within 5% of the floor: not resolvable


def report(axion: list[Figures], mlflow: list[Figures], floors: list[Figures]) -> None:
    ours, theirs, least = _medians(axion), _medians(mlflow), _medians(floors)
    batch = "log_batch (1,000 points)"
    say(f"\n{'figure':<32} {'axion':>10} {'mlflow':>10} {'ratio':>7}   {'floor':>8} "
        f"{'ceiling':>8} {'server':>7}  target")
    for name in sorted(set(ours) | set(theirs)):
        a, m = ours.get(name, float("nan")), theirs.get(name, float("nan"))
        rate = name.endswith("/s")
        if rate:  # points/s: compare per batch of 1,000
            a_ms, m_ms, f_ms = ours.get(batch, a), theirs.get(batch, m), least.get(batch)
            ratio = a / m
        else:
            a_ms, m_ms, f_ms = a, m, least.get(name)
            ratio = m / a
        unit = "pts/s" if rate else "ms"
        wanted = TARGETS.get(name)
        floor_text = ceiling = server_text = "-"
        server = float("nan")
        if f_ms is not None:
            floor_text = f"{f_ms:.2f}"
            ceiling = f"{m_ms / f_ms:.2f}x"
            server = _net(m_ms, f_ms) / _net(a_ms, f_ms)
            server_text = f"{server:.2f}x"
        verdict = "" if wanted is None else (
            f">= {wanted}x end-to-end {'MET' if ratio >= wanted else 'MISSED'}, "
            f"server {'MET' if server >= wanted else 'MISSED'}")
        say(f"{name:<32} {a:>10.2f} {m:>10.2f} {ratio:>6.2f}x   {floor_text:>8} "
            f"{ceiling:>8} {server_text:>7}  {verdict}  ({unit})")
    say("ratio: how many times faster Axion is end to end (mlflow ms / axion ms; axion rate / "
        "mlflow rate). floor: the same client call answered from memory (bench/replay.py), "
        "what the client itself costs; ceiling: mlflow / floor, the most any server could "
        "reach end to end; server: (mlflow - floor) / (axion - floor), the servers' own work. "
        "Medians of each round's median over the rounds.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="a tenth of each size")
    parser.add_argument("--only", choices=("axion", "mlflow"), help="run one side only")
    parser.add_argument("--mlflow-venv", type=Path, default=ROOT / "var" / "bench" / "mlflow-venv")
    options = parser.parse_args()
    sizes = Sizes()
    if options.quick:
        sizes = Sizes(200, 2000, 22, 20, 10, 10, 20, 5)
    binary = mlflow_venv(options.mlflow_venv)
    axion_rounds: list[Figures] = []
    mlflow_rounds: list[Figures] = []
    floor_rounds: list[Figures] = []
    for round_number in range(1, options.rounds + 1):
        for name, starter, rounds in (("axion", axion_server, axion_rounds),
                                      ("mlflow", lambda: _mlflow_target(binary), mlflow_rounds)):
            if options.only and name != options.only:
                continue
            say(f"round {round_number}/{options.rounds}: {name} ...")
            with starter() as target:
                start = time.perf_counter()
                made = Made()
                rounds.append(workload(target, sizes, f"{name}-{round_number}", made))
                say(f"  done in {time.perf_counter() - start:.1f} s")
                if name == "axion":
                    floor_rounds.append(floor(target, made, sizes.searches * 2))
                    say("  client floor measured")
    report(axion_rounds, mlflow_rounds, floor_rounds)


@contextmanager
def _mlflow_target(binary: Path) -> Iterator[Target]:
    with mlflow_server(binary) as uri:
        yield Target("mlflow", uri)


if __name__ == "__main__":
    main()
