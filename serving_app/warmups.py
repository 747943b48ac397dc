"""Warm-ups, once per deployment and host (writes; serving_app.selectors has the reads).

A deployment is planned on every host seen within SERVING_HOST_TTL_SECONDS (this host when
none is known yet): one HostWarmUp row each, handed to that host's own queue. One worker of
the host takes it, fetches the artifact into the host's cache, loads it and predicts once.
The event's own warmup_status sums the hosts up: failed at the first failure (a promotion
is then rolled back), ok once every planned host that was not missed is ok.
"""

from __future__ import annotations

import fcntl
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from models_app import selectors as registry_reads
from serving_app import loader, selectors
from serving_app.loaded import WarmUp
from serving_app.models import DeploymentEvent, HostWarmUp, ServingHost

logger = logging.getLogger(__name__)

__all__ = [
    "deployment_hosts_plan",
    "host_announce",
    "host_seen",
    "host_warm_up",
    "host_warm_up_enqueued",
    "host_warm_up_give_up",
    "host_warm_up_missed",
]

Status = HostWarmUp.Status


def host_seen(*, name: str, now: datetime | None = None) -> None:
    """Note that a host's worker is alive."""
    ServingHost.objects.update_or_create(name=name,
                                         defaults={"last_seen_at": now or timezone.now()})


def deployment_hosts_plan(*, event_id: int, now: datetime | None = None) -> list[HostWarmUp]:
    """Give a pending deployment a warm-up row for every live host that has none; return
    its pending rows never handed to a queue."""
    event = DeploymentEvent.objects.filter(
        pk=event_id, warmup_status=DeploymentEvent.WarmUp.PENDING).first()
    if event is None:
        return []
    hosts = selectors.hosts_live(now=now or timezone.now()) or [settings.AXION_HOST_NAME]
    HostWarmUp.objects.bulk_create([HostWarmUp(event=event, host=h) for h in hosts],
                                   ignore_conflicts=True)
    return list(event.host_warmups.filter(status=Status.PENDING, enqueued_at__isnull=True))


def host_warm_up_enqueued(*, warmup_id: int, event_id: int) -> None:
    """Note that a host's warm-up was handed to its queue (the reconciler reads it; the
    event keeps when its first was)."""
    now = timezone.now()
    HostWarmUp.objects.filter(pk=warmup_id).update(enqueued_at=now)
    DeploymentEvent.objects.filter(pk=event_id, enqueued_at__isnull=True).update(enqueued_at=now)


@transaction.atomic
def host_announce(*, name: str) -> list[HostWarmUp]:
    """A host's worker started: note the host alive and return the warm-ups it owes, for
    the caller to enqueue: its pending rows, and a row for the latest deployment of each
    production version it has not warmed (it was down, missed it, or is new)."""
    host_seen(name=name)
    for version in registry_reads.production_versions():
        event = selectors.latest_deployment(version=version)
        if event is None:
            continue
        row, created = HostWarmUp.objects.get_or_create(event=event, host=name)
        if not created and row.status == Status.MISSED:
            row.status, row.enqueued_at = Status.PENDING, None
            row.save(update_fields=["status", "enqueued_at", "updated_at"])
    return list(HostWarmUp.objects.filter(host=name, status=Status.PENDING)
                .select_related("event"))


@contextmanager
def _host_lock(event_id: int) -> Iterator[bool]:
    """This host's lock on the event's warm-up (a file lock: the kernel drops it when its
    process dies, so a killed warm-up never blocks the redelivered one). False: another
    process of this host holds it."""
    folder = Path(settings.ARTIFACT_CACHE_DIR) / "warmups"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{event_id}.lock"
    with open(path, "a+b") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            path.unlink(missing_ok=True)  # whoever opens it later re-checks the row first
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _row_for_this_host(event_id: int, version_id: int, host: str) -> HostWarmUp | None:
    row = HostWarmUp.objects.select_related("event__version__model").filter(
        event_id=event_id, event__version_id=version_id, host=host).first()
    if row is not None:
        return row
    # A message with no row of this host (one queued before hosts had rows): a pending
    # deployment is warmed here too; a settled one was warmed where it was planned.
    if not DeploymentEvent.objects.filter(pk=event_id, version_id=version_id,
                                          warmup_status=DeploymentEvent.WarmUp.PENDING).exists():
        return None
    HostWarmUp.objects.bulk_create([HostWarmUp(event_id=event_id, host=host)],
                                   ignore_conflicts=True)
    return HostWarmUp.objects.select_related("event__version__model").get(
        event_id=event_id, host=host)


def host_warm_up(*, event_id: int, version_id: int) -> HostWarmUp | None:
    """Warm a deployed version up on this host (AXION_HOST_NAME), once: a row done already,
    or one that another process of this host is running, is left alone."""
    host = settings.AXION_HOST_NAME
    host_seen(name=host)
    row = _row_for_this_host(event_id, version_id, host)
    if row is None or row.status != Status.PENDING:
        return row
    with _host_lock(event_id) as mine:
        if not mine:
            logger.info("the warm-up of event %s runs in another process of %s", event_id, host)
            return row
        started = HostWarmUp.objects.filter(pk=row.pk, status=Status.PENDING).update(
            attempts=F("attempts") + 1, started_at=timezone.now())
        if not started:
            row.refresh_from_db()
            return row
        DeploymentEvent.objects.filter(pk=event_id).update(attempts=F("attempts") + 1)
        return _host_run(row)


def _host_run(row: HostWarmUp) -> HostWarmUp:
    record = loader.VersionRecord.from_row(row.event.version)
    warm = WarmUp(record)
    error = ""
    began = time.perf_counter()
    try:
        warm.run()
    except Exception as exc:  # any failure of the version (a time limit too) is the outcome
        error = f"{type(exc).__name__}: {exc}"[:2000]
        logger.exception("warm-up of %s on %s failed", record.label, row.host)
    predict_ms = warm.exercised.first_predict_ms if warm.exercised is not None else None
    return _host_finish(row, load_ms=warm.load_ms, predict_ms=predict_ms,
                        duration_ms=(time.perf_counter() - began) * 1000, error=error)


def _host_finish(row: HostWarmUp, *, load_ms: float | None, predict_ms: float | None,
                 duration_ms: float | None, error: str) -> HostWarmUp:
    first = HostWarmUp.objects.filter(pk=row.pk, status=Status.PENDING).update(
        status=Status.FAILED if error else Status.OK, load_ms=load_ms, predict_ms=predict_ms,
        duration_ms=duration_ms, error=error, finished_at=timezone.now(),
        updated_at=timezone.now())
    row.refresh_from_db()
    if first:
        _event_settle(row.event_id)
    return row


def _event_settle(event_id: int) -> None:
    """Sum the hosts up on the event once its outcome is known; roll back a promotion whose
    warm-up failed on a planned host. A host that fails after the event was settled (one
    that joined later) is logged, not a reason to roll back what every other host serves."""
    from serving_app.services import rollback_if_current

    with transaction.atomic():
        event = DeploymentEvent.objects.select_for_update().select_related("version").get(
            pk=event_id)
        rows = list(event.host_warmups.all())
        failed = [r for r in rows if r.status == Status.FAILED]
        if event.warmup_status != DeploymentEvent.WarmUp.PENDING:
            for late in failed:
                logger.error("%s could not warm %s up after its deployment settled: %s",
                             late.host, event.version, late.error)
            return
        ok = [r for r in rows if r.status == Status.OK]
        if failed:
            event.warmup_status = DeploymentEvent.WarmUp.FAILED
            event.load_ms, event.predict_ms = failed[0].load_ms, failed[0].predict_ms
            event.error = "; ".join(f"{r.host}: {r.error}" for r in failed)[:2000]
        elif ok and all(r.status in (Status.OK, Status.MISSED) for r in rows):
            event.warmup_status = DeploymentEvent.WarmUp.OK
            # The slowest host's cold start: what a first request would have paid there.
            event.load_ms = max((r.load_ms or 0.0) for r in ok)
            event.predict_ms = max((r.predict_ms or 0.0) for r in ok)
        else:
            return
        event.save(update_fields=["warmup_status", "load_ms", "predict_ms", "error",
                                  "updated_at"])
    if failed and event.kind == DeploymentEvent.Kind.PROMOTE:
        rolled = rollback_if_current(
            version=event.version,
            reason=f"warm-up of {event.version} failed: {event.error}"[:1000],
            source="warmup",
        )
        if rolled is not None:
            DeploymentEvent.objects.filter(pk=event.pk).update(rolled_back=True,
                                                                updated_at=timezone.now())


def host_warm_up_give_up(*, row: HostWarmUp) -> HostWarmUp:
    """A host's warm-up that never finished in SERVING_WARMUP_MAX_ATTEMPTS starts has failed
    (its version killed the worker, say)."""
    return _host_finish(
        row, load_ms=None, predict_ms=None, duration_ms=None,
        error=f"the warm-up never finished in {row.attempts} attempts (a worker died or "
              "timed out each time)",
    )


def host_warm_up_missed(*, row: HostWarmUp) -> HostWarmUp:
    """The host went away before its warm-up: the deployment is settled by the others, and
    the host warms the production versions when its worker starts again."""
    if HostWarmUp.objects.filter(pk=row.pk, status=Status.PENDING).update(
            status=Status.MISSED, updated_at=timezone.now()):
        logger.warning("%s was not seen for %s s: its warm-up of event %s is missed until it "
                       "returns", row.host, settings.SERVING_HOST_TTL_SECONDS, row.event_id)
        _event_settle(row.event_id)
    row.refresh_from_db()
    return row
