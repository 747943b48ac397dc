"""How Axion's registry reads in MLflow's model-registry protocol, and back. No Django.

Stages: MLflow's None/Staging/Production/Archived are Axion's draft/staging/production/
archived; Axion's `deprecated` reads as "Archived" (the read-only tag `axion.stage` tells
the two apart). A version's MLflow number is its per-model sequence; `axion.version` holds
its semver. Both `axion.*` tags are facts Axion keeps in columns, so they cannot be set.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mlflow_app.shapes import ShapeError, pairs, to_ms

STAGE_NONE = "None"
STAGE_STAGING = "Staging"
STAGE_PRODUCTION = "Production"
STAGE_ARCHIVED = "Archived"
MLFLOW_STAGES = (STAGE_NONE, STAGE_STAGING, STAGE_PRODUCTION, STAGE_ARCHIVED)
ACTIVE_STAGES = (STAGE_STAGING, STAGE_PRODUCTION)

# Axion stage -> MLflow stage (deprecated reads as Archived).
TO_MLFLOW = {"draft": STAGE_NONE, "staging": STAGE_STAGING, "production": STAGE_PRODUCTION,
             "archived": STAGE_ARCHIVED, "deprecated": STAGE_ARCHIVED}
TO_AXION = {STAGE_NONE: "draft", STAGE_STAGING: "staging", STAGE_PRODUCTION: "production",
            STAGE_ARCHIVED: "archived"}

AXION_TAG_PREFIX = "axion."
STAGE_TAG = "axion.stage"
SEMVER_TAG = "axion.version"
READY = "READY"

MAX_NAME_LENGTH = 100
_SLUG = re.compile(r"[-a-zA-Z0-9_]+\Z")


def mlflow_stage(stage: str) -> str:
    return TO_MLFLOW[str(stage)]


def canonical_stage(stage: str) -> str:
    """An MLflow stage name in any case ("production", "PRODUCTION") as MLflow spells it."""
    for known in MLFLOW_STAGES:
        if str(stage).lower() == known.lower():
            return known
    raise ShapeError(f"Invalid model version stage '{stage}'; use one of "
                     f"{', '.join(MLFLOW_STAGES)}.")


def axion_stages(mlflow: str) -> tuple[str, ...]:
    """The Axion stages an MLflow stage stands for (Archived: archived and deprecated)."""
    return tuple(axion for axion, shown in TO_MLFLOW.items() if shown == mlflow)


def model_name(name: str, *, field: str = "name") -> str:
    """A registered-model name Axion can keep: a slug (letters, digits, '-', '_')."""
    if not name:
        raise ShapeError(f"Missing value for required parameter '{field}'.")
    if len(name) > MAX_NAME_LENGTH or not _SLUG.match(name):
        hint = re.sub(r"[^-a-zA-Z0-9_]+", "-", name).strip("-")[:MAX_NAME_LENGTH]
        suggestion = f" such as '{hint}'" if hint else ""
        raise ShapeError(
            f"'{name}' is not a name Axion's registry can keep: model names are slugs of "
            f"letters, digits, '-' and '_' (at most {MAX_NAME_LENGTH} characters). Use a "
            f"slug{suggestion}."
        )
    return name


def version_number(value: str, *, field: str = "version") -> int:
    """An MLflow version number ("3") as an int; anything else is refused."""
    text = str(value).strip()
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise ShapeError(f"Parameter '{field}' must be a model version number such as '3', "
                         f"not {value!r}.")
    return int(text)


def writable_tag(key: str) -> str:
    if not key:
        raise ShapeError("Missing value for required parameter 'key'.")
    if key.startswith(AXION_TAG_PREFIX):
        raise ShapeError(f"Tags under '{AXION_TAG_PREFIX}' are Axion's own read-only facts "
                         f"({STAGE_TAG}, {SEMVER_TAG}); '{key}' cannot be set or deleted.")
    return key


def tag_dict(items: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    tags: dict[str, str] = {}
    for item in items:
        key = writable_tag(str(item.get("key") or ""))
        value = item.get("value")
        tags[key] = "" if value is None else str(value)
    return tags


# --- answers ------------------------------------------------------------------------------

@dataclass(frozen=True)
class VersionFacts:
    """What an MLflow ModelVersion message says about one Axion version."""

    model_name: str
    number: int
    semver: str
    stage: str
    created_ms: int  # epoch milliseconds
    updated_ms: int
    username: str
    description: str
    source: str
    run_id: str
    tags: Mapping[str, str]
    aliases: list[str]
    load_check_status: str


def version(facts: VersionFacts) -> dict[str, Any]:
    tags = {**facts.tags, SEMVER_TAG: facts.semver, STAGE_TAG: str(facts.stage)}
    return {
        "name": facts.model_name,
        "version": str(facts.number),
        "creation_timestamp": facts.created_ms,
        "last_updated_timestamp": facts.updated_ms,
        "user_id": facts.username,
        "current_stage": mlflow_stage(facts.stage),
        "description": facts.description,
        "source": facts.source,
        "run_id": facts.run_id,
        "status": READY,
        "status_message": f"Axion version {facts.semver} ({facts.stage}); load check "
                          f"{facts.load_check_status}.",
        "tags": pairs(tags),
        "aliases": sorted(facts.aliases),
    }


def registered_model(
    *,
    name: str,
    created_at: datetime,
    updated_at: datetime,
    username: str,
    description: str,
    tags: Mapping[str, str],
    aliases: Mapping[str, int],
    latest_versions: list[dict[str, Any]],
) -> dict[str, Any]:
    return {
        "name": name,
        "creation_timestamp": to_ms(created_at),
        "last_updated_timestamp": to_ms(updated_at),
        "user_id": username,
        "description": description,
        "latest_versions": latest_versions,
        "tags": pairs(tags),
        "aliases": [{"alias": alias, "version": str(number)}
                    for alias, number in sorted(aliases.items())],
    }


def gate_message(message: str, report: list[dict[str, Any]]) -> str:
    """A refusal with its whole gate report, readable in the MlflowException it becomes."""
    if not report:
        return message
    lines = [f"{item.get('gate')}: {'passed' if item.get('passed') else 'FAILED'} "
             f"(wanted {item.get('wanted')}, got {item.get('got')})" for item in report]
    return f"{message} Gate report: " + "; ".join(lines) + "."
