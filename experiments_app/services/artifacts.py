"""A run's artifacts: files under runs/<run_id>/ in the registry's artifact storage."""

from __future__ import annotations

from typing import IO

from django.conf import settings

from experiments_app.errors import RunArtifactTooLarge
from experiments_app.models import Run
from experiments_app.selectors.artifacts import run_artifact_name, run_artifact_root
from experiments_app.services.runs import run_for_logging
from models_app import artifacts
from models_app.roles import Actor


def run_artifact_save(
    *,
    run: Run,
    path: str,
    stream: IO[bytes],
    size: int | None = None,
    actor: Actor = None,
) -> str:
    """Store a file at `path` inside the run's artifacts (replacing one already there).

    Storage is not transactional, so the run's state is checked first, under no lock: an
    upload racing the run's end may land just after it.
    """
    name = run_artifact_name(run.run_id, path)
    limit = settings.MAX_ARTIFACT_BYTES
    if size is not None and size > limit:
        raise RunArtifactTooLarge(
            f"The file is {size} bytes, over the limit of {limit} bytes (MAX_ARTIFACT_BYTES)."
        )
    run_for_logging(run.run_id, actor=actor)
    artifacts.artifact_save(name, stream)
    return name[len(run_artifact_root(run.run_id)) + 1:]
