from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "axion_registry.settings")

app = Celery("axion_registry")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

import serving_app.worker_hooks  # noqa: E402, F401  (the host's queue, announcement, heartbeat)
