from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction

from experiments_app.errors import (
    DuplicateExperiment,
    ExperimentNotFound,
    InvalidTrackingInput,
)
from experiments_app.models import Experiment
from experiments_app.ownership import require_experiment_owner
from experiments_app.tracking_input import TrackingInputError, as_id, clean_tags
from models_app.roles import Actor


def _tags(tags: Any) -> dict[str, str]:
    try:
        return clean_tags(tags)
    except TrackingInputError as exc:
        raise InvalidTrackingInput(str(exc)) from exc


def _name(name: str) -> str:
    name = (name or "").strip()
    if not name or len(name) > 250:
        raise InvalidTrackingInput("An experiment name is 1 to 250 characters.")
    if name.isascii() and name.isdigit():
        raise InvalidTrackingInput(
            f"The experiment name '{name}' is only digits; it would read as an experiment id."
        )
    return name


def experiment_create(
    *,
    name: str,
    description: str = "",
    tags: dict[str, str] | None = None,
    owner: Actor = None,
) -> Experiment:
    name = _name(name)
    cleaned = _tags(tags)
    try:
        with transaction.atomic():
            return Experiment.objects.create(
                name=name, description=description, tags=cleaned,
                owner=owner if isinstance(owner, User) else None,
            )
    except IntegrityError as exc:
        raise DuplicateExperiment(f"An experiment named '{name}' already exists.") from exc


@transaction.atomic
def experiment_update(
    *,
    experiment: Experiment,
    description: str | None = None,
    tags: dict[str, str] | None = None,
    archived: bool | None = None,
    actor: Actor = None,
) -> Experiment:
    """Tags given replace the experiment's tags; archiving refuses new runs, keeps the old.
    Only its owner (or a superuser) changes it."""
    require_experiment_owner(actor, experiment, "change")
    if description is not None:
        experiment.description = description
    if tags is not None:
        experiment.tags = _tags(tags)
    if archived is not None:
        experiment.archived = archived
    experiment.save()
    return experiment


def experiment_resolve(
    *, reference: int | str, create: bool = False, owner: Actor = None
) -> Experiment:
    """An experiment by id (an int, or a string of digits) or by name; a name that does not
    exist yet is created when `create` (like mlflow.set_experiment)."""
    if isinstance(reference, int) or (isinstance(reference, str) and reference.isascii()
                                      and reference.isdigit()):
        experiment_id = as_id(reference)
        experiment = (Experiment.objects.filter(pk=experiment_id).first()
                      if experiment_id is not None else None)
        if experiment is None:
            raise ExperimentNotFound(f"No experiment with id {reference}.")
        return experiment
    name = _name(reference)
    experiment = Experiment.objects.filter(name=name).first()
    if experiment is not None:
        return experiment
    if not create:
        raise ExperimentNotFound(f"No experiment named '{name}'.")
    try:
        return experiment_create(name=name, owner=owner)
    except DuplicateExperiment:  # created by a concurrent request: use it
        return Experiment.objects.get(name=name)
