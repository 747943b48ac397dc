"""Experiment writes the MLflow protocol needs beyond experiment_update: one tag at a time
(set or delete, under a row lock, so two clients tagging at once both keep their tag) and
renaming. The owner rule is the same as experiment_update's."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction

from experiments_app.errors import DuplicateExperiment, InvalidTrackingInput, TagNotFound
from experiments_app.models import Experiment
from experiments_app.ownership import require_experiment_owner
from experiments_app.services.experiments import _name
from experiments_app.tracking_input import TrackingInputError, clean_tags


def _locked(experiment: Experiment) -> Experiment:
    return Experiment.objects.select_for_update().get(pk=experiment.pk)


@transaction.atomic
def experiment_tag_set(
    *, experiment: Experiment, key: str, value: str, actor: AbstractBaseUser | None = None
) -> Experiment:
    require_experiment_owner(actor, experiment, "tag")
    try:
        cleaned = clean_tags({key: value})
    except TrackingInputError as exc:
        raise InvalidTrackingInput(str(exc)) from exc
    locked = _locked(experiment)
    locked.tags = {**(locked.tags or {}), **cleaned}
    locked.save(update_fields=["tags"])
    return locked


@transaction.atomic
def experiment_tag_delete(
    *, experiment: Experiment, key: str, actor: AbstractBaseUser | None = None
) -> Experiment:
    require_experiment_owner(actor, experiment, "untag")
    locked = _locked(experiment)
    if key not in (locked.tags or {}):
        raise TagNotFound(f"Experiment '{experiment.name}' has no tag '{key}'.")
    del locked.tags[key]
    locked.save(update_fields=["tags"])
    return locked


def experiment_rename(
    *, experiment: Experiment, name: str, actor: AbstractBaseUser | None = None
) -> Experiment:
    require_experiment_owner(actor, experiment, "rename")
    experiment.name = _name(name)
    try:
        with transaction.atomic():
            experiment.save(update_fields=["name"])
    except IntegrityError as exc:
        raise DuplicateExperiment(f"An experiment named '{name}' already exists.") from exc
    return experiment
