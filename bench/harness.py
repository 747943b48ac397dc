"""Shared pieces of the benchmarks: a real gunicorn on loopback with a throwaway database,
and figures printed against their targets. Not a test: it prints, it asserts nothing."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    base: str
    token: str
    env: dict[str, str]
    workdir: Path

    def session(self) -> requests.Session:
        session = requests.Session()
        session.headers["Authorization"] = f"Token {self.token}"
        return session

    def manage(self, *args: str) -> str:
        return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=self.env,
                              check=True, capture_output=True, text=True).stdout


@contextmanager
def server(workers: int = 2, threads: int = 4, extra_env: dict[str, str] | None = None,
           database_url: str | None = None) -> Iterator[Server]:
    """A migrated throwaway database and a gunicorn (gthread) serving it on 127.0.0.1."""
    workdir = Path(tempfile.mkdtemp(prefix="axion-bench-"))
    port = free_port()
    env = dict(os.environ)
    env.update({
        "DATABASE_URL": database_url or f"sqlite:///{workdir / 'bench.sqlite3'}",
        "ARTIFACT_ROOT": str(workdir / "artifacts"),
        "AXION_VAR_DIR": str(workdir),
        "CELERY_BROKER_URL": "memory://",
        "LOG_LEVEL": "WARNING",
        "WEB_CONCURRENCY": str(workers),
        "WEB_THREADS": str(threads),
    })
    env.update(extra_env or {})
    process = None
    try:
        run = Server(f"http://127.0.0.1:{port}", "", env, workdir)
        run.manage("migrate", "--noinput")
        token_file = workdir / "token"
        run.manage("bootstrap", "--token-file", str(token_file))
        run.token = token_file.read_text().strip()
        process = subprocess.Popen(
            [str(BIN / "gunicorn"), "axion_registry.wsgi:application", "-c",
             str(ROOT / "axion_registry" / "gunicorn.conf.py"), "--bind", f"127.0.0.1:{port}"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=open(workdir / "web.log", "wb"),
            start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{run.base}/healthz", timeout=5).status_code == 200:
                    break
            except (requests.ConnectionError, requests.Timeout):
                time.sleep(0.2)
        else:
            raise SystemExit(f"server did not start; see {workdir / 'web.log'}")
        yield run
    finally:
        if process is not None and process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        shutil.rmtree(workdir, ignore_errors=True)


def timed(call) -> float:
    """Milliseconds one call takes."""
    start = time.perf_counter()
    call()
    return (time.perf_counter() - start) * 1000


def median(values: list[float]) -> float:
    return statistics.median(values)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def report(name: str, value: float, target: float, unit: str, *, higher_is_better: bool = False,
           reference: tuple[str, float] | None = None) -> bool:
    """Print one figure with its target; return whether it meets the target."""
    met = value >= target if higher_is_better else value <= target
    sign = ">=" if higher_is_better else "<="
    ratio = value / target if target else float("nan")
    line = (f"{name:<58} {value:>10.3f} {unit:<6} target {sign} {target:g} {unit}  "
            f"({ratio:.2f}x target) {'MET' if met else 'MISSED'}")
    if reference:
        label, ref = reference
        factor = ref / value if not higher_is_better else value / ref
        line += f"  [{factor:.1f}x better than {label} {ref:g} {unit}]"
    print(line, flush=True)
    return met
