"""serving_app listens for deployments (note them, bump the generation, start a warm-up) and
for A/B tests that start or stop and aliases that move (bump the generation, so every
process re-reads routes)."""

from __future__ import annotations

import logging

from django.db import transaction
from django.dispatch import receiver

from abtest_app.signals import abtest_routing_changed
from models_app.signals import (
    alias_changed,
    load_check_requested,
    version_deployed,
    version_registered,
)
from serving_app import services

logger = logging.getLogger(__name__)


@receiver(version_deployed, dispatch_uid="serving_app.on_version_deployed")
def on_version_deployed(sender, *, version_id: int, model_name: str, kind: str,
                        previous_version_id: int | None = None, **kwargs) -> None:
    # The deployment is committed already: a failure here must not fail the caller's
    # promotion, and every step below is logged when it fails.
    try:
        event = services.deployment_record(
            version_id=version_id, kind=kind, previous_version_id=previous_version_id
        )
    except Exception:
        logger.exception("could not record the deployment of %s version %s", model_name,
                         version_id)
        event = None
    try:
        services.generation_bump(model_name=model_name)
    except Exception:
        logger.exception("could not bump the serving generation of %s", model_name)
    if event is None:
        return
    from serving_app.tasks import warm_up_enqueue

    transaction.on_commit(lambda: warm_up_enqueue(event.pk, version_id))


@receiver(abtest_routing_changed, dispatch_uid="serving_app.on_abtest_routing_changed")
@receiver(alias_changed, dispatch_uid="serving_app.on_alias_changed")
def on_routing_changed(sender, *, model_name: str, **kwargs) -> None:
    try:
        services.generation_bump(model_name=model_name)
    except Exception:
        logger.exception("could not bump the serving generation of %s", model_name)


@receiver(version_registered, dispatch_uid="serving_app.on_version_registered")
@receiver(load_check_requested, dispatch_uid="serving_app.on_load_check_requested")
def on_version_registered(sender, *, version_id: int, model_name: str, **kwargs) -> None:
    from serving_app.tasks import load_check_enqueue

    load_check_enqueue(version_id)  # a broker that is away: the reconciler retries
