# The Celery app loads with Django, so @shared_task uses it (Celery's Django guide).
from __future__ import annotations

from .celery import app as celery_app

__all__ = ("celery_app",)
