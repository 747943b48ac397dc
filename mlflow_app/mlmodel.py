"""What an MLflow model directory's `MLmodel` file says, as Axion's version fields. No Django.

Axion serves the sklearn flavor's own file: `pickled_model` in the format its
`serialization_format` names (pickle and cloudpickle are both read by Axion's restricted
unpickler; skops by its exact type lists). The signature's named columns become Axion's
signature (MLflow's column shape is Axion's); tensor specs name no columns, so they give
none. The saved input example (pandas "split" orient, or an array's rows) becomes records
when the signature names columns, else a dataframe_split by position.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import yaml

from models_app.vocabulary import ArtifactFormat, Framework

MLMODEL_FILE = "MLmodel"
MAX_MLMODEL_BYTES = 1024 * 1024
MAX_EXAMPLE_BYTES = 1024 * 1024
SERIALIZATION_FORMATS = {"pickle": ArtifactFormat.PICKLE,
                         "cloudpickle": ArtifactFormat.PICKLE,
                         "skops": ArtifactFormat.SKOPS}
SIGNATURE_TYPES = ("double", "float", "integer", "long", "boolean", "string", "datetime")


class MLmodelProblem(ValueError):
    """The model directory cannot become an Axion version; the message says why."""


@dataclass(frozen=True)
class ServableModel:
    """The file Axion loads, and the fields the version takes from MLmodel."""

    artifact_path: str  # relative to the model directory
    artifact_format: str
    framework: str
    signature: dict[str, Any] = field(default_factory=dict)
    example_path: str = ""  # relative to the model directory; "" when none was saved
    example_type: str = ""


_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse(text: bytes | str) -> dict[str, Any]:
    """The MLmodel YAML as a mapping (the safe loader: plain data, no Python objects; libyaml's
    parser where PyYAML has it, ten times faster than the pure-Python one)."""
    if len(text) > MAX_MLMODEL_BYTES:
        raise MLmodelProblem(f"The MLmodel file is over {MAX_MLMODEL_BYTES} bytes.")
    try:
        document = yaml.load(text, Loader=_SAFE_LOADER)  # noqa: S506 - a safe loader
    except yaml.YAMLError as exc:
        raise MLmodelProblem(f"The MLmodel file is not YAML: {exc}") from exc
    if not isinstance(document, dict):
        raise MLmodelProblem("The MLmodel file must hold a mapping (flavors, signature, ...).")
    return document


def _relative(path: Any, what: str) -> str:
    """A file name inside the model directory; one that could leave it is refused."""
    if not isinstance(path, str) or not path:
        raise MLmodelProblem(f"MLmodel's {what} must be a file name inside the model folder.")
    parts = path.split("/")
    if path.startswith("/") or "\\" in path or any(p in ("", ".", "..") for p in parts) \
            or any(ord(c) < 32 for c in path):
        raise MLmodelProblem(f"MLmodel's {what} {path!r} leaves the model folder.")
    return path


def servable(document: dict[str, Any]) -> ServableModel:
    flavors = document.get("flavors")
    if not isinstance(flavors, dict) or not isinstance(flavors.get("sklearn"), dict):
        found = ", ".join(sorted(flavors)) if isinstance(flavors, dict) else "none"
        raise MLmodelProblem(
            f"Axion serves the sklearn flavor (mlflow.sklearn.log_model); this model has "
            f"flavors: {found}."
        )
    sklearn = flavors["sklearn"]
    serialization = str(sklearn.get("serialization_format") or "cloudpickle")
    if serialization not in SERIALIZATION_FORMATS:
        raise MLmodelProblem(
            f"The sklearn flavor's serialization_format is {serialization!r}; Axion loads "
            f"{', '.join(SERIALIZATION_FORMATS)}."
        )
    info = document.get("saved_input_example_info")
    example_path, example_type = "", ""
    if isinstance(info, dict) and info.get("artifact_path"):
        example_path = _relative(info["artifact_path"], "input example path")
        example_type = str(info.get("type") or "")
    return ServableModel(
        artifact_path=_relative(sklearn.get("pickled_model"), "pickled_model"),
        artifact_format=SERIALIZATION_FORMATS[serialization],
        framework=Framework.SKLEARN,
        signature=signature(document.get("signature")),
        example_path=example_path,
        example_type=example_type,
    )


def _columns(spec: Any) -> list[dict[str, Any]]:
    """MLflow's column spec (a JSON string in MLmodel) as Axion's columns; [] unless every
    entry is a named column of a type Axion knows."""
    if isinstance(spec, str):
        try:
            spec = json.loads(spec)
        except ValueError:
            return []
    if not isinstance(spec, list) or not spec:
        return []
    columns = []
    for entry in spec:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) \
                or entry.get("type") not in SIGNATURE_TYPES:
            return []
        column: dict[str, Any] = {"name": entry["name"], "type": entry["type"]}
        if entry.get("required") is False:
            column["nullable"] = True
        columns.append(column)
    return columns


def signature(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        return {}
    converted = {}
    for part in ("inputs", "outputs"):
        columns = _columns(raw.get(part))
        if columns:
            converted[part] = columns
    return converted if "inputs" in converted else {}


def input_example(content: bytes, *, example_type: str, named: bool) -> Any:
    """The saved example as Axion's input_example: records for named columns, else a
    dataframe_split by position."""
    if len(content) > MAX_EXAMPLE_BYTES:
        raise MLmodelProblem(f"The input example is over {MAX_EXAMPLE_BYTES} bytes.")
    try:
        example = json.loads(content)
    except ValueError as exc:
        raise MLmodelProblem(f"The input example is not JSON: {exc}") from exc
    if isinstance(example, dict) and "dataframe_split" in example:
        example = example["dataframe_split"]
    if isinstance(example, dict) and "inputs" in example and example_type != "dataframe":
        example = example["inputs"]
    if isinstance(example, dict) and isinstance(example.get("columns"), list) \
            and isinstance(example.get("data"), list):
        columns = [str(name) for name in example["columns"]]
        rows = example["data"]
        if named and all(isinstance(row, list) and len(row) == len(columns) for row in rows):
            return [dict(zip(columns, row, strict=True)) for row in rows]
        return _positional(rows)
    if isinstance(example, list):
        return _positional(example)
    return None


def _positional(rows: list[Any]) -> dict[str, Any] | None:
    """Rows without column names, as serving takes them: a dataframe_split whose columns
    are the positions (a matrix model reads them in that order). None unless every row is
    a list of one width."""
    if not rows or not all(isinstance(row, list) for row in rows):
        return None
    width = len(rows[0])
    if width == 0 or any(len(row) != width for row in rows):
        return None
    return {"dataframe_split": {"columns": [str(i) for i in range(width)], "data": rows}}
