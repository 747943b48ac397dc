"""MLmodel files read as Axion's version fields (mlflow_app.mlmodel, no Django)."""

from __future__ import annotations

import json

import pytest

from mlflow_app import mlmodel

SKLEARN = """
flavors:
  python_function: {loader_module: mlflow.sklearn, model_path: model.pkl}
  sklearn: {pickled_model: model.pkl, serialization_format: cloudpickle}
saved_input_example_info: {artifact_path: input_example.json, type: dataframe,
  pandas_orient: split}
signature:
  inputs: '[{"type": "double", "name": "momentum", "required": true},
    {"type": "long", "name": "size", "required": false}]'
  outputs: '[{"type": "tensor", "tensor-spec": {"dtype": "int64", "shape": [-1]}}]'
"""


def test_the_sklearn_flavors_file_signature_and_example_are_read():
    servable = mlmodel.servable(mlmodel.parse(SKLEARN))
    assert (servable.artifact_path, servable.artifact_format, servable.framework) == (
        "model.pkl", "pickle", "sklearn")
    assert servable.signature == {"inputs": [
        {"name": "momentum", "type": "double"},
        {"name": "size", "type": "long", "nullable": True}]}  # unnamed tensor outputs dropped
    assert (servable.example_path, servable.example_type) == ("input_example.json",
                                                              "dataframe")
    example = json.dumps({"columns": ["momentum", "size"], "data": [[0.5, 3], [1.5, 4]]})
    assert mlmodel.input_example(example.encode(), example_type="dataframe", named=True) == [
        {"momentum": 0.5, "size": 3}, {"momentum": 1.5, "size": 4}]


def test_tensor_signatures_give_no_columns_and_array_examples_go_by_position():
    text = SKLEARN.replace('"name": "momentum", ', "")
    assert mlmodel.servable(mlmodel.parse(text)).signature == {}
    assert mlmodel.input_example(b"[[1, 2], [3, 4]]", example_type="ndarray",
                                 named=False) == {"dataframe_split": {
                                     "columns": ["0", "1"], "data": [[1, 2], [3, 4]]}}
    assert mlmodel.input_example(b'{"inputs": [[1, 2]]}', example_type="ndarray",
                                 named=False) == {"dataframe_split": {
                                     "columns": ["0", "1"], "data": [[1, 2]]}}
    assert mlmodel.input_example(b"[[1, 2], [3]]", example_type="ndarray",
                                 named=False) is None  # ragged: no example rather than a bad one
    assert mlmodel.input_example(b"[1, 2]", example_type="ndarray", named=False) is None


@pytest.mark.parametrize(("edit", "reason"), [
    (("model.pkl, serialization", "../x.pkl, serialization"), "leaves the model folder"),
    (("model.pkl, serialization", "/etc/passwd, serialization"), "leaves the model folder"),
    (("cloudpickle", "joblib"), "serialization_format"),
    (("  sklearn:", "  keras:"), "sklearn flavor"),
    (("artifact_path: input_example.json", "artifact_path: ../../e.json"), "leaves"),
])
def test_what_axion_cannot_serve_is_refused_with_the_reason(edit, reason):
    with pytest.raises(mlmodel.MLmodelProblem) as caught:
        mlmodel.servable(mlmodel.parse(SKLEARN.replace(*edit)))
    assert reason in str(caught.value)


def test_yaml_that_is_not_a_mapping_or_python_tags_is_refused():
    with pytest.raises(mlmodel.MLmodelProblem):
        mlmodel.parse("- a list")
    with pytest.raises(mlmodel.MLmodelProblem):
        mlmodel.parse("flavors: !!python/object/apply:os.system ['true']")
    with pytest.raises(mlmodel.MLmodelProblem):
        mlmodel.parse("x" * (mlmodel.MAX_MLMODEL_BYTES + 1))
