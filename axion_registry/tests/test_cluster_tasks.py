"""A task is not lost with the worker that took it. Two hosts' Celery workers (real processes)
share one Redis broker; the one running a load check is SIGKILLed whole (its main process,
its pool process and the check it started: a machine that loses power). The message was
never acknowledged (acks_late), so once it is older than the visibility timeout the other
worker's sweep puts it back on the queue, and that worker does the check."""

from __future__ import annotations

import io
import os
import pickle
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from axion_registry.testing import redis_broker_url, wait_for
from models_app import services as registry
from models_app.models import ModelVersion
from serving_app.tests.mock_models import SlowModel

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

from supervise import Supervisor, celery_worker_command  # noqa: E402

VISIBILITY_SECONDS = 6


pytestmark = [
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.skipif(not redis_broker_url(), reason="needs CELERY_BROKER_URL on Redis"),
    pytest.mark.django_db(transaction=True),
]


def _worker_env(settings, host: str) -> dict[str, str]:
    db = connection.settings_dict
    env = dict(os.environ)
    env.update({
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "CELERY_BROKER_URL": redis_broker_url(),
        "AXION_HOST_NAME": host,
        "PLATFORM_MODEL_PACKAGE": "src.ml,serving_app.tests",
        "ARTIFACT_ROOT": str(settings.STORAGES["artifacts"]["OPTIONS"]["location"]),
        "OMP_NUM_THREADS": "1",
        # A message held by a dead worker comes back within seconds here, not minutes.
        "CELERY_VISIBILITY_TIMEOUT": str(VISIBILITY_SECONDS),
        "CELERY_UNACKED_RESTORE_SECONDS": "1",
        "CELERY_UNACKED_RESTORE_THROTTLE": "1",
    })
    return env


def _process_tree_root(pid: int, roots: dict[int, str]) -> str | None:
    """Which of `roots` (pid: name) the process descends from."""
    while pid > 1:
        if pid in roots:
            return roots[pid]
        try:
            pid = int((Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            return None
    return None


def _load_check_owner(roots: dict[int, str]) -> str | None:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                command = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if b"serving_app.loadcheck" in command:
                return _process_tree_root(int(entry.name), roots)
    return None


def test_a_task_whose_worker_is_killed_mid_task_is_done_by_another_worker(
        tmp_path, celery_app, settings):
    settings.PLATFORM_MODEL_PACKAGE = [*settings.PLATFORM_MODEL_PACKAGE, "serving_app.tests"]
    with celery_app.connection_for_write() as conn:
        channel = conn.default_channel
        channel.queue_purge(settings.LOAD_CHECK_QUEUE)
        # Messages earlier tests' killed workers left unacknowledged: these workers' fast
        # sweep would put them back on the queue and run them beside this test's check.
        channel.client.delete(channel.unacked_key, channel.unacked_index_key)
    supervisor = Supervisor(dict(os.environ), tmp_path / "logs")
    names = ("host-a-worker", "host-b-worker")
    try:
        for name in names:
            host = name.removesuffix("-worker")
            supervisor.start(name, celery_worker_command(
                {}, "--concurrency", "1", "-n", f"{host}@%h", "--without-mingle",
                "--without-gossip"), env=_worker_env(settings, host))
        for name in names:
            supervisor.wait_for(lambda n=name: supervisor.log_says(n, b" ready."), name, 60)
        roots = {supervisor.pid(name): name for name in names}

        registry.model_create(name="checked", gates={"require_staging": False})
        version = registry.version_register(
            model_name="checked", artifact=io.BytesIO(pickle.dumps(SlowModel(2.0))),
            framework="custom", artifact_format="pickle",
            signature={"inputs": [{"name": "f0", "type": "double"}]},
            input_example=[{"f0": 1.0}])
        killed = wait_for(lambda: _load_check_owner(roots), 60, "the load check to start")
        killed_at = time.monotonic()
        supervisor.kill({killed})  # the whole process group, mid-task
        done = wait_for(lambda: ModelVersion.objects.filter(pk=version.pk).exclude(
            load_check_status="pending").first(), 45, "the load check, redelivered")
        took = time.monotonic() - killed_at
    finally:
        supervisor.stop()
    assert done.load_check_status == "passed", done.load_check
    (survivor,) = set(names) - {killed}

    def succeeded(name: str) -> list[str]:
        return [line for line in supervisor.log(name).read_text().splitlines()
                if "version_load_check[" in line and " succeeded " in line
                and line.endswith("'passed'")]

    assert succeeded(killed) == [] and succeeded(survivor)
    # Back once older than the visibility timeout (swept every second here), then checked.
    assert took < VISIBILITY_SECONDS + 30, took
    print(f"{killed} killed mid-task; {survivor} finished the load check {took:.1f} s later")
