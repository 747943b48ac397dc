"""`make run` (scripts/run.py) end to end: it comes up, serves the API with the token it
prints and the dashboard, and Ctrl-C leaves no process behind."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(url: str, token: str | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Token {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except OSError:
        return 0, b""


def _processes() -> dict[int, tuple[int, str, bytes, str]]:
    """Every live (not zombie) process: pid -> (parent pid, state, environment, command)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if fields[0] == "Z":
                continue
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
            found[int(entry.name)] = (int(fields[1]), fields[0], (entry / "environ")
                                      .read_bytes(), command.decode(errors="replace")[:120])
        except OSError:  # gone meanwhile, or not ours to read
            continue
    return found


def _started_by(root: int, marker: bytes) -> dict[int, str]:
    """The processes below `root`, and any process whose environment holds the marker (a
    daemon that left the tree would still carry it; Redis rewrites its own, hence both)."""
    table = _processes()
    tree = {root}
    changed = True
    while changed:
        changed = False
        for pid, (parent, *_rest) in table.items():
            if parent in tree and pid not in tree:
                tree.add(pid)
                changed = True
    return {pid: info[3] for pid, info in table.items()
            if pid != os.getpid() and (pid in tree or marker in info[2])}


def _alive(pids) -> dict[int, str]:
    table = _processes()
    return {pid: table[pid][3] for pid in pids if pid in table}


def _wait(what: str, check, seconds: float, output: list[str]):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"{what} within {seconds:.0f} s; output:\n" + "".join(output[-60:]))


@pytest.mark.slow
@pytest.mark.own_services
def test_make_run_serves_the_demo_and_ctrl_c_stops_every_process(tmp_path):
    var = tmp_path / "var"
    web, dashboard, redis = _free_port(), _free_port(), _free_port()
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL",
                        "DJANGO_SETTINGS_MODULE", "AXION_API_URL", "AXION_API_TOKEN")}
    env.update(AXION_VAR_DIR=str(var), AXION_PORT=str(web), AXION_DASHBOARD_PORT=str(dashboard),
               AXION_REDIS_PORT=str(redis))
    marker = f"AXION_VAR_DIR={var}".encode() + b"\0"
    output: list[str] = []
    process = subprocess.Popen([sys.executable, "scripts/run.py"], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               start_new_session=True)
    reader = threading.Thread(target=lambda: output.extend(process.stdout), daemon=True)
    reader.start()
    base = f"http://127.0.0.1:{web}"
    started: dict[int, str] = {}
    try:
        token_line = _wait("the API token line", lambda: next(
            (line for line in output if line.strip().startswith("API token")), None), 600, output)
        token = token_line.split()[-1]
        _wait("/readyz answering 200", lambda: _get(f"{base}/readyz")[0] == 200, 180, output)

        status, body = _get(f"{base}/api/v1/models/", token)
        assert status == 200, body
        models = {m["name"]: m for m in json.loads(body)["results"]}
        assert set(models) == {"stock-ranking", "market-regime", "earnings-surprise",
                               "factor-timing"}
        assert all(m["production_version"] for m in models.values())
        assert _get(f"{base}/api/v1/models/")[0] == 401  # the token is what lets us in
        status, body = _get(f"{base}/api/v1/abtests/?state=running", token)
        assert status == 200 and json.loads(body)["count"] == 1

        _wait("the dashboard answering", lambda: _get(
            f"http://127.0.0.1:{dashboard}/_stcore/health")[0] == 200, 180, output)
        status, page = _get(f"http://127.0.0.1:{dashboard}/")
        assert status == 200 and b"<html" in page.lower()

        started = _started_by(process.pid, marker)
        names = " ".join(started.values())
        for part in ("redis-server", "gunicorn", "worker", "beat", "streamlit", "demo.feeder"):
            assert part in names, (part, started)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
        try:
            code = process.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            code = None
        reader.join(5)
        left = {**_alive(started), **_started_by(process.pid, marker)}
        for pid in left:  # never leave a test's processes running, even when it fails
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    assert code == 0, "".join(output[-40:])
    assert left == {}, left
    assert "stopped." in "".join(output)
    web_log = (var / "logs" / "web.log").read_text(errors="replace")
    assert "Traceback" not in web_log, web_log[-3000:]  # a clean stop is a quiet one
