"""Who may change an experiment or a run: its owner, or a superuser.

`None` as the actor is an internal caller (a script, `seed_demo`): trusted. Anyone signed
in may read every experiment and run, and start runs in any experiment that is not
archived (a team's runs often share one experiment).
"""

from __future__ import annotations

from experiments_app.errors import ExperimentNotPermitted, RunNotPermitted
from experiments_app.models import Experiment
from models_app.roles import Actor, audited_user


def may_change(actor: Actor, owner_id: int | None) -> bool:
    if actor is None:
        return True
    user = audited_user(actor)
    if user is None or not user.is_active:
        return False
    return user.is_superuser or (owner_id is not None and user.pk == owner_id)


def require_run_owner(
    actor: Actor, *, run_id: str, owner_id: int | None, action: str
) -> None:
    if not may_change(actor, owner_id):
        raise RunNotPermitted(
            f"You may not {action} run {run_id}: only the user who started it (or a "
            "superuser) may. Start a run of your own."
        )


def require_experiment_owner(
    actor: Actor, experiment: Experiment, action: str
) -> None:
    if not may_change(actor, experiment.owner_id):
        raise ExperimentNotPermitted(
            f"You may not {action} experiment '{experiment.name}': only the user who created "
            "it (or a superuser) may. Runs of your own may still go in it."
        )
