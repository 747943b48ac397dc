"""Checks on what a training script logs: keys, values, batches, artifact paths. No Django.

The rules are MLflow's, so scripts written for it log the same things here:
- keys (metric, param, tag): 1 to 250 characters from letters, digits, underscores, dashes,
  periods, spaces and slashes;
- a param value is a string of at most 6,000 characters (numbers and booleans are
  stringified), a tag value at most 5,000;
- a metric value is a number, or one of the strings "NaN", "Infinity", "-Infinity"
  (case-insensitive; "inf" and "+inf" too); step is an integer (default 0), timestamp
  integer milliseconds since the epoch (default now);
- a batch holds at most 1,000 metrics (MLflow's limit; Axion's own API takes 10,000, which
  halves the cost of each point), 100 params and 100 tags.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

MAX_KEY_LENGTH = 250
MAX_PARAM_VALUE_LENGTH = 6000
MAX_TAG_VALUE_LENGTH = 5000
MAX_BATCH_METRICS = 10_000
MLFLOW_MAX_BATCH_METRICS = 1000
MAX_BATCH_PARAMS = 100
MAX_BATCH_TAGS = 100
INT64_MAX = 2**63 - 1

KEY_PATTERN = re.compile(r"^[\w.\- /]{1,250}$")
KEY_RULE = "1 to 250 letters, digits, underscores, dashes, periods, spaces or slashes"
_NON_FINITE = {
    "nan": math.nan,
    "infinity": math.inf, "+infinity": math.inf, "inf": math.inf, "+inf": math.inf,
    "-infinity": -math.inf, "-inf": -math.inf,
}


class TrackingInputError(ValueError):
    pass


class BatchLimitError(TrackingInputError):
    pass


# A metric point as stored: (key, value, is_nan, step, timestamp). value is 0.0 when NaN.
MetricRow = tuple[str, float, bool, int, int]


@dataclass
class Batch:
    metrics: list[MetricRow] = field(default_factory=list)
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)


def now_ms() -> int:
    return int(time.time() * 1000)


def clean_key(key: Any, what: str = "key") -> str:
    if not isinstance(key, str) or not KEY_PATTERN.match(key):
        raise TrackingInputError(f"The {what} {key!r} is not valid: use {KEY_RULE}.")
    return key


def metric_value(value: Any, key: str = "") -> float:
    """A float from a number or from "NaN" / "Infinity" / "-Infinity"."""
    if isinstance(value, float):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        special = _NON_FINITE.get(value.strip().lower())
        if special is not None:
            return special
    raise TrackingInputError(
        f"The value of metric {key!r} is {value!r}; send a number, or \"NaN\", \"Infinity\" "
        "or \"-Infinity\"."
    )


def _integer(value: Any, what: str, default: int) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise TrackingInputError(f"The {what} must be an integer, not {value!r}.")
    if not -INT64_MAX - 1 <= value <= INT64_MAX:
        raise TrackingInputError(f"The {what} {value} does not fit in 64 bits.")
    return value


def metric_row(key: Any, value: Any, step: Any = None, timestamp: Any = None,
               *, default_timestamp: int | None = None) -> MetricRow:
    key = clean_key(key, "metric key")
    number = metric_value(value, key)
    nan = number != number
    return (
        key,
        0.0 if nan else number,
        nan,
        _integer(step, "step", 0),
        _integer(timestamp, "timestamp", default_timestamp or now_ms()),
    )


def param_value(value: Any, key: str = "") -> str:
    if isinstance(value, float) and not math.isfinite(value):
        value = json_number(value)
    if isinstance(value, bool):
        value = str(value)
    if isinstance(value, (int, float)):
        value = str(value)
    if not isinstance(value, str):
        raise TrackingInputError(f"The value of param {key!r} must be a string, not {value!r}.")
    if len(value) > MAX_PARAM_VALUE_LENGTH:
        raise TrackingInputError(
            f"The value of param {key!r} has {len(value)} characters; the limit is "
            f"{MAX_PARAM_VALUE_LENGTH}."
        )
    return value


def tag_value(value: Any, key: str = "") -> str:
    if value is None:
        return ""
    if isinstance(value, (bool, int, float)):
        value = str(value)
    if not isinstance(value, str):
        raise TrackingInputError(f"The value of tag {key!r} must be a string, not {value!r}.")
    if len(value) > MAX_TAG_VALUE_LENGTH:
        raise TrackingInputError(
            f"The value of tag {key!r} has {len(value)} characters; the limit is "
            f"{MAX_TAG_VALUE_LENGTH}."
        )
    return value


def clean_params(params: Any) -> dict[str, str]:
    """{key: value} or MLflow's [{"key", "value"}]; one key twice with two values is refused."""
    cleaned: dict[str, str] = {}
    for key, value in _pairs(params, "params"):
        key = clean_key(key, "param key")
        value = param_value(value, key)
        if key in cleaned and cleaned[key] != value:
            raise TrackingInputError(f"The param {key!r} appears twice with different values.")
        cleaned[key] = value
    return cleaned


def clean_tags(tags: Any) -> dict[str, str]:
    return {clean_key(key, "tag key"): tag_value(value, key) for key, value in _pairs(tags, "tags")}


def _pairs(items: Any, what: str) -> list[tuple[Any, Any]]:
    if items is None:
        return []
    if isinstance(items, dict):
        return list(items.items())
    if isinstance(items, list):
        pairs = []
        for item in items:
            if not isinstance(item, dict) or "key" not in item:
                raise TrackingInputError(
                    f"Each entry of {what} must be an object with 'key' and 'value'."
                )
            pairs.append((item["key"], item.get("value")))
        return pairs
    raise TrackingInputError(f"{what} must be an object of key to value or a list of "
                             "{'key', 'value'} objects.")


_METRIC_FIELDS = ("key", "value", "step", "timestamp")


def _integers_within(column: list[Any], low: int) -> bool:
    return set(map(type, column)) == {int} and low <= min(column) and max(column) <= INT64_MAX


def _uniform_metrics(metrics: list[Any]) -> list[MetricRow] | None:
    """The rows of a batch whose every item has exactly key, value (a float), step and
    timestamp (ints in range), read a column at a time by C loops (map, set, min, max);
    None for any other batch, which the per-item loop then reads, accepting and refusing
    exactly what it always did."""
    if not metrics or set(map(type, metrics)) != {dict} \
            or set(map(len, metrics)) != {len(_METRIC_FIELDS)}:
        return None
    try:
        keys, values, steps, stamps = (list(map(itemgetter(name), metrics))
                                       for name in _METRIC_FIELDS)
    except KeyError:
        return None
    if set(map(type, keys)) != {str} or set(map(type, values)) != {float} \
            or not _integers_within(steps, -INT64_MAX - 1) or not _integers_within(stamps, 0):
        return None
    for key in dict.fromkeys(keys):  # in order of first appearance: the loop's first error
        clean_key(key, "metric key")
    nan = list(map(math.isnan, values))
    stored = [0.0 if is_nan else value for value, is_nan in zip(values, nan, strict=True)] \
        if True in nan else values
    return list(zip(keys, stored, nan, steps, stamps, strict=True))


def clean_metrics(metrics: Any, *, default_timestamp: int | None = None) -> list[MetricRow]:
    """[{"key", "value", "step"?, "timestamp"?}, ...] into stored rows, in the order given."""
    if metrics is None:
        return []
    if not isinstance(metrics, list):
        raise TrackingInputError(
            "metrics must be a list of {'key', 'value', 'step', 'timestamp'} objects."
        )
    uniform = _uniform_metrics(metrics)
    return uniform if uniform is not None else _metric_rows(metrics, default_timestamp)


def _metric_rows(metrics: list[Any], default_timestamp: int | None) -> list[MetricRow]:
    """The per-item reading of clean_metrics: any batch, the first bad item refused."""
    stamp = default_timestamp or now_ms()
    rows: list[MetricRow] = []
    known: set[str] = set()
    append = rows.append
    for item in metrics:
        if not isinstance(item, dict):
            raise TrackingInputError(
                "Each metric must be an object with 'key' and 'value' (and 'step', 'timestamp')."
            )
        key = item.get("key")
        if type(key) is not str or key not in known:
            key = clean_key(key, "metric key")
            known.add(key)
        value = item.get("value")
        if type(value) is not float:
            value = metric_value(value, key)
        nan = value != value
        step = item.get("step")
        timestamp = item.get("timestamp")
        append((
            key,
            0.0 if nan else value,
            nan,
            step if type(step) is int and -INT64_MAX - 1 <= step <= INT64_MAX
            else _integer(step, "step", 0),
            timestamp if type(timestamp) is int and 0 <= timestamp <= INT64_MAX
            else _integer(timestamp, "timestamp", stamp),
        ))
    return rows


def clean_batch(body: Any, *, max_metrics: int = MAX_BATCH_METRICS) -> Batch:
    if not isinstance(body, dict):
        raise TrackingInputError("A batch is an object with 'metrics', 'params' and 'tags'.")
    unknown = set(body) - {"metrics", "params", "tags"}
    if unknown:
        raise TrackingInputError(
            f"Unknown batch field(s): {', '.join(sorted(unknown))}; "
            "use metrics, params and tags."
        )
    for name, limit in (("metrics", max_metrics), ("params", MAX_BATCH_PARAMS),
                        ("tags", MAX_BATCH_TAGS)):
        items = body.get(name)
        if items is not None and hasattr(items, "__len__") and len(items) > limit:
            raise BatchLimitError(
                f"The batch has {len(items)} {name}; the limit is {limit} per request. "
                "Split it into several batches."
            )
    return Batch(
        metrics=clean_metrics(body.get("metrics")),
        params=clean_params(body.get("params")),
        tags=clean_tags(body.get("tags")),
    )


def latest_per_key(rows: list[MetricRow]) -> dict[str, MetricRow]:
    """The latest point per key: highest step, then latest timestamp, then the last given."""
    if len(rows) > 1 and len({row[0] for row in rows}) == 1:  # the usual batch: one key
        return {rows[0][0]: max(reversed(rows), key=itemgetter(3, 4))}
    latest: dict[str, MetricRow] = {}
    for row in rows:
        current = latest.get(row[0])
        if current is None or (row[3], row[4]) >= (current[3], current[4]):
            latest[row[0]] = row
    return latest


def json_number(value: float) -> float | str:
    """How a metric value is written in JSON: finite numbers as numbers, else
    "NaN", "Infinity" or "-Infinity" (JSON has no token for them)."""
    if value != value:
        return "NaN"
    if value == math.inf:
        return "Infinity"
    if value == -math.inf:
        return "-Infinity"
    return value


def stored_number(value: float, is_nan: bool) -> float | str:
    """A stored (value, is_nan) pair as JSON writes it."""
    return "NaN" if is_nan else json_number(value)


def clean_artifact_path(path: Any, *, allow_empty: bool = False) -> str:
    """A relative POSIX path inside a run's artifacts; anything that could escape is refused."""
    if path is None or path == "":
        if allow_empty:
            return ""
        raise TrackingInputError("An artifact path is required.")
    if not isinstance(path, str):
        raise TrackingInputError("An artifact path must be a string.")
    if len(path) > 1000:
        raise TrackingInputError("An artifact path may have at most 1,000 characters.")
    if "\\" in path:
        raise TrackingInputError(
            f"The artifact path {path!r} has a backslash; use forward slashes."
        )
    if path.startswith("/") or re.match(r"^[A-Za-z]:", path):
        raise TrackingInputError(
            f"The artifact path {path!r} is absolute; give a path relative to the run."
        )
    if any(ord(char) < 32 or ord(char) == 127 for char in path):
        raise TrackingInputError(f"The artifact path {path!r} has a control character.")
    parts = path.rstrip("/").split("/") if allow_empty else path.split("/")
    for part in parts:
        if part in ("", ".", ".."):
            raise TrackingInputError(
                f"The artifact path {path!r} has an empty, '.' or '..' segment; "
                "it must stay inside the run's artifacts."
            )
    return "/".join(parts)


MAX_ID = 2**63 - 1


def as_id(reference: object) -> int | None:
    """A database id given as an int or a string of ASCII digits, else None (a name)."""
    if isinstance(reference, bool):
        return None
    if isinstance(reference, str):
        if not (reference.isascii() and reference.isdigit()):
            return None
        reference = int(reference)
    if isinstance(reference, int) and 0 < reference <= MAX_ID:
        return reference
    return None
