"""Prediction inputs checked against a version's signature and shaped for its model.

No Django here. A signature is models_app's {"inputs": [{"name", "type", "nullable"?}], ...}.
Rows arrive as records (a list of objects), as MLflow's ``dataframe_split``, as a pandas
DataFrame or as a 2-D numpy array; the model gets either a float64 matrix (columns in
signature order) or a DataFrame with named, typed columns. Every refusal names the column.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

NUMERIC = frozenset({"double", "float", "integer", "long"})
INTEGRAL = frozenset({"integer", "long"})
_FLOATS = (float, int)  # bool is excluded by exact type checks below
_DTYPES = {
    "double": "float64",
    "float": "float32",
    "integer": "int32",
    "long": "int64",
    "boolean": "bool",
    "string": "object",
}


class RowsError(ValueError):
    """Rows a model cannot be asked about; the message names the column."""

    def __init__(self, message: str, *, column: str | None = None):
        super().__init__(message)
        self.column = column


@dataclass(frozen=True)
class Column:
    name: str
    type: str = "double"
    nullable: bool = False


def _columns(signature: Mapping[str, Any] | None) -> tuple[Column, ...] | None:
    inputs = (signature or {}).get("inputs")
    if not inputs:
        return None
    return tuple(
        Column(str(c["name"]), str(c.get("type", "double")), bool(c.get("nullable", False)))
        for c in inputs
    )


def _type_ok(kind: str, value: Any) -> bool:
    t = type(value)
    if kind in NUMERIC:
        if kind in INTEGRAL:
            return t is int or (t is float and (value != value or value.is_integer()))
        return t is float or t is int
    if kind == "boolean":
        return t is bool
    return t is str  # string, datetime (ISO 8601 text)


def _is_missing(value: Any) -> bool:
    return value is None or (type(value) is float and math.isnan(value))


class InputSpec:
    """How one version's inputs are checked and built. Built once per loaded version."""

    def __init__(self, columns: Sequence[Column] | None, *, dataframe: bool):
        self.columns = tuple(columns) if columns is not None else None
        self.dataframe = dataframe
        if self.columns is not None:
            self.names = [c.name for c in self.columns]
            self.name_set = frozenset(self.names)
            self.index = {c.name: i for i, c in enumerate(self.columns)}
            self.all_double = all(c.type in ("double", "float") for c in self.columns)
            self.all_numeric = all(c.type in NUMERIC for c in self.columns)
            self.any_required = any(not c.nullable for c in self.columns)

    @classmethod
    def from_signature(cls, signature: Mapping[str, Any] | None, *, dataframe: bool) -> InputSpec:
        columns = _columns(signature)
        # Non-numeric columns cannot travel in a float matrix: such a model gets a DataFrame.
        if columns is not None and not all(c.type in NUMERIC for c in columns):
            dataframe = True
        return cls(columns, dataframe=dataframe)

    # -- entry point -------------------------------------------------------------------

    def prepare(self, rows: Any) -> tuple[Any, int]:
        """The model input for `rows` and the number of rows; RowsError if they don't fit."""
        if isinstance(rows, list):
            return self._records(rows)
        if isinstance(rows, Mapping):
            if "records" in rows:
                records = rows["records"]
                if not isinstance(records, list):
                    raise RowsError("'records' must be a list of objects, one per row.")
                return self._records(records)
            if "dataframe_split" in rows:
                return self._split(rows["dataframe_split"])
            raise RowsError("Send rows as {\"records\": [...]} or {\"dataframe_split\": "
                            "{\"columns\": [...], \"data\": [[...]]}}.")
        if isinstance(rows, pd.DataFrame):
            return self._frame(rows)
        if isinstance(rows, np.ndarray):
            return self._array(rows)
        raise RowsError(f"Rows must be records, dataframe_split, a DataFrame or an array, "
                        f"not {type(rows).__name__}.")

    # -- records -----------------------------------------------------------------------

    def _records(self, records: list) -> tuple[Any, int]:
        n = len(records)
        if n == 0:
            raise RowsError("There are no rows to predict.")
        for i, record in enumerate(records):
            if type(record) is not dict:
                raise RowsError(f"Row {i} is not an object of column name to value.")
        if self.columns is None:
            names = list(records[0])
            first = set(names)
            for i, record in enumerate(records):
                if record.keys() != first:
                    raise RowsError(f"Row {i} has different columns from row 0.")
            return self._untyped([[r[c] for c in names] for r in records], names, n)
        name_set = self.name_set
        for i, record in enumerate(records):
            if record.keys() != name_set:
                self._column_difference(record.keys(), i)
        names = self.names
        matrix = [[record[name] for name in names] for record in records]
        return self._build(matrix, n)

    def _column_difference(self, given: Any, row: int | None) -> None:
        where = f" in row {row}" if row is not None else ""
        missing = [name for name in self.names if name not in given]
        if missing:
            raise RowsError(f"Missing column {missing[0]!r}{where} (expected columns: "
                            f"{', '.join(self.names)}).", column=missing[0])
        extra = sorted(str(name) for name in given if name not in self.name_set)
        raise RowsError(f"Unexpected column {extra[0]!r}{where}; this version takes "
                        f"{', '.join(self.names)}.", column=extra[0])

    # -- dataframe_split ---------------------------------------------------------------

    def _split(self, split: Any) -> tuple[Any, int]:
        if not isinstance(split, Mapping):
            raise RowsError("dataframe_split must be an object with 'columns' and 'data'.")
        columns, data = split.get("columns"), split.get("data")
        if not isinstance(columns, list) or not isinstance(data, list):
            raise RowsError("dataframe_split needs 'columns' (a list of names) and 'data' "
                            "(a list of rows).")
        if len(set(columns)) != len(columns):
            raise RowsError("dataframe_split.columns names a column twice.")
        n = len(data)
        if n == 0:
            raise RowsError("There are no rows to predict.")
        for i, row in enumerate(data):
            if not isinstance(row, list) or len(row) != len(columns):
                raise RowsError(f"Row {i} of dataframe_split.data does not have one value per "
                                f"column ({len(columns)}).")
        if self.columns is None:
            return self._untyped(data, [str(c) for c in columns], n)
        if set(columns) != self.name_set:
            self._column_difference(columns, None)
        if columns == self.names:
            return self._build(data, n)
        order = [columns.index(name) for name in self.names]
        return self._build([[row[j] for j in order] for row in data], n)

    # -- building the model input ------------------------------------------------------

    def _build(self, matrix: list[list[Any]], n: int) -> tuple[Any, int]:
        """Type-check row-major values in signature order and build the model input."""
        columns = self.columns
        assert columns is not None
        if self.all_double:
            clean = True
            for row in matrix:
                for value in row:
                    kind = type(value)
                    if kind is float:
                        if value != value:  # NaN
                            clean = False
                    elif kind is not int:
                        clean = False
            if not clean:
                self._check_values(matrix)
            if self.dataframe:
                # Column-major, as a DataFrame read from a file or built from columns holds
                # its floats: the model computes exactly what it computes in-process.
                array = np.array(matrix, dtype=np.float64, order="F")
                return pd.DataFrame(array, columns=self.names, copy=False), n
            return np.array(matrix, dtype=np.float64), n
        self._check_values(matrix)
        if not self.dataframe:
            return np.array(matrix, dtype=np.float64), n
        return self._frame_from_values(matrix), n

    def _frame_from_values(self, matrix: list[list[Any]]) -> pd.DataFrame:
        data = {}
        for j, column in enumerate(self.columns or ()):
            values = [row[j] for row in matrix]
            if column.type == "datetime":
                try:
                    data[column.name] = pd.to_datetime(values)
                except (TypeError, ValueError) as exc:
                    raise RowsError(f"Column {column.name!r} expects ISO 8601 datetimes: {exc}",
                                    column=column.name) from exc
                continue
            dtype = _DTYPES.get(column.type, "object")
            if column.nullable and any(_is_missing(v) for v in values):
                dtype = "float64" if column.type in NUMERIC else "object"
            data[column.name] = pd.Series(values, dtype=dtype)
        return pd.DataFrame(data, columns=self.names)

    def _check_values(self, matrix: list[list[Any]]) -> None:
        """Every value against its column's type and nullability; the first refusal raises."""
        for row in matrix:
            for column, value in zip(self.columns or (), row, strict=True):
                if _is_missing(value):
                    if not column.nullable:
                        raise RowsError(f"Column {column.name!r} is missing a value (null or "
                                        "NaN) and does not allow one.", column=column.name)
                elif not _type_ok(column.type, value):
                    raise RowsError(
                        f"Column {column.name!r} expects {column.type}, got "
                        f"{type(value).__name__} {value!r}.", column=column.name)

    def _missing_error(self, array: np.ndarray) -> None:
        missing = np.isnan(array).any(axis=0)
        for column, bad in zip(self.columns or (), missing, strict=True):
            if bad and not column.nullable:
                raise RowsError(f"Column {column.name!r} is missing a value (null or NaN) and "
                                "does not allow one.", column=column.name)

    def _untyped(self, matrix: list, names: list[str], n: int) -> tuple[Any, int]:
        """No signature: the columns are what the caller sent, in the caller's order."""
        if self.dataframe:
            return pd.DataFrame(matrix, columns=names), n
        try:
            return np.array(matrix, dtype=np.float64), n
        except (TypeError, ValueError) as exc:
            raise RowsError(f"The rows could not be read as numbers ({exc}); this version "
                            "has no signature to say otherwise.") from exc

    # -- DataFrame and array inputs (the Python API) ----------------------------------

    def _frame(self, frame: pd.DataFrame) -> tuple[Any, int]:
        n = len(frame)
        if n == 0:
            raise RowsError("There are no rows to predict.")
        if self.columns is None:
            return (frame if self.dataframe else frame.to_numpy(dtype=np.float64)), n
        if set(frame.columns) != self.name_set:
            self._column_difference(list(frame.columns), None)
        ordered = frame[self.names]
        for column in self.columns:
            series = ordered[column.name]
            if not column.nullable and series.isna().any():
                raise RowsError(f"Column {column.name!r} is missing a value (null or NaN) and "
                                "does not allow one.", column=column.name)
            if column.type in NUMERIC and not (pd.api.types.is_numeric_dtype(series)
                                               and not pd.api.types.is_bool_dtype(series)):
                raise RowsError(f"Column {column.name!r} expects {column.type}, got dtype "
                                f"{series.dtype}.", column=column.name)
        if self.dataframe:
            return ordered, n
        return ordered.to_numpy(dtype=np.float64), n

    def _array(self, array: np.ndarray) -> tuple[Any, int]:
        if array.ndim == 1:
            array = array.reshape(1, -1)
        if array.ndim != 2 or array.shape[0] == 0:
            raise RowsError(f"An array of rows must be 2-D with at least one row, not shape "
                            f"{array.shape}.")
        n = array.shape[0]
        if self.columns is None:
            return array, n
        if array.shape[1] != len(self.columns):
            raise RowsError(f"Each row needs {len(self.columns)} values ({', '.join(self.names)})"
                            f", not {array.shape[1]}.")
        if self.dataframe:
            return self._frame(pd.DataFrame(array, columns=self.names))
        if not self.all_numeric or array.dtype.kind not in "fiu":
            raise RowsError(f"An array input must be numeric, not dtype {array.dtype}.")
        array = array.astype(np.float64, copy=False)
        if self.any_required and np.isnan(array).any():
            self._missing_error(array)
        return array, n


class WrongShape(ValueError):
    """The model answered, but not one prediction per row: a failure of the version."""


def to_jsonable(output: Any, n: int) -> list:
    """Predictions as JSON-ready Python: a list with one entry per row."""
    if isinstance(output, np.ndarray):
        if output.ndim == 0 or output.shape[0] != n:
            raise WrongShape(f"the model returned shape {output.shape} for {n} row(s)")
        return output.tolist()
    if isinstance(output, pd.DataFrame):
        if len(output) != n:
            raise WrongShape(f"the model returned {len(output)} row(s) for {n}")
        return output.to_dict(orient="records")
    if isinstance(output, pd.Series):
        if len(output) != n:
            raise WrongShape(f"the model returned {len(output)} value(s) for {n} row(s)")
        return output.tolist()
    if isinstance(output, (list, tuple)):
        if len(output) != n:
            raise WrongShape(f"the model returned {len(output)} value(s) for {n} row(s)")
        return [v.tolist() if isinstance(v, (np.ndarray, np.generic)) else v for v in output]
    raise WrongShape(f"the model returned {type(output).__name__}, not one prediction per row")


def example_rows(signature: Mapping[str, Any] | None, input_example: Any) -> Any:
    """Rows to warm a version on: its input example, else one made-up row from the signature."""
    if input_example is not None:
        if isinstance(input_example, Mapping) and not (
            "records" in input_example or "dataframe_split" in input_example
        ):
            return [dict(input_example)]
        return input_example
    columns = _columns(signature)
    if columns is None:
        return None
    made_up = {"boolean": False, "string": "", "datetime": "2026-01-01T00:00:00"}
    return [{c.name: made_up.get(c.type, 0 if c.type in INTEGRAL else 0.0) for c in columns}]
