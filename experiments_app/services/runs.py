from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib.auth.models import User
from django.db import connection, transaction
from django.utils import timezone

from experiments_app.choices import TERMINAL_STATUSES, RunStatus
from experiments_app.errors import (
    ExperimentArchived,
    InvalidTrackingInput,
    RunNotActive,
    RunNotFound,
)
from experiments_app.models import Experiment, Run
from experiments_app.ownership import require_run_owner
from experiments_app.services.experiments import experiment_resolve
from experiments_app.tracking_input import TrackingInputError, clean_params, clean_tags
from models_app.roles import Actor


def run_for_logging(
    run_id: str, *, exclusive: bool = False, actor: Actor = None
) -> int:
    """The primary key of a running run, for a logging transaction (call inside one).

    On PostgreSQL the row is locked FOR SHARE (FOR UPDATE when `exclusive`, for a tag write)
    until the transaction ends, so run_end, which locks FOR UPDATE, waits for loggers in
    flight and a logger that waited on run_end sees the run ended: nothing is logged to a
    run after it finished. SQLite runs one writer at a time, which gives the same order.
    """
    sql = f"SELECT id, status, user_id FROM {Run._meta.db_table} WHERE run_id = %s"
    if connection.vendor == "postgresql":
        sql += " FOR UPDATE" if exclusive else " FOR SHARE"
    with connection.cursor() as cursor:
        cursor.execute(sql, [run_id])
        row = cursor.fetchone()
    if row is None:
        raise RunNotFound(f"No run with id '{run_id}'.")
    require_run_owner(actor, run_id=run_id, owner_id=row[2], action="log to")
    if row[1] != RunStatus.RUNNING:
        raise RunNotActive(
            f"Run {run_id} is {row[1]}; nothing more can be logged to it. Start a new run.",
            details={"status": row[1]},
        )
    return row[0]


@transaction.atomic
def run_create(
    *,
    experiment: Experiment | int | str,
    name: str = "",
    user: Actor = None,
    parent_run_id: str | None = None,
    source: str = "",
    tags: dict[str, str] | None = None,
    params: dict[str, Any] | None = None,
    start_time: datetime | None = None,
) -> Run:
    """Start a run. `experiment` is an Experiment, an id, or a name (created if new)."""
    if not isinstance(experiment, Experiment):
        experiment = experiment_resolve(reference=experiment, create=True, owner=user)
    if experiment.archived:
        raise ExperimentArchived(
            f"Experiment '{experiment.name}' is archived; unarchive it to start runs."
        )
    try:
        cleaned_tags = clean_tags(tags)
        cleaned_params = clean_params(params)
    except TrackingInputError as exc:
        raise InvalidTrackingInput(str(exc)) from exc
    if len(name) > 250:
        raise InvalidTrackingInput("A run name has at most 250 characters.")
    parent = None
    if parent_run_id:
        parent = Run.objects.filter(run_id=parent_run_id).first()
        if parent is None:
            raise RunNotFound(f"No parent run with id '{parent_run_id}'.")
        if parent.experiment_id != experiment.pk:
            raise InvalidTrackingInput(
                f"The parent run {parent_run_id} belongs to another experiment; "
                "a nested run lives in its parent's experiment."
            )
    run = Run.objects.create(
        experiment=experiment,
        name=name,
        user=user if isinstance(user, User) else None,
        parent=parent,
        source=source,
        tags=cleaned_tags,
        start_time=start_time or timezone.now(),
    )
    if cleaned_params:
        from experiments_app.services.tracking import _write_params

        _write_params(run.pk, run.run_id, cleaned_params)
    return run


def _locked(run: Run) -> Run:
    locked = Run.objects.select_for_update().filter(pk=run.pk).first()
    if locked is None:
        raise RunNotFound(f"No run with id '{run.run_id}'.")
    return locked


@transaction.atomic
def run_end(
    *,
    run: Run,
    status: str = RunStatus.FINISHED,
    end_time: datetime | None = None,
    actor: Actor = None,
) -> Run:
    """Mark a running run finished, failed or killed; an ended run stays as it ended (409)."""
    require_run_owner(actor, run_id=run.run_id, owner_id=run.user_id, action="end")
    if status not in TERMINAL_STATUSES:
        raise InvalidTrackingInput(
            f"A run ends as {', '.join(TERMINAL_STATUSES)}, not '{status}'."
        )
    locked = _locked(run)
    if locked.status != RunStatus.RUNNING:
        raise RunNotActive(
            f"Run {run.run_id} already ended as {locked.status}.",
            details={"status": locked.status},
        )
    end_time = end_time or timezone.now()
    if end_time < locked.start_time:
        raise InvalidTrackingInput("A run cannot end before it started.")
    locked.status = status
    locked.end_time = end_time
    locked.save(update_fields=["status", "end_time"])
    return locked


@transaction.atomic
def run_update(
    *, run: Run, name: str | None = None, actor: Actor = None
) -> Run:
    require_run_owner(actor, run_id=run.run_id, owner_id=run.user_id, action="rename")
    if name is not None:
        if len(name) > 250:
            raise InvalidTrackingInput("A run name has at most 250 characters.")
        run.name = name
        run.save(update_fields=["name"])
    return run
