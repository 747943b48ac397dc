"""PostgreSQL restarted under load: requests fail fast with 503 `database_unavailable` during
the gap, recover by themselves, and every write that answered 2xx is in the database.

The test runs its own throwaway cluster (initdb, pg_ctl) on a free port, never the machine's
shared one, and its own gunicorn against it.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

import pytest

from axion_registry.testing import run_concurrently

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PG_BIN = next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin"))), None) \
    if Path("/usr/lib/postgresql").exists() else None

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(PG_BIN is None or not (PG_BIN / "initdb").exists(),
                       reason="needs PostgreSQL's server binaries (initdb, pg_ctl)"),
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Cluster:
    """A PostgreSQL cluster of the test's own, run as the postgres user when we are root."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.data = folder / "data"
        self.port = _free_port()
        self.as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def _run(self, *command: str) -> None:
        subprocess.run([*self.as_postgres, *command], check=True, capture_output=True,
                       timeout=120)

    def init(self) -> None:
        if self.as_postgres:
            shutil.chown(self.folder, "postgres")
        self._run(str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres",
                  "--auth=trust", "--no-sync")

    def start(self) -> None:
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l",
                  str(self.folder / "server.log"), "-w", "-o",
                  f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off",
                  "start")

    def stop(self) -> None:
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/axion"


# A model with two versions for a sandbox A/B test (made on the throwaway database).
AB_MODEL = """
import io, pickle
import numpy as np
from sklearn.linear_model import LogisticRegression
from django.contrib.auth import get_user_model
from models_app import services
admin = get_user_model().objects.get(username="admin")
services.model_create(name="ab", gates={"load_check": False}, owner=admin)
data = pickle.dumps(LogisticRegression().fit(np.eye(4), [0, 1, 0, 1]))
for number in ("1.0.0", "1.1.0"):
    services.version_register(model_name="ab", artifact=io.BytesIO(data), framework="sklearn",
                              artifact_format="pickle", version=number, created_by=admin)
"""


def _request(url: str, token: str, body: dict | None = None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method="POST" if data else "GET")
    request.add_header("Authorization", f"Token {token}")
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read() or b"{}")
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        try:
            return exc.code, json.loads(raw)
        except ValueError:
            return exc.code, {"raw": raw[:200].decode(errors="replace")}
    except OSError as exc:
        return 0, {"error": str(exc)}


@pytest.fixture
def stack():
    folder = Path(tempfile.mkdtemp(prefix="axion-pgrestart-"))
    os.chmod(folder, 0o755)
    cluster = Cluster(folder)
    cluster.init()
    cluster.start()
    import psycopg

    with psycopg.connect(f"postgres://postgres@127.0.0.1:{cluster.port}/postgres",
                         autocommit=True) as conn:
        conn.execute("CREATE DATABASE axion")
    var = folder / "var"
    var.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL",)}
    env.update(DATABASE_URL=cluster.url, AXION_VAR_DIR=str(var),
               ARTIFACT_ROOT=str(var / "artifacts"), CELERY_BROKER_URL="memory://",
               DJANGO_SETTINGS_MODULE="axion_registry.settings", SERVING_FLUSH_SECONDS="0",
               DATABASE_CONNECT_TIMEOUT="2", WEB_CONCURRENCY="2",
               # A request waits this long for a pooled connection, then answers 503: shorter
               # than the gap below, so the gap is always seen (with the default 10 s, requests
               # could wait it out and every answer be a 200).
               DATABASE_POOL_TIMEOUT="1.5")
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "--noinput"], env=env, check=True, capture_output=True)
    subprocess.run([*manage, "bootstrap", "--token-file", str(var / "token")], env=env,
                   check=True, capture_output=True)
    subprocess.run([*manage, "shell", "-c", AB_MODEL], env=env, check=True, capture_output=True)
    token = (var / "token").read_text().strip()
    port = _free_port()
    log = open(var / "web.log", "wb")
    web = subprocess.Popen(
        [str(BIN / "gunicorn"), "axion_registry.wsgi:application", "-c",
         str(ROOT / "axion_registry" / "gunicorn.conf.py"), "--bind", f"127.0.0.1:{port}",
         "--no-control-socket"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while _request(f"{base}/healthz", token)[0] != 200:
        assert time.monotonic() < deadline, "gunicorn did not come up"
        time.sleep(0.2)
    try:
        yield cluster, base, token
    finally:
        os.killpg(web.pid, signal.SIGTERM)
        web.wait(30)
        log.close()
        try:
            cluster.stop()
        except subprocess.CalledProcessError:
            pass
        print(f"\nweb log: {(var / 'web.log').read_text(errors='replace')[-3000:]}")
        shutil.rmtree(folder, ignore_errors=True)


def test_a_database_restart_under_load_fails_fast_recovers_and_loses_no_accepted_write(stack):
    cluster, base, token = stack
    status, run = _request(f"{base}/api/v1/runs/", token, {"experiment": "restart"})
    assert status == 201, run
    status, test = _request(f"{base}/api/v1/abtests/", token, {
        "name": "restart", "model": "ab", "champion": "1.0.0", "challenger": "1.1.0",
        "metric_name": "return_bps", "metric_type": "continuous"})
    assert status == 201, test
    status, started = _request(f"{base}/api/v1/abtests/{test['id']}/start/", token, {})
    assert status == 200, started
    metrics_url = f"{base}/api/v1/runs/{run['run_id']}/log-batch/"
    outcomes_url = f"{base}/api/v1/abtests/{test['id']}/outcomes/"
    accepted: dict[str, list[int]] = {"metric": [], "outcome": []}
    answers: Counter[str] = Counter()
    stop = threading.Event()
    lock = threading.Lock()
    steps = iter(range(10**9))

    def write(kind: str, step: int) -> tuple[int, dict]:
        if kind == "metric":
            return _request(metrics_url, token, {"metrics": [
                {"key": "loss", "value": step / 1000, "step": step,
                 "timestamp": 1_700_000_000_000}]})
        return _request(outcomes_url, token, {"outcomes": [
            {"unit_id": f"u{step}", "value": step % 7}]})

    def load(kind: str) -> None:
        while not stop.is_set():
            with lock:
                step = next(steps)
            started = time.monotonic()
            status, body = write(kind, step)
            took = time.monotonic() - started
            with lock:
                answers[f"{status} {body.get('code', '')}".strip()] += 1
                if 200 <= status < 300:
                    accepted[kind].append(step)
                elif status == 503:
                    assert took < 10, f"a 503 took {took:.1f} s: not failing fast"
            time.sleep(0.005)

    def restart() -> int:
        """The timeline: load, stop the database, a gap, start it again, more load."""
        try:
            time.sleep(2)
            before = len(accepted["metric"]) + len(accepted["outcome"])
            cluster.stop()
            time.sleep(3)  # the gap: every request now meets a database that is not there
            cluster.start()
            time.sleep(4)
            return before
        finally:
            stop.set()

    loads = [functools.partial(load, kind) for kind in ("metric", "metric", "outcome", "outcome")]
    *_, before = run_concurrently([*loads, restart], timeout=120)
    total = len(accepted["metric"]) + len(accepted["outcome"])

    import psycopg

    with psycopg.connect(cluster.url) as conn:
        stored_steps = {row[0] for row in conn.execute(
            "SELECT m.step FROM experiments_app_metric m JOIN experiments_app_run r "
            "ON r.id = m.run_id WHERE r.run_id = %s", [run["run_id"]])}
        stored_units = {row[0] for row in conn.execute(
            "SELECT unit_id FROM abtest_outcomes WHERE test_id = %s", [test["id"]])}
    lost = sorted(set(accepted["metric"]) - stored_steps) + sorted(
        f"u{step}" for step in accepted["outcome"] if f"u{step}" not in stored_units)
    print(f"\nsent {sum(answers.values())}, answers {dict(answers)}, accepted "
          f"{len(accepted['metric'])} metric points and {len(accepted['outcome'])} outcomes, "
          f"lost {len(lost)}")
    assert lost == []
    assert set(answers) <= {"200", "503 database_unavailable"}, answers
    assert answers["503 database_unavailable"] > 0  # the gap was seen, and answered as such
    assert accepted["outcome"] and accepted["metric"]
    assert total - before > 20  # it recovered by itself
