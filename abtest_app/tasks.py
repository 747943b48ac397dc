"""Celery tasks: the beat fan-out and one evaluation per running test."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from abtest_app import selectors, services


@shared_task(autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def abtest_evaluate(test_id: int) -> int | None:
    """Evaluate one running test; returns the snapshot id (None if it no longer runs)."""
    snapshot = services.abtest_evaluate(test_id=test_id)
    return snapshot.pk if snapshot is not None else None


@shared_task(autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def abtest_evaluate_running() -> list[int]:
    """Beat entry point (every ABTEST_EVALUATION_SECONDS): one evaluation task per test."""
    test_ids = selectors.running_test_ids()
    for test_id in test_ids:
        abtest_evaluate.delay(test_id)
    return test_ids
