from __future__ import annotations

from typing import IO, Any

from experiments_app.errors import ArtifactNotFound, InvalidArtifactPath
from experiments_app.models import Run
from experiments_app.tracking_input import TrackingInputError, clean_artifact_path
from models_app import artifacts


def run_artifact_root(run_id: str) -> str:
    return f"runs/{run_id}"


def run_artifact_name(run_id: str, path: str) -> str:
    """The storage name of a run's artifact; the path is checked so it cannot escape."""
    try:
        cleaned = clean_artifact_path(path)
    except TrackingInputError as exc:
        raise InvalidArtifactPath(str(exc)) from exc
    return f"{run_artifact_root(run_id)}/{cleaned}"


def run_artifact_list(*, run: Run, path: str = "") -> list[dict[str, Any]]:
    """Every file under `path` (a folder of the run's artifacts, or the whole run), with its
    path relative to the run and its size, sorted by path."""
    try:
        folder = clean_artifact_path(path, allow_empty=True)
    except TrackingInputError as exc:
        raise InvalidArtifactPath(str(exc)) from exc
    storage = artifacts.artifact_storage()
    root = run_artifact_root(run.run_id)
    found: list[dict[str, Any]] = []
    if folder and storage.exists(f"{root}/{folder}"):
        try:  # a folder lists what it holds; a file is refused (a bucket lists it as empty)
            listed = any(storage.listdir(f"{root}/{folder}"))
        except (NotADirectoryError, FileNotFoundError):
            listed = False
        if not listed:
            return [{"path": folder, "size": storage.size(f"{root}/{folder}")}]
    pending = [folder]
    while pending:
        current = pending.pop()
        location = f"{root}/{current}" if current else root
        try:
            dirs, files = storage.listdir(location)
        except (FileNotFoundError, NotADirectoryError):
            continue
        for name in files:
            relative = f"{current}/{name}" if current else name
            found.append({"path": relative, "size": storage.size(f"{root}/{relative}")})
        pending.extend(f"{current}/{name}" if current else name for name in dirs)
    return sorted(found, key=lambda item: item["path"])


def run_artifact_open(*, run: Run, path: str) -> IO[bytes]:
    name = run_artifact_name(run.run_id, path)
    try:
        return artifacts.artifact_open(name)
    except (FileNotFoundError, IsADirectoryError) as exc:
        raise ArtifactNotFound(
            f"Run {run.run_id} has no artifact file '{path}'.",
        ) from exc
