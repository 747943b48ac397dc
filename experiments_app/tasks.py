"""Celery tasks: retention of metric points (beat, every METRIC_RETENTION_SECONDS)."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db import OperationalError
from django.utils import timezone

from experiments_app import services


@shared_task(autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def metrics_compact_finished() -> list[str]:
    """Compact the runs that ended more than METRIC_RETENTION_DAYS ago (0: keep every raw
    point), at most METRIC_RETENTION_RUNS_PER_PASS of them; returns their run ids."""
    days = settings.METRIC_RETENTION_DAYS
    if days <= 0:
        return []
    done = services.metrics_compact(
        finished_before=timezone.now() - timedelta(days=days),
        limit=settings.METRIC_RETENTION_RUNS_PER_PASS,
    )
    return done.run_ids
