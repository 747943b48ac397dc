"""What a Celery worker does for its host: consume the host's warm-up queue whatever -Q
says, announce the host when it is ready (and warm what the host missed), and keep the host
noted alive while it runs. Connected when the Celery app loads (axion_registry.celery)."""

from __future__ import annotations

import logging
import time
from typing import Any

from celery.signals import celeryd_after_setup, heartbeat_sent, worker_ready

logger = logging.getLogger(__name__)

_last_beat = [0.0]


@celeryd_after_setup.connect
def consume_host_queue(sender: str, instance: Any, **kwargs: Any) -> None:
    from django.conf import settings

    from serving_app.tasks import warmup_queue

    instance.app.amqp.queues.select_add(warmup_queue(settings.AXION_HOST_NAME))


@worker_ready.connect
def announce_host(sender: Any, **kwargs: Any) -> None:
    from django.conf import settings

    from serving_app.tasks import host_announce, warmup_queue

    try:
        host_announce.apply_async(queue=warmup_queue(settings.AXION_HOST_NAME))
    except Exception:  # the broker is away: the worker reconnects, heartbeats note the host
        logger.exception("could not announce host %s", settings.AXION_HOST_NAME)


@heartbeat_sent.connect
def note_host_alive(sender: Any, **kwargs: Any) -> None:
    from django.conf import settings

    now = time.monotonic()
    if now - _last_beat[0] < settings.SERVING_HOST_HEARTBEAT_SECONDS:
        return
    _last_beat[0] = now
    from django.db import connections

    from serving_app import warmups

    try:
        warmups.host_seen(name=settings.AXION_HOST_NAME)
    except Exception:
        logger.warning("could not note host %s alive", settings.AXION_HOST_NAME, exc_info=True)
    finally:
        connections.close_all()  # the worker's main process keeps no connection between beats
