"""Per-model deployment generations: bumped on every deployment, read by every process.

Redis (settings.REDIS_URL) when configured, else the database; the database counter is
kept either way and read when Redis does not answer. Only a change matters to readers.
"""

from __future__ import annotations

import logging
from functools import lru_cache

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F

from serving_app.models import ModelGeneration

logger = logging.getLogger(__name__)
REDIS_KEY = "axion:serving:generations"


@lru_cache(maxsize=4)
def _client(url: str):
    import redis

    return redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)


def _redis():
    url = settings.REDIS_URL
    return _client(url) if url else None


def generation_bump(model_name: str) -> int:
    """Advance the model's generation (database, then Redis); returns the new value."""
    with transaction.atomic():
        updated = ModelGeneration.objects.filter(model_name=model_name).update(
            generation=F("generation") + 1
        )
        if not updated:
            try:
                with transaction.atomic():
                    ModelGeneration.objects.create(model_name=model_name, generation=1)
            except IntegrityError:
                ModelGeneration.objects.filter(model_name=model_name).update(
                    generation=F("generation") + 1
                )
        value = ModelGeneration.objects.get(model_name=model_name).generation
    client = _redis()
    if client is not None:
        try:
            # Redis keeps its own counter: readers only compare for change, so a Redis that
            # lost its data (or a reader falling back to the database) reads as a change.
            return int(client.hincrby(REDIS_KEY, model_name, 1))
        except Exception as exc:  # an expected degradation: its cause, not a traceback
            logger.warning("could not publish the deployment of %s to Redis (%s); processes "
                           "will notice it within SERVING_ROUTE_REFRESH_SECONDS", model_name,
                           exc)
    return value


def generations_read() -> dict[str, int]:
    """Every model's current generation (a model never deployed reads as absent)."""
    client = _redis()
    if client is not None:
        try:
            return {k.decode(): int(v) for k, v in client.hgetall(REDIS_KEY).items()}
        except Exception as exc:
            logger.warning("Redis did not answer the generation check (%s); reading the "
                           "database", exc)
    return dict(ModelGeneration.objects.values_list("model_name", "generation"))
