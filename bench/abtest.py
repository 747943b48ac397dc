"""A/B test benchmarks: outcome ingestion over HTTP, evaluation at 10M outcomes, assignment.

    .venv/bin/python bench/abtest.py [--runs 3] [--outcomes 1000000]
        [--database-url postgres://postgres@127.0.0.1:5432/axion_<yours>]
        [--parts ingestion,extra,evaluation,assignment]

1. Outcomes: a real gunicorn on 127.0.0.1 over a temporary SQLite database, or the
   PostgreSQL database of --database-url (its public schema is dropped and recreated:
   give a database of your own), migrated here (a model, two versions registered through
   the registry's service, a running test, a token). Batches of 10,000 outcomes (with
   outcome ids, so idempotency is on the path) are posted with one keep-alive
   requests.Session. Bodies are serialised before the clock starts: the figure is the
   server's ingestion rate; CPU time per batch of the gunicorn worker and (PostgreSQL) of
   its backends is printed too, as load perturbs it less than wall time. Twice: plain
   outcomes (target >= 50,000/s) and outcomes with a ratio denominator and the pre-period
   covariate and covariate_denominator (CUPED on a ratio) into a ratio-metric test
   (target >= 150,000/s).
2. Evaluation of a test holding 10,000,000 outcomes: the running sums of 10M simulated
   outcomes (5M per arm, plus a guardrail) are written directly into the arm statistics
   rows, because evaluation reads O(arms) rows and never the raw outcomes (only the
   Mann-Whitney method reads raw rows; it is not on this path). Timed: the whole
   abtest_evaluate service (row lock, read, statistics, snapshot insert, commit). Four
   tests: plain (target <= 100 ms), with covariates (CUPED), with denominators (a ratio
   metric) and with covariates, denominators and covariate denominators (CUPED on a
   ratio), each with the Bayesian read-out (target < 10 ms).
3. Assignment in process: assign_many on 1,000,000 unit ids (target >= 500,000/s), and
   assign_arm one unit at a time (no target; printed for honesty).

Every figure is the median of --runs repetitions. The script starts and stops its server
itself and gives up after --deadline seconds.
"""

from __future__ import annotations

import argparse
import io
import os
import pickle
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BATCH = 10_000


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="repetitions per figure")
    parser.add_argument("--outcomes", type=int, default=1_000_000, help="per ingestion run")
    parser.add_argument("--workers", type=int, default=1, help="gunicorn processes")
    parser.add_argument("--parts", default="ingestion,evaluation,assignment",
                        help="comma-separated: ingestion (plain and with the extra fields), "
                        "extra (only with the extra fields), evaluation, assignment")
    parser.add_argument("--deadline", type=float, default=600.0, help="give up after (s)")
    parser.add_argument("--database-url", default="",
                        help="a PostgreSQL database of your own (its schema is recreated); "
                        "default: a temporary SQLite file")
    return parser.parse_args()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def environment(tmp: Path, database_url: str = "") -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url or f"sqlite:///{tmp / 'bench.sqlite3'}",
        "AXION_VAR_DIR": str(tmp),
        "ARTIFACT_ROOT": str(tmp / "artifacts"),
        "CELERY_BROKER_URL": "memory://localhost/",
        "DJANGO_SETTINGS_MODULE": "axion_registry.settings",
        "DEBUG": "0",
        "LOG_LEVEL": "WARNING",
    }


def reset_postgresql(url: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("DROP SCHEMA public CASCADE")
        connection.execute("CREATE SCHEMA public")


def setup_django(env: dict[str, str]) -> None:
    if env["DATABASE_URL"].startswith("postgres"):
        reset_postgresql(env["DATABASE_URL"])
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env,
                   check=True, timeout=300)
    import django

    django.setup()


def make_fixtures():
    """A model with a production champion and a staging challenger; a release manager."""
    import numpy as np
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    from models_app import services as registry
    from models_app.vocabulary import ArtifactFormat, Framework, Stage

    user = get_user_model().objects.create_superuser("bench", password=None)
    token = Token.objects.create(user=user).key
    registry.model_create(name="ranking", gates={"load_check": False})
    artifact = pickle.dumps(np.linspace(0, 1, 16))
    versions = []
    for version in ("1.0.0", "1.1.0"):
        row = registry.version_register(
            model_name="ranking", artifact=io.BytesIO(artifact), framework=Framework.CUSTOM,
            artifact_format=ArtifactFormat.PICKLE, version=version, metrics={"auc": 0.7},
        )
        registry.version_transition(version=row, to=Stage.STAGING, actor=user)
        versions.append(row)
    registry.version_promote(version=type(versions[0]).objects.get(pk=versions[0].pk),
                             actor=user)
    return user, token


def new_running_test(user, name: str, **fields):
    from abtest_app import services
    from abtest_app.models import ABTest
    from abtest_app.vocabulary import MetricType

    test = services.abtest_create(
        name=name, model="ranking", champion="1.0.0", challenger="1.1.0",
        metric_name="hit_rate", metric_type=MetricType.CONTINUOUS, created_by=user, **fields,
    )
    services.abtest_start(test=test, actor=user)
    return ABTest.objects.get(pk=test.pk)


def stop_running(user) -> None:
    from abtest_app import services
    from abtest_app.models import ABTest
    from abtest_app.vocabulary import TestState

    for test in ABTest.objects.filter(state=TestState.RUNNING):
        services.abtest_cancel(test=test, actor=user, reason="benchmark run finished")


def start_server(env: dict[str, str], port: int, workers: int, log: Path) -> subprocess.Popen:
    command = [
        str(Path(sys.executable).parent / "gunicorn"), "axion_registry.wsgi:application",
        "-c", str(ROOT / "axion_registry" / "gunicorn.conf.py"),
        "--bind", f"127.0.0.1:{port}", "--workers", str(workers), "--threads", "2",
    ]
    server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log.open("wb"),
                              stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"gunicorn exited; see {log}:\n{log.read_text()[-2000:]}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return server
        time.sleep(0.1)
    stop_server(server)
    raise SystemExit("gunicorn did not listen within 30 s")


def stop_server(server: subprocess.Popen) -> None:
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=5)


def bodies(n: int, run: int, extra: bool = False) -> list[bytes]:
    """Serialised batches; ``extra`` adds a denominator, a covariate and a covariate
    denominator (CUPED on a ratio metric) to every outcome."""
    import numpy as np
    import orjson

    rng = np.random.default_rng(run)
    out = []
    for start in range(0, n, BATCH):
        size = min(BATCH, n - start)
        values = rng.normal(1.0, 0.5, size=size).tolist()
        items = [{"unit_id": f"user-{start + i}", "value": value,
                  "outcome_id": f"r{run}-{start + i}"} for i, value in enumerate(values)]
        if extra:
            covariates = rng.normal(1.0, 0.5, size=size).tolist()
            denominators = (rng.poisson(20, size=size) + 1.0).tolist()
            pre_denominators = (rng.poisson(20, size=size) + 1.0).tolist()
            for item, covariate, denominator, pre in zip(items, covariates, denominators,
                                                         pre_denominators, strict=True):
                item["covariate"] = covariate
                item["denominator"] = denominator
                item["covariate_denominator"] = pre
        out.append(orjson.dumps({"outcomes": items}))
    return out


def server_processes(server: subprocess.Popen, database_url: str) -> dict[str, list]:
    """The gunicorn workers and, on PostgreSQL, the backends serving them (not this
    process's own connection): whose CPU time a batch costs."""
    import psutil

    found = {"gunicorn": psutil.Process(server.pid).children(recursive=True)}
    if database_url:
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                           "AND pid <> pg_backend_pid()")
            found["postgres"] = [psutil.Process(pid) for (pid,) in cursor.fetchall()]
    return found


def cpu_seconds(processes: list) -> float:
    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
        except Exception:  # a backend that ended: its time is lost, not wrong
            continue
        total += times.user + times.system
    return total


def bench_ingestion(args, env, user, token, extra: bool = False) -> list[float]:
    import requests

    from abtest_app.models import ArmStats

    rates = []
    port = free_port()
    log = Path(env["AXION_VAR_DIR"]) / "gunicorn.log"
    server = start_server(env, port, args.workers, log)
    try:
        session = requests.Session()
        session.headers.update({"Authorization": f"Token {token}",
                                "Content-Type": "application/json"})
        for run in range(args.runs):
            stop_running(user)
            test = new_running_test(user, f"ingestion {run} {extra}", ratio_metric=extra)
            url = f"http://127.0.0.1:{port}/api/v1/abtests/{test.pk}/outcomes/"
            payloads = bodies(args.outcomes, run, extra)
            warm = (b'{"outcomes": [{"unit_id": "warm", "value": 1.0, "outcome_id": "warm"'
                    + (b', "covariate": 1.0, "denominator": 2.0, "covariate_denominator": 2.0'
                       if extra else b"") + b"}]}")
            session.post(url, data=warm, timeout=60).raise_for_status()
            processes = server_processes(server, args.database_url)
            cpu_before = {name: cpu_seconds(group) for name, group in processes.items()}
            client_before = time.process_time()
            started = time.perf_counter()
            for payload in payloads:
                response = session.post(url, data=payload, timeout=60)
                if response.status_code != 200:
                    raise SystemExit(f"POST answered {response.status_code}: "
                                     f"{response.text[:500]}")
            elapsed = time.perf_counter() - started
            client_cpu = time.process_time() - client_before
            cpu = {name: (cpu_seconds(group) - cpu_before[name]) / len(payloads) * 1000
                   for name, group in processes.items()}
            counted = sum(ArmStats.objects.filter(test=test, metric="").values_list("n",
                                                                                     flat=True))
            if counted != args.outcomes + 1:
                raise SystemExit(f"counted {counted} outcomes, sent {args.outcomes + 1}")
            # A retried batch must not count twice: resend one and check nothing moved.
            again = session.post(url, data=payloads[0], timeout=60).json()
            if again["recorded"] != 0:
                raise SystemExit(f"a resent batch recorded {again['recorded']} outcomes")
            rate = args.outcomes / elapsed
            rates.append(rate)
            print(f"  run {run + 1}: {args.outcomes:,} outcomes in {elapsed:.2f} s = "
                  f"{rate:,.0f}/s ({elapsed / len(payloads) * 1000:.1f} ms per 10k batch; CPU "
                  + ", ".join(f"{name} {ms:.1f} ms" for name, ms in cpu.items())
                  + f", client {client_cpu / len(payloads) * 1000:.1f} ms per batch; load "
                  f"{os.getloadavg()[0]:.2f})")
    finally:
        stop_server(server)
    return rates


def _sums(values, covariates=None, denominators=None, pre_denominators=None
          ) -> dict[str, float]:
    from dataclasses import asdict

    from abtest_app.stats import ArmStats

    sums = ArmStats.from_values(values, covariates, denominators, pre_denominators)
    return {name: amount for name, amount in asdict(sums).items() if amount}


def bench_evaluation(args, user, kind: str = "plain") -> list[float]:
    """kind: plain, cuped (outcomes with covariates), ratio (with denominators) or
    ratio_cuped (with covariates, denominators and covariate denominators)."""
    import numpy as np

    from abtest_app import services
    from abtest_app.models import ArmStats
    from abtest_app.vocabulary import Arm, Direction, Method

    stop_running(user)
    # A minimum effect nothing can clear keeps the test running through every timed look.
    test = new_running_test(user, f"evaluation at 10M, {kind}", method=Method.SEQUENTIAL,
                            planned_samples_per_arm=5_000_000, min_effect=1e6,
                            guardrails=[{"name": "latency_ms", "direction": Direction.LOWER}],
                            ratio_metric=kind in ("ratio", "ratio_cuped"))
    rng = np.random.default_rng(11)
    for arm, mean in ((Arm.CHAMPION, 1.00), (Arm.CHALLENGER, 1.001)):
        for metric, loc, scale in (("", mean, 0.5), ("latency_ms", 20.0, 3.0)):
            totals: dict[str, float] = {}
            for _ in range(5):  # 5 x 1M values per arm and metric
                values = rng.normal(loc, scale, size=1_000_000)
                covariates = denominators = pre_denominators = None
                if metric == "" and kind in ("cuped", "ratio_cuped"):
                    covariates = values + rng.normal(0.0, 0.3, size=values.size)
                if metric == "" and kind in ("ratio", "ratio_cuped"):
                    denominators = rng.poisson(20, size=values.size) + 1.0
                if metric == "" and kind == "ratio_cuped":
                    pre_denominators = rng.poisson(20, size=values.size) + 1.0
                for name, amount in _sums(values, covariates, denominators,
                                          pre_denominators).items():
                    totals[name] = totals.get(name, 0) + amount
            ArmStats.objects.filter(test=test, arm=arm, metric=metric).update(**totals)
    services.abtest_evaluate(test_id=test.pk)  # warm caches (scipy, query compilation)
    times = []
    for _ in range(max(args.runs, 5) * 4):
        started = time.perf_counter()
        snapshot = services.abtest_evaluate(test_id=test.pk)
        times.append((time.perf_counter() - started) * 1000)
        if snapshot is None or snapshot.champion_n + snapshot.challenger_n != 10_000_000:
            raise SystemExit("the evaluation did not see 10M outcomes")
    assert snapshot is not None
    analysis = snapshot.details["analysis"]
    if analysis != {"plain": "raw"}.get(kind, kind) or "bayesian" not in snapshot.details:
        raise SystemExit(f"the {kind} evaluation analysed {analysis}")
    print(f"  {len(times)} evaluations of 10,000,000 outcomes ({kind}): median "
          f"{statistics.median(times):.2f} ms, max {max(times):.2f} ms "
          f"(decision {snapshot.decision}, sequential p {snapshot.sequential_p:.3g})")
    return times


def bench_assignment(args) -> tuple[list[float], list[float]]:
    from abtest_app.assignment import assign_arm, assign_many
    from abtest_app.vocabulary import Arm

    units = [f"user-{i}" for i in range(1_000_000)]
    assign_many("warm", units[:1000], 50)
    many, single = [], []
    for run in range(args.runs):
        started = time.perf_counter()
        arms = assign_many(f"seed-{run}", units, 50)
        many.append(len(units) / (time.perf_counter() - started))
        few = units[:200_000]
        started = time.perf_counter()
        for unit in few:
            assign_arm(f"seed-{run}", unit, 50)
        single.append(len(few) / (time.perf_counter() - started))
    share = arms.count(Arm.CHALLENGER) / len(arms)
    print(f"  assign_many: median {statistics.median(many):,.0f} units/s; assign_arm: "
          f"{statistics.median(single):,.0f} units/s; challenger share {share:.2%}")
    return many, single


def report(rows: list[tuple[str, float, str, float, bool]]) -> None:
    print("\n| figure | median | target | ratio |")
    print("| --- | --- | --- | --- |")
    for name, value, unit, target, higher_better in rows:
        if target:
            ratio = value / target if higher_better else target / value
            goal = f"{'>=' if higher_better else '<='} {target:,.0f} {unit}"
            print(f"| {name} | {value:,.1f} {unit} | {goal} | {ratio:.2f}x "
                  f"{'ok' if ratio >= 1 else 'MISSED'} |")
        else:
            print(f"| {name} | {value:,.1f} {unit} | none | - |")


def main() -> None:
    args = parse_args()
    signal.signal(signal.SIGALRM, lambda *_: sys.exit(f"gave up after {args.deadline:.0f} s"))
    signal.alarm(int(args.deadline))
    tmp = Path(tempfile.mkdtemp(prefix="axion-bench-abtest-"))
    try:
        env = environment(tmp, args.database_url)
        setup_django(env)
        user, token = make_fixtures()
        database = "PostgreSQL" if args.database_url else "SQLite"
        parts = set(args.parts.split(","))
        rows: list[tuple[str, float, str, float, bool]] = []
        if "ingestion" in parts:
            print(f"Outcome ingestion over HTTP (gunicorn, {args.workers} worker, {database}):")
            rates = bench_ingestion(args, env, user, token)
            rows.append(("outcomes through the batch API", statistics.median(rates), "/s",
                         50_000, True))
        if "extra" in parts or "ingestion" in parts:
            print("  with a denominator, a covariate and a covariate_denominator on every "
                  "outcome:")
            extra_rates = bench_ingestion(args, env, user, token, extra=True)
            rows.append(("outcomes with denominator + covariate + covariate_denominator",
                         statistics.median(extra_rates), "/s", 150_000, True))
        if "evaluation" in parts:
            print("Evaluation:")
            for kind, label, target in (
                    ("plain", "evaluation at 10M outcomes", 100),
                    ("cuped", "evaluation at 10M, CUPED + Bayesian", 10),
                    ("ratio", "evaluation at 10M, ratio + Bayesian", 10),
                    ("ratio_cuped", "evaluation at 10M, ratio + CUPED + Bayesian", 10)):
                times = bench_evaluation(args, user, kind)
                rows.append((label, statistics.median(times), "ms", target, False))
        if "assignment" in parts:
            print("Assignment:")
            many, single = bench_assignment(args)
            rows.append(("assign_many", statistics.median(many), "units/s", 500_000, True))
            rows.append(("assign_arm (one at a time)", statistics.median(single), "units/s", 0,
                         True))
        report(rows)
    finally:
        signal.alarm(0)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
