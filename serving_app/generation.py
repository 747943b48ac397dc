"""Per-model deployment generations: bumped on every deployment, read by every process.

Redis (settings.REDIS_URL) when configured, with the database as the durable copy and
the fallback when Redis does not answer.
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
            # The database value is authoritative; Redis gets the same number, so a Redis
            # restart (all generations gone) still reads as a change to every process.
            client.hset(REDIS_KEY, model_name, value)
        except Exception:
            logger.warning("could not publish generation %s of %s to Redis", value, model_name,
                           exc_info=True)
    return value


def generations_read() -> dict[str, int]:
    """Every model's current generation (a model never deployed reads as absent)."""
    client = _redis()
    if client is not None:
        try:
            return {k.decode(): int(v) for k, v in client.hgetall(REDIS_KEY).items()}
        except Exception:
            logger.warning("Redis did not answer the generation check; reading the database",
                           exc_info=True)
    return dict(ModelGeneration.objects.values_list("model_name", "generation"))
