"""Inputs checked against the signature and shaped for the model (pure, no database)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from serving_app.inputs import InputSpec, RowsError, WrongShape, example_rows, to_jsonable

DOUBLES = {"inputs": [{"name": "a", "type": "double"}, {"name": "b", "type": "double"}]}
MIXED = {"inputs": [
    {"name": "sector", "type": "string"},
    {"name": "shares", "type": "long"},
    {"name": "momentum", "type": "double", "nullable": True},
    {"name": "listed", "type": "boolean"},
]}


def spec(signature=DOUBLES, dataframe=False) -> InputSpec:
    return InputSpec.from_signature(signature, dataframe=dataframe)


def test_it_builds_a_float_matrix_in_signature_order_from_records():
    matrix, n = spec().prepare([{"b": 2, "a": 1.5}, {"a": -1.0, "b": 0.25}])
    assert n == 2
    assert matrix.dtype == np.float64
    assert matrix.tolist() == [[1.5, 2.0], [-1.0, 0.25]]


def test_it_reorders_dataframe_split_columns_to_the_signature():
    matrix, n = spec().prepare({"dataframe_split": {"columns": ["b", "a"], "data": [[2, 1]]}})
    assert (n, matrix.tolist()) == (1, [[1.0, 2.0]])


@pytest.mark.parametrize("rows, column, words", [
    ([{"a": 1.0}], "b", "Missing column 'b'"),
    ([{"a": 1.0, "b": 2.0, "c": 3.0}], "c", "Unexpected column 'c'"),
    ({"dataframe_split": {"columns": ["a"], "data": [[1.0]]}}, "b", "Missing column 'b'"),
    ([{"a": "1.0", "b": 2.0}], "a", "expects double, got str"),
    ([{"a": True, "b": 2.0}], "a", "expects double, got bool"),
    ([{"a": None, "b": 2.0}], "a", "missing a value"),
    ([{"a": 1.0, "b": float("nan")}], "b", "missing a value"),
])
def test_it_refuses_rows_that_do_not_fit_naming_the_column(rows, column, words):
    with pytest.raises(RowsError) as caught:
        spec().prepare(rows)
    assert caught.value.column == column
    assert words in str(caught.value)


def test_it_refuses_empty_and_malformed_payloads():
    for rows in ([], {"records": "x"}, {"instances": []}, [[1, 2]],
                 {"dataframe_split": {"columns": ["a", "b"], "data": [[1]]}}):
        with pytest.raises(RowsError):
            spec().prepare(rows)


def test_it_builds_a_typed_dataframe_for_a_mixed_signature():
    frame, n = spec(MIXED).prepare([
        {"sector": "tech", "shares": 10, "momentum": 0.5, "listed": True},
        {"sector": "energy", "shares": 3, "momentum": None, "listed": False},
    ])
    assert isinstance(frame, pd.DataFrame) and n == 2
    assert list(frame.columns) == ["sector", "shares", "momentum", "listed"]
    assert str(frame["shares"].dtype) == "int64" and str(frame["listed"].dtype) == "bool"
    assert math.isnan(frame["momentum"][1])


def test_it_checks_types_per_column_in_a_mixed_signature():
    with pytest.raises(RowsError, match="'shares' expects long") as caught:
        spec(MIXED).prepare([{"sector": "a", "shares": 1.5, "momentum": 0.0, "listed": True}])
    assert caught.value.column == "shares"
    with pytest.raises(RowsError, match="'listed' expects boolean"):
        spec(MIXED).prepare([{"sector": "a", "shares": 1, "momentum": 0.0, "listed": 1}])


def test_it_accepts_dataframes_and_arrays_from_python_callers():
    frame = pd.DataFrame({"b": [2.0], "a": [1.0]})
    assert spec().prepare(frame)[0].tolist() == [[1.0, 2.0]]
    assert spec().prepare(np.array([[1.0, 2.0]]))[0].tolist() == [[1.0, 2.0]]
    with pytest.raises(RowsError, match="needs 2 values"):
        spec().prepare(np.zeros((1, 3)))
    with pytest.raises(RowsError, match="'a' is missing a value"):
        spec().prepare(pd.DataFrame({"a": [np.nan], "b": [1.0]}))


def test_a_model_that_wants_a_dataframe_gets_named_columns():
    frame, _ = spec(dataframe=True).prepare([{"a": 1.0, "b": 2.0}])
    assert isinstance(frame, pd.DataFrame) and list(frame.columns) == ["a", "b"]


def test_without_a_signature_records_keep_the_callers_columns():
    matrix, n = InputSpec.from_signature({}, dataframe=False).prepare([{"x": 1, "y": 2}])
    assert matrix.tolist() == [[1.0, 2.0]]
    with pytest.raises(RowsError, match="different columns"):
        InputSpec.from_signature({}, dataframe=False).prepare([{"x": 1}, {"y": 2}])


def test_outputs_must_have_one_prediction_per_row():
    assert to_jsonable(np.array([1, 0]), 2) == [1, 0]
    assert to_jsonable(pd.DataFrame({"p": [0.5], "q": [3]}), 1) == [{"p": 0.5, "q": 3}]
    assert to_jsonable(pd.Series([0.1, 0.2]), 2) == [0.1, 0.2]
    for wrong in (np.zeros(3), np.float64(1.0), "label", pd.DataFrame({"p": [1, 2]})):
        with pytest.raises(WrongShape):
            to_jsonable(wrong, 1)


def test_warm_up_rows_come_from_the_input_example_or_the_signature():
    assert example_rows(DOUBLES, {"a": 1.0, "b": 2.0}) == [{"a": 1.0, "b": 2.0}]
    assert example_rows(MIXED, None) == [
        {"sector": "", "shares": 0, "momentum": 0.0, "listed": False}
    ]
    assert example_rows({}, None) is None
