"""Warm-ups must happen, once on each host: they survive a dead pool process, a dead worker,
a broker that was away and a host that was down, and a warm-up that runs twice (or in two
processes of one host at once) records once."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from axion_registry.testing import redis_broker_url, run_concurrently, wait_for
from models_app.models import StageTransition
from serving_app import warmups
from serving_app.models import DeploymentEvent, HostWarmUp, ServingHost
from serving_app.tasks import deployment_reconcile, warmup_queue
from serving_app.tests.mock_models import ConstantModel, SlowModel

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent




def promote_event(version) -> DeploymentEvent:
    return DeploymentEvent.objects.get(version=version, kind="promote")


@pytest.fixture
def purged_queue(celery_app):
    with celery_app.connection_for_write() as conn:
        for queue in ("celery", warmup_queue(settings.AXION_HOST_NAME).name):
            conn.default_channel.queue_purge(queue)


def host_row(event: DeploymentEvent, host: str | None = None) -> HostWarmUp:
    return HostWarmUp.objects.get(event=event, host=host or settings.AXION_HOST_NAME)


class TestInProcess:
    pytestmark = pytest.mark.django_db(transaction=True)

    def test_a_warm_up_run_twice_on_one_host_records_once(self, deploy):
        version = deploy(ConstantModel(1.0), "1.0.0")
        event = promote_event(version)
        first = warmups.host_warm_up(event_id=event.pk, version_id=version.pk)
        second = warmups.host_warm_up(event_id=event.pk, version_id=version.pk)
        assert (first.status, second.status) == ("ok", "ok")
        assert second.attempts == 1 and second.load_ms == first.load_ms
        event.refresh_from_db()
        assert (event.warmup_status, event.attempts) == ("ok", 1)

    def test_two_processes_of_one_host_warm_it_up_once_at_the_same_time(self, deploy):
        version = deploy(SlowModel(1.0), "1.0.0")
        event = promote_event(version)
        rows = run_concurrently([
            lambda: warmups.host_warm_up(event_id=event.pk, version_id=version.pk)] * 2)
        assert sorted(r.status for r in rows) == ["ok", "pending"]  # one ran, one stood back
        assert host_row(event).attempts == 1

    def test_a_deployment_is_warmed_on_every_live_host_and_settles_when_each_is_warm(
            self, deploy, settings):
        here = settings.AXION_HOST_NAME
        for name in (here, "host-elsewhere"):
            warmups.host_seen(name=name)
        version = deploy(ConstantModel(1.0), "1.0.0")
        event = promote_event(version)
        assert sorted(event.host_warmups.values_list("host", flat=True)) == sorted(
            [here, "host-elsewhere"])
        warmups.host_warm_up(event_id=event.pk, version_id=version.pk)
        event.refresh_from_db()
        assert event.warmup_status == "pending"  # the other host has not warmed it yet
        settings.AXION_HOST_NAME = "host-elsewhere"
        warmups.host_warm_up(event_id=event.pk, version_id=version.pk)
        event.refresh_from_db()
        slowest = max(r.load_ms for r in event.host_warmups.all())
        assert (event.warmup_status, event.load_ms) == ("ok", slowest)
        assert all(r.status == "ok" and r.duration_ms >= r.load_ms
                   for r in event.host_warmups.all())

    def test_a_host_gone_away_is_missed_then_catches_up_when_it_returns(self, deploy, settings):
        here = settings.AXION_HOST_NAME
        for name in (here, "host-b"):
            warmups.host_seen(name=name)
        version = deploy(ConstantModel(1.0), "1.0.0")
        event = promote_event(version)
        warmups.host_warm_up(event_id=event.pk, version_id=version.pk)
        gone = timezone.now() - timedelta(seconds=settings.SERVING_HOST_TTL_SECONDS + 1)
        ServingHost.objects.filter(name="host-b").update(last_seen_at=gone)
        HostWarmUp.objects.filter(host="host-b").update(enqueued_at=timezone.now()
                                                         - timedelta(hours=1))
        assert deployment_reconcile() == [event.pk]
        assert host_row(event, "host-b").status == "missed"
        event.refresh_from_db()
        assert event.warmup_status == "ok"  # settled by the hosts that are there
        owed = warmups.host_announce(name="host-b")
        assert [(r.event_id, r.status) for r in owed] == [(event.pk, "pending")]
        settings.AXION_HOST_NAME = "host-b"
        assert warmups.host_warm_up(event_id=event.pk, version_id=version.pk).status == "ok"
        assert warmups.host_announce(name="host-b") == []  # nothing owed any more

    def test_a_warm_up_never_enqueued_is_enqueued_by_the_reconciler(self, deploy, celery_app):
        from celery.contrib.testing.worker import start_worker

        warmups.host_seen(name=settings.AXION_HOST_NAME)  # what a starting worker does
        version = deploy(ConstantModel(1.0), "1.0.0")
        event = promote_event(version)
        # What a promotion leaves behind when the broker is down: pending, never enqueued.
        with celery_app.connection_for_write() as conn:  # and what earlier tests left
            for queue in ("celery", settings.LOAD_CHECK_QUEUE,
                          warmup_queue(settings.AXION_HOST_NAME).name):
                conn.default_channel.queue_purge(queue)
        HostWarmUp.objects.filter(event=event).update(
            enqueued_at=None, created_at=timezone.now() - timedelta(minutes=1))
        assert deployment_reconcile() == [event.pk]
        with start_worker(celery_app, perform_ping_check=False, shutdown_timeout=20.0,
                          queues=("celery", warmup_queue(settings.AXION_HOST_NAME).name)):
            done = wait_for(lambda: DeploymentEvent.objects.filter(
                pk=event.pk, warmup_status="ok").first(), what="the re-enqueued warm-up")
        row = host_row(done)
        assert row.enqueued_at is not None and row.attempts == 1

    def test_a_deployment_with_no_host_planned_is_planned_by_the_reconciler(self, deploy):
        version = deploy(ConstantModel(1.0), "1.0.0")
        event = promote_event(version)
        HostWarmUp.objects.filter(event=event).delete()  # planning failed after the promotion
        DeploymentEvent.objects.filter(pk=event.pk).update(
            created_at=timezone.now() - timedelta(minutes=1))
        assert deployment_reconcile() == [event.pk]
        assert host_row(event).enqueued_at is not None

    def test_the_reconciler_leaves_fresh_and_finished_warm_ups_alone(self, deploy):
        fresh = promote_event(deploy(ConstantModel(1.0), "1.0.0"))
        HostWarmUp.objects.filter(event=fresh).update(enqueued_at=timezone.now())
        finished = promote_event(deploy(ConstantModel(2.0), "1.1.0"))
        HostWarmUp.objects.filter(event=finished).update(
            status="ok", enqueued_at=timezone.now() - timedelta(hours=1))
        assert deployment_reconcile() == []

    def test_a_warm_up_that_never_finishes_fails_and_rolls_the_promotion_back(self, deploy):
        warmups.host_seen(name=settings.AXION_HOST_NAME)
        good = deploy(ConstantModel(1.0), "1.0.0")
        DeploymentEvent.objects.filter(version=good).update(warmup_status="ok")
        bad = deploy(ConstantModel(2.0), "1.1.0")
        event = promote_event(bad)
        HostWarmUp.objects.filter(event=event).update(
            attempts=settings.SERVING_WARMUP_MAX_ATTEMPTS,
            enqueued_at=timezone.now() - timedelta(hours=1))
        assert deployment_reconcile() == [event.pk]
        event.refresh_from_db()
        assert event.warmup_status == "failed" and event.rolled_back
        assert "never finished" in event.error and "never finished" in host_row(event).error
        rollback = StageTransition.objects.get(kind="rollback")
        assert (rollback.version_id, rollback.source) == (good.pk, "warmup")


# -- a real worker process, killed on purpose ----------------------------------------------

needs_real_broker = [
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.skipif(not redis_broker_url(), reason="needs CELERY_BROKER_URL on Redis"),
    pytest.mark.django_db(transaction=True),
]


def _worker_env(broker: str, **extra: str) -> dict[str, str]:
    db = connection.settings_dict
    env = dict(os.environ)
    env.update({
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "CELERY_BROKER_URL": broker,
        "PLATFORM_MODEL_PACKAGE": "src.ml,serving_app.tests",
        "ARTIFACT_ROOT": str(settings.STORAGES["artifacts"]["OPTIONS"]["location"]),
        "OMP_NUM_THREADS": "1",
    })
    env.update(extra)
    return env


def _start_worker(env: dict[str, str], tmp_path: Path, *, beat: bool = False):
    command = [str(BIN / "celery"), "-A", "axion_registry", "worker", "--pool", "prefork",
               "--concurrency", "1", "--without-mingle", "--without-gossip",
               "--without-heartbeat", "--loglevel", "INFO", "-Q", "celery,loadcheck"]
    if beat:
        command += ["-B", "--schedule", str(tmp_path / "beat-schedule")]
    log = open(tmp_path / f"worker-{time.monotonic_ns()}.log", "wb")
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)


def _stop(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(10)


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def _started(event: DeploymentEvent, attempts: int) -> bool:
    return DeploymentEvent.objects.filter(pk=event.pk, attempts__gte=attempts).exists()


@pytest.mark.parametrize("_", [None], ids=["prefork"])
class TestRealWorker:
    pytestmark = needs_real_broker

    def test_a_killed_pool_process_hands_the_warm_up_back_to_the_queue(
            self, _, purged_queue, deploy, tmp_path):
        worker = _start_worker(_worker_env(redis_broker_url()), tmp_path)
        try:
            version = deploy(SlowModel(4.0), "1.0.0")
            event = promote_event(version)
            wait_for(lambda: _started(event, 1), 60, "the first warm-up to start")
            time.sleep(1.0)  # loaded, now predicting on the example (4 s)
            (child,) = wait_for(lambda: _children(worker.pid), 10, "the pool process")
            os.kill(child, signal.SIGKILL)
            done = wait_for(lambda: DeploymentEvent.objects.filter(
                pk=event.pk, warmup_status="ok").first(), 60, "the redelivered warm-up")
        finally:
            _stop(worker)
        assert done.attempts == 2 and not done.rolled_back
        version.refresh_from_db()
        assert version.stage == "production"

    def test_a_killed_worker_is_made_good_by_the_reconciler(
            self, _, purged_queue, deploy, tmp_path):
        env = _worker_env(redis_broker_url(), CELERY_VISIBILITY_TIMEOUT="3600",
                          SERVING_WARMUP_DEADLINE_SECONDS="2", SERVING_RECONCILE_SECONDS="1")
        worker = _start_worker(env, tmp_path)
        try:
            version = deploy(SlowModel(4.0), "1.0.0")
            event = promote_event(version)
            wait_for(lambda: _started(event, 1), 60, "the first warm-up to start")
        finally:
            _stop(worker)  # the whole worker, mid-task: the message stays unacknowledged
        assert DeploymentEvent.objects.get(pk=event.pk).warmup_status == "pending"
        again = _start_worker(env, tmp_path, beat=True)
        try:
            done = wait_for(lambda: DeploymentEvent.objects.filter(
                pk=event.pk, warmup_status="ok").first(), 90, "the reconciled warm-up")
        finally:
            _stop(again)
        assert done.attempts == 2 and not done.rolled_back

    def test_a_promotion_while_the_broker_is_down_is_warmed_when_it_returns(
            self, _, deploy, release_manager, tmp_path):
        redis_server = shutil.which("redis-server")
        if redis_server is None:
            pytest.skip("needs redis-server for a broker of the test's own")
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        broker = f"redis://127.0.0.1:{port}/0"
        version = deploy(ConstantModel(1.0), "1.0.0", promote=False)
        from models_app.services import version_transition

        version_transition(version=version, to="staging", actor=release_manager)
        env = _worker_env(broker, SERVING_WARMUP_DEADLINE_SECONDS="2",
                          SERVING_RECONCILE_SECONDS="1")
        promote = (
            "from django.contrib.auth import get_user_model; "
            "from models_app.models import ModelVersion; "
            "from models_app.services import version_promote; "
            f"version_promote(version=ModelVersion.objects.get(pk={version.pk}), "
            f"actor=get_user_model().objects.get(username='{release_manager.username}'))"
        )
        result = subprocess.run([sys.executable, "manage.py", "shell", "-c", promote], cwd=ROOT,
                                env=env, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr[-2000:]
        assert "could not enqueue the warm-up" in result.stderr
        event = promote_event(version)
        assert (event.warmup_status, event.enqueued_at) == ("pending", None)

        server = subprocess.Popen([redis_server, "--bind", "127.0.0.1", "--port", str(port),
                                   "--save", "", "--appendonly", "no"],
                                  stdout=subprocess.DEVNULL, start_new_session=True)
        returned = time.monotonic()
        worker = _start_worker(env, tmp_path, beat=True)
        try:
            done = wait_for(lambda: DeploymentEvent.objects.filter(
                pk=event.pk, warmup_status="ok").first(), 60, "the warm-up after the outage")
            took = time.monotonic() - returned
        finally:
            _stop(worker)
            _stop(server)
        assert done.attempts == 1 and done.enqueued_at is not None
        assert took < 60, f"warmed {took:.0f} s after the broker returned"

    def test_a_killed_pool_process_mid_load_check_hands_the_check_back_to_the_queue(
            self, _, purged_queue, tmp_path, celery_app):
        import pickle

        from models_app import services as registry
        from models_app.models import ModelVersion

        with celery_app.connection_for_write() as conn:
            conn.default_channel.queue_purge("loadcheck")
        worker = _start_worker(_worker_env(redis_broker_url()), tmp_path)
        try:
            registry.model_create(name="checked", gates={"require_staging": False})
            version = registry.version_register(
                model_name="checked", artifact=io.BytesIO(pickle.dumps(SlowModel(3.0))),
                framework="custom", artifact_format="pickle",
                signature={"inputs": [{"name": "f0", "type": "double"}]},
                input_example=[{"f0": 1.0}])
            check = wait_for(lambda: _load_check_process(), 60, "the load check to start")
            (child,) = wait_for(lambda: _children(worker.pid), 10, "the pool process")
            os.kill(child, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError):  # it may die with its parent
                os.kill(check, signal.SIGKILL)  # its orphaned check: nothing may record it
            done = wait_for(lambda: ModelVersion.objects.filter(
                pk=version.pk).exclude(load_check_status="pending").first(), 90,
                "the redelivered load check")
        finally:
            _stop(worker)
        assert done.load_check_status == "passed", done.load_check


def _load_check_process() -> int | None:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                command = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if b"serving_app.loadcheck" in command:
                return int(entry.name)
    return None
