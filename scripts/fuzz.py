"""Schema fuzzing: schemathesis against a live gunicorn on a throwaway database.

    python scripts/fuzz.py [--examples N] [--seed S] [--max-time SECONDS]

Creates a fresh database (PostgreSQL database `axion_fuzz` by default, or DATABASE_URL),
migrates it, seeds the demo data, starts gunicorn on a free loopback port and runs every
operation of the published OpenAPI schema as a release manager. Fails on any 5xx and on
any response that breaks the schema. CI runs a short, seeded budget; `make fuzz` a longer one.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
HOST = "127.0.0.1"
DEFAULT_DATABASE = "postgres://postgres@127.0.0.1:5432/axion_fuzz"
CHECKS = "not_a_server_error,response_schema_conformance,content_type_conformance"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def fresh_postgres(url: str) -> None:
    import psycopg

    base, name = url.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def wait_for(url: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"[fuzz] {url} did not answer within {seconds:.0f} s")


def summarize(access_log: Path, output: str) -> dict[str, int]:
    """Requests and 5xx answers as the server logged them; the failures schemathesis found."""
    statuses = [line.rsplit(" ", 1)[-1] for line in access_log.read_text().splitlines()]
    figures = {"requests": len(statuses),
               "server_errors": sum(status.startswith("5") for status in statuses)}
    for code, what, count in re.findall(r"(ST\d+) ([A-Za-z ]+): (\d+)", output):
        figures[f"{code} {what.strip().lower()}"] = int(count)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=10, help="per operation")
    parser.add_argument("--seed", type=int, default=20261201)
    parser.add_argument("--max-time", type=int, default=0, help="seconds; 0 = no limit")
    args = parser.parse_args()

    var = Path(tempfile.mkdtemp(prefix="axion-fuzz-"))
    env = dict(os.environ)
    env.update({
        "AXION_VAR_DIR": str(var), "ARTIFACT_ROOT": str(var / "artifacts"),
        "DJANGO_SETTINGS_MODULE": "axion_registry.settings", "OMP_NUM_THREADS": "1",
        "CELERY_BROKER_URL": env.get("CELERY_BROKER_URL", "memory://"),
        "SERVING_FLUSH_SECONDS": "0", "PYTHONUNBUFFERED": "1",
    })
    env.setdefault("DATABASE_URL", DEFAULT_DATABASE)
    env.setdefault("PLATFORM_MODEL_PATHS", str(ROOT / "demo" / "platform"))  # as make run
    if env["DATABASE_URL"].startswith("postgres"):
        fresh_postgres(env["DATABASE_URL"])

    def manage(*command: str) -> None:
        subprocess.run([sys.executable, str(ROOT / "manage.py"), *command], env=env,
                       check=True, stdout=subprocess.DEVNULL)

    print(f"[fuzz] database {env['DATABASE_URL']}, data under {var}", flush=True)
    manage("migrate", "--noinput")
    manage("bootstrap", "--token-file", str(var / "api-token"))
    manage("seed_demo", "--outcomes", "200")
    token = (var / "api-token").read_text().strip()
    port = free_port()
    log = open(var / "web.log", "wb")
    web = subprocess.Popen(
        [str(BIN / "gunicorn"), "axion_registry.wsgi:application", "-c",
         str(ROOT / "axion_registry" / "gunicorn.conf.py"), "--bind", f"{HOST}:{port}",
         "--no-control-socket", "--access-logfile", str(var / "access.log"),
         "--access-logformat", "%(m)s %(U)s %(s)s"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        base = f"http://{HOST}:{port}"
        wait_for(f"{base}/healthz", 60)
        command = [
            str(BIN / "schemathesis"), "run", f"{base}/api/schema/", "--checks", CHECKS,
            "--max-examples", str(args.examples), "--seed", str(args.seed),
            "--header", f"Authorization: Token {token}", "--workers", "2",
            "--phases", "examples,coverage,fuzzing", "--no-shrink",
            "--generation-database", "none", "--request-timeout", "30",
            "--no-color",
            "--suppress-health-check", "all",
        ]
        if args.max_time:
            command += ["--max-time", str(args.max_time)]
        started = time.monotonic()
        result = subprocess.run(command, cwd=var, env=env, capture_output=True, text=True)
        print(result.stdout[-20000:], result.stderr[-5000:], sep="\n", flush=True)
        figures = summarize(var / "access.log", result.stdout)
        print(f"[fuzz] {json.dumps(figures)} in {time.monotonic() - started:.0f} s "
              f"(seed {args.seed}, {args.examples} examples per operation)", flush=True)
        if result.returncode != 0:
            print(f"[fuzz] failed; the server log is {var / 'web.log'}", flush=True)
        return result.returncode
    finally:
        os.killpg(web.pid, signal.SIGTERM)
        web.wait(timeout=30)
        log.close()


if __name__ == "__main__":
    sys.exit(main())
