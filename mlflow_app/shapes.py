"""How Axion's tracking objects read in MLflow's protocol, and back. No Django.

Ids: an experiment's id is its Axion primary key as a string ("0" is MLflow's default
experiment, which is the Axion experiment named "Default"); a run's id is its run_id.
Times are milliseconds since the epoch. Statuses are MLflow's upper-case names of Axion's.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

T = TypeVar("T")

DEFAULT_EXPERIMENT_ID = "0"
DEFAULT_EXPERIMENT_NAME = "Default"
NOTE_TAG = "mlflow.note.content"
RUN_NAME_TAG = "mlflow.runName"
PARENT_TAG = "mlflow.parentRunId"
SOURCE_NAME_TAG = "mlflow.source.name"
USER_TAG = "mlflow.user"
ACTIVE = "active"
DELETED = "deleted"
TERMINAL_STATUSES = ("FINISHED", "FAILED", "KILLED")
VIEW_TYPES = {"ACTIVE_ONLY": 1, "DELETED_ONLY": 2, "ALL": 3}
MAX_RESULTS_LIMIT = 50_000


class ShapeError(ValueError):
    """A request field that is missing or of the wrong type."""


def run_artifact_uri(run_id: str) -> str:
    return f"mlflow-artifacts:/runs/{run_id}"


def experiment_artifact_location(experiment_id: int | str) -> str:
    return f"mlflow-artifacts:/experiments/{experiment_id}"


def to_ms(moment: datetime | None) -> int | None:
    return None if moment is None else int(moment.timestamp() * 1000)


def from_ms(value: int | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value / 1000, tz=UTC)


def mlflow_status(status: str) -> str:
    return status.upper()


def axion_status(status: str) -> str:
    """An MLflow status name as Axion's (RUNNING, FINISHED, FAILED, KILLED)."""
    upper = str(status).upper()
    if upper not in ("RUNNING", *TERMINAL_STATUSES):
        raise ShapeError(f"The run status '{status}' is not one of RUNNING, FINISHED, FAILED, "
                         "KILLED (SCHEDULED runs are not supported).")
    return upper.lower()


def view_type(value: Any) -> int:
    """ACTIVE_ONLY (1), DELETED_ONLY (2) or ALL (3), by name or number; default active."""
    if value in (None, ""):
        return 1
    if isinstance(value, str) and value.upper() in VIEW_TYPES:
        return VIEW_TYPES[value.upper()]
    if isinstance(value, int | str) and str(value) in ("1", "2", "3"):
        return int(value)
    raise ShapeError(f"The view type '{value}' is not ACTIVE_ONLY, DELETED_ONLY or ALL.")


def metric_number(value: float, is_nan: bool) -> float | str:
    """A metric value as protobuf's JSON writes a double."""
    if is_nan or value != value:
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


# --- request fields --------------------------------------------------------------------

def text(body: Mapping[str, Any], name: str, *, required: bool = False) -> str:
    value = body.get(name)
    if value is None or value == "":
        if required:
            raise ShapeError(f"Missing value for required parameter '{name}'.")
        return ""
    if not isinstance(value, str):
        raise ShapeError(f"Parameter '{name}' must be a string, not {value!r}.")
    return value


def integer(body: Mapping[str, Any], name: str, *, default: int | None = None) -> int | None:
    value = body.get(name)
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        raise ShapeError(f"Parameter '{name}' must be an integer, not {value!r}.")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    raise ShapeError(f"Parameter '{name}' must be an integer, not {value!r}.")


def strings(body: Mapping[str, Any], name: str) -> list[str]:
    value = body.get(name)
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ShapeError(f"Parameter '{name}' must be a list of strings.")
    return value


def key_values(body: Mapping[str, Any], name: str) -> list[dict[str, Any]]:
    value = body.get(name)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise ShapeError(f"Parameter '{name}' must be a list of {{key, value}} objects.")
    return value


def max_results(body: Mapping[str, Any], default: int) -> int:
    count = integer(body, "max_results", default=default)
    assert count is not None
    if not 1 <= count <= MAX_RESULTS_LIMIT:
        raise ShapeError(f"max_results is {count}; give a number from 1 to {MAX_RESULTS_LIMIT}.")
    return count


def page_offset(token: str) -> int:
    """The offset a page token stands for (an empty token is the first page)."""
    if not token:
        return 0
    try:
        decoded = json.loads(base64.urlsafe_b64decode(token.encode()).decode())
        offset = decoded["offset"]
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError) as exc:
        raise ShapeError(f"The page token {token!r} is not one this server gave.") from exc
    if not isinstance(offset, int) or offset < 0:
        raise ShapeError(f"The page token {token!r} is not one this server gave.")
    return offset


def page_token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


def page(key: str, found: list[T], answer: Callable[[list[T]], list[Any]], *,
         offset: int, limit: int) -> dict[str, Any]:
    """One page of a search that fetched limit + 1 rows from offset: the answer under key, and
    the next page's token when the extra row shows there is one."""
    result: dict[str, Any] = {key: answer(found[:limit])}
    if len(found) > limit:
        result["next_page_token"] = page_token(offset + limit)
    return result


# --- answers ------------------------------------------------------------------------------

def pairs(mapping: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"key": key, "value": value} for key, value in mapping.items()]


class ExperimentLike(Protocol):
    pk: Any
    name: str
    description: str
    tags: dict[str, str]
    archived: bool
    created_at: datetime


def experiment(exp: ExperimentLike) -> dict[str, Any]:
    tags = dict(exp.tags or {})
    if exp.description and NOTE_TAG not in tags:
        tags[NOTE_TAG] = exp.description
    created = to_ms(exp.created_at)
    return {
        "experiment_id": str(exp.pk),
        "name": exp.name,
        "artifact_location": experiment_artifact_location(exp.pk),
        "lifecycle_stage": DELETED if exp.archived else ACTIVE,
        "creation_time": created,
        "last_update_time": created,
        "tags": pairs(tags),
    }


def run_tags(tags: Mapping[str, str], *, name: str, parent_run_id: str | None) -> dict[str, str]:
    """The run's tags, with the run name and parent that Axion keeps in columns."""
    merged = dict(tags)
    if name:
        merged[RUN_NAME_TAG] = name
    if parent_run_id:
        merged[PARENT_TAG] = parent_run_id
    return merged


def run_info(
    *,
    run_id: str,
    name: str,
    experiment_id: int,
    username: str,
    status: str,
    start_time: datetime,
    end_time: datetime | None,
    deleted: bool,
) -> dict[str, Any]:
    info: dict[str, Any] = {
        "run_id": run_id,
        "run_uuid": run_id,
        "run_name": name,
        "experiment_id": str(experiment_id),
        "user_id": username,
        "status": mlflow_status(status),
        "start_time": to_ms(start_time),
        "artifact_uri": run_artifact_uri(run_id),
        "lifecycle_stage": DELETED if deleted else ACTIVE,
    }
    if end_time is not None:
        info["end_time"] = to_ms(end_time)
    return info


def metric(key: str, value: float, is_nan: bool, step: int, timestamp: int) -> dict[str, Any]:
    return {"key": key, "value": metric_number(value, is_nan), "timestamp": timestamp,
            "step": step}


def run(
    info: dict[str, Any],
    *,
    metrics: Iterable[dict[str, Any]],
    params: Mapping[str, str],
    tags: Mapping[str, str],
    dataset_inputs: list[dict[str, Any]] | None = None,
    model_outputs: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    return {
        "info": info,
        "data": {"metrics": list(metrics), "params": pairs(params), "tags": pairs(tags)},
        "inputs": {"dataset_inputs": dataset_inputs or []},
        "outputs": {"model_outputs": model_outputs} if model_outputs else {},
    }


def error(code: str, message: str) -> dict[str, str]:
    return {"error_code": code, "message": message}
