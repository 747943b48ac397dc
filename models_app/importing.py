"""What an imported model says about itself: framework, feature names, signature, legacy
metadata, and how serving will hand it rows. No Django here.

A signature is {"inputs": [{"name", "type"}]} (models_app.validation). It comes from an
input example when there is one (names, order and dtypes), else from the model: scikit-learn's
`feature_names_in_`, LightGBM's and XGBoost's feature names, a platform class's
`feature_names`, or a legacy folder's metadata.json.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from models_app.vocabulary import ArtifactFormat, Framework

EXAMPLE_ROWS = 5
LEGACY_MODEL_FILE = "model.pkl"
LEGACY_METADATA_FILE = "metadata.json"
_GENERATED_NAME = re.compile(r"Column_\d+")
_WALK_DEPTH = 4
_WALK_LIMIT = 2000
# Most specific first: a platform class holding a LightGBM booster is a LightGBM model.
_FRAMEWORK_MODULES = (("lightgbm", Framework.LIGHTGBM), ("xgboost", Framework.XGBOOST),
                      ("sklearn", Framework.SKLEARN), ("onnxruntime", Framework.ONNX),
                      ("onnx", Framework.ONNX))


class ImportProblem(ValueError):
    """The files to import cannot be read as a model; the message says what to fix."""


def choose_serving_input(*, signature: Mapping[str, Any], artifact_format: str,
                         tags: Mapping[str, str], requested: str | None) -> str:
    """"dataframe" when the signature names columns (the model was trained on named
    columns), else "numpy"; fixed on the version at registration. ONNX takes tensors."""
    choice = requested or tags.get("serving.input") or ""
    if choice:
        if choice not in ("dataframe", "numpy"):
            raise ValueError(f"serving_input is {choice!r}; use 'dataframe' or 'numpy'.")
        return choice
    if artifact_format == ArtifactFormat.ONNX:
        return "numpy"
    return "dataframe" if signature.get("inputs") else "numpy"


def _children(obj: Any) -> Iterator[Any]:
    if isinstance(obj, Mapping):
        yield from obj.values()
    elif isinstance(obj, (list, tuple, set, frozenset)):
        yield from obj
    elif hasattr(obj, "__dict__") and not isinstance(obj, type):
        yield from vars(obj).values()


def walk(obj: Any) -> Iterator[Any]:
    """The object and what it holds (dict values, list items, attributes), breadth first."""
    seen: set[int] = set()
    level = [obj]
    for _ in range(_WALK_DEPTH + 1):
        following: list[Any] = []
        for item in level:
            if id(item) in seen or item is None or isinstance(item, (str, bytes, bool, int,
                                                                     float)):
                continue
            seen.add(id(item))
            if len(seen) > _WALK_LIMIT:
                return
            yield item
            if not isinstance(item, (np.ndarray, np.generic, pd.DataFrame, pd.Series)):
                following.extend(_children(item))
        level = following


def class_modules(obj: Any) -> list[str]:
    """Modules of the classes found in the object, in the order met."""
    modules = []
    for item in walk(obj):
        module = type(item).__module__
        if module not in modules and module != "builtins":
            modules.append(module)
    return modules


def is_library_estimator(obj: Any) -> bool:
    """A bare scikit-learn, LightGBM or XGBoost estimator (not a platform class)."""
    return type(obj).__module__.split(".")[0] in ("sklearn", "lightgbm", "xgboost")


def infer_framework(obj: Any) -> str:
    modules = class_modules(obj)
    for prefix, framework in _FRAMEWORK_MODULES:
        if any(m == prefix or m.startswith(prefix + ".") for m in modules):
            return framework
    return Framework.CUSTOM


def _names_of(item: Any) -> list[str] | None:
    names = getattr(item, "feature_names_in_", None)
    if names is None and type(item).__module__.startswith("lightgbm"):
        names = getattr(item, "feature_name_", None)
        if names is None and callable(getattr(item, "feature_name", None)):
            names = item.feature_name()
    if names is None and type(item).__module__.startswith("xgboost"):
        names = getattr(item, "feature_names", None)
        if names is None and callable(getattr(item, "get_booster", None)):
            names = item.get_booster().feature_names
    if names is None and not type(item).__module__.startswith(("sklearn", "lightgbm", "xgboost")):
        names = getattr(item, "feature_names", None)
    if names is None:
        return None
    names = [str(n) for n in list(names)]
    if all(_GENERATED_NAME.fullmatch(n) for n in names):
        return None  # LightGBM's Column_0, ... for a model fitted on a matrix: no names
    return names or None


def model_feature_names(obj: Any) -> list[str] | None:
    """The column names the model was trained on, from the first part of it that knows."""
    for item in walk(obj):
        names = _names_of(item)
        if names:
            return names
    return None


def _column_type(dtype: Any) -> str:
    if pd.api.types.is_bool_dtype(dtype):
        return "boolean"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "datetime"
    if pd.api.types.is_integer_dtype(dtype):
        return "integer" if np.dtype(dtype).itemsize <= 4 else "long"
    if pd.api.types.is_float_dtype(dtype):
        return "float" if np.dtype(dtype).itemsize == 4 else "double"
    return "string"


def signature_from_frame(frame: pd.DataFrame) -> dict[str, Any]:
    inputs = []
    for name in frame.columns:
        column: dict[str, Any] = {"name": str(name), "type": _column_type(frame[name].dtype)}
        if frame[name].isna().any():
            column["nullable"] = True
        inputs.append(column)
    return {"inputs": inputs}


def signature_from_example(example: Any) -> dict[str, Any]:
    """The signature an input example of records implies (its keys in order, their types);
    {} for anything else (rows without names say nothing about columns)."""
    if not isinstance(example, list) or not example or \
            not all(isinstance(row, dict) and row for row in example):
        return {}
    names = list(example[0])
    if any(list(row) != names for row in example):
        return {}
    try:
        return signature_from_frame(pd.DataFrame.from_records(example, columns=names))
    except (TypeError, ValueError):
        return {}


def signature_from_names(names: list[str]) -> dict[str, Any]:
    return {"inputs": [{"name": name, "type": "double"} for name in names]}


def _json_value(value: Any) -> Any:
    if isinstance(value, (np.generic,)):
        value = value.item()
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def example_records(frame: pd.DataFrame, limit: int = EXAMPLE_ROWS) -> list[dict[str, Any]]:
    """The first rows of an example as JSON records (NaN as null)."""
    head = frame.head(limit)
    return [{str(k): _json_value(v) for k, v in row.items()}
            for row in head.to_dict(orient="records")]


def read_table(path: str) -> pd.DataFrame:
    """A CSV or Parquet file of rows (by its extension)."""
    lower = path.lower()
    try:
        if lower.endswith((".parquet", ".pq")):
            return pd.read_parquet(path)
        if lower.endswith(".csv"):
            return pd.read_csv(path)
    except (OSError, ValueError, ImportError) as exc:
        raise ImportProblem(f"Cannot read {path} as rows: {exc}") from exc
    raise ImportProblem(f"{path}: use a .csv or .parquet file of rows.")


@dataclass
class LegacyMetadata:
    """What an old save's metadata.json holds, mapped onto a version's fields."""

    metrics: dict[str, float] = field(default_factory=dict)
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    feature_names: list[str] | None = None
    model_name: str = ""


_LEGACY_TAGS = {"trained_at": "trained_at", "train_start": "train_start",
                "train_end": "train_end", "n_train_samples": "n_train_samples",
                "n_features": "n_features", "model_version": "legacy_version",
                "status": "legacy_status"}


def legacy_metadata(raw: Any) -> LegacyMetadata:
    """Read an old save's metadata.json: metrics and hyperparameters as such, the training
    window, sample count and old version string as tags, feature names for the signature."""
    if not isinstance(raw, Mapping):
        raise ImportProblem("metadata.json must hold a JSON object.")
    metrics = raw.get("metrics") or {}
    if not isinstance(metrics, Mapping):
        raise ImportProblem("metadata.json's metrics must be an object of name to number.")
    numeric = {}
    for key, value in metrics.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ImportProblem(f"metadata.json's metric {key!r} is {value!r}, not a number.")
        numeric[str(key)] = float(value)
    hyperparameters = raw.get("hyperparameters") or {}
    if not isinstance(hyperparameters, Mapping):
        raise ImportProblem("metadata.json's hyperparameters must be an object.")
    names = raw.get("feature_names")
    if names is not None and (not isinstance(names, list)
                              or not all(isinstance(n, str) and n for n in names)):
        raise ImportProblem("metadata.json's feature_names must be a list of column names.")
    tags = {tag: str(raw[key]) for key, tag in _LEGACY_TAGS.items()
            if raw.get(key) not in (None, "")}
    return LegacyMetadata(metrics=numeric, hyperparameters=dict(hyperparameters), tags=tags,
                          feature_names=names or None, model_name=str(raw.get("model_name", "")))
