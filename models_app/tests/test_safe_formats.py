"""The pure rules for skops and ONNX files (models_app.safe_skops, models_app.safe_onnx)."""

from __future__ import annotations

import io
import json
import sys
import zipfile

import numpy as np
import pytest
import skops.io as sio

from models_app import safe_onnx, safe_pickle, safe_skops
from models_app.tests.hostile import formats

# A small exact list of classes, by their defining module: the scikit-learn, numpy and
# scipy classes these tests' skops files need (SVC left out on purpose).
LOCAL_CLASSES = frozenset(
    {
        ("sklearn.pipeline", "Pipeline"),
        ("sklearn.compose._column_transformer", "ColumnTransformer"),
        ("sklearn.preprocessing._data", "StandardScaler"),
        ("sklearn.preprocessing._data", "MinMaxScaler"),
        ("sklearn.preprocessing._data", "RobustScaler"),
        ("sklearn.preprocessing._encoders", "OneHotEncoder"),
        ("sklearn.preprocessing._function_transformer", "FunctionTransformer"),
        ("sklearn.impute._base", "SimpleImputer"),
        ("sklearn.linear_model._logistic", "LogisticRegression"),
        ("sklearn.linear_model._base", "LinearRegression"),
        ("sklearn.linear_model._ridge", "Ridge"),
        ("sklearn.linear_model._coordinate_descent", "Lasso"),
        ("sklearn.ensemble._forest", "RandomForestClassifier"),
        ("sklearn.ensemble._forest", "RandomForestRegressor"),
        ("sklearn.ensemble._gb", "GradientBoostingClassifier"),
        ("sklearn.ensemble._gb", "GradientBoostingRegressor"),
        ("sklearn.tree._classes", "DecisionTreeClassifier"),
        ("sklearn.tree._classes", "DecisionTreeRegressor"),
        ("sklearn.tree._tree", "Tree"),
        ("sklearn.dummy", "DummyClassifier"),
        ("sklearn.dummy", "DummyRegressor"),
        ("sklearn._loss.link", "Interval"),
        ("sklearn._loss.link", "LogitLink"),
        ("sklearn._loss.link", "IdentityLink"),
        ("sklearn._loss.loss", "HalfBinomialLoss"),
        ("sklearn._loss.loss", "HalfSquaredError"),
        ("sklearn._loss._loss", "CyHalfBinomialLoss"),
        ("sklearn._loss._loss", "CyHalfSquaredError"),
        ("numpy.random.mtrand", "RandomState"),
        ("numpy.ma", "MaskedArray"),
        ("scipy.sparse._csr", "csr_matrix"),
        ("scipy.sparse._csc", "csc_matrix"),
    }
)


def exact_classes(classes):
    allowed = frozenset(classes)
    return lambda module, qualname: (module, qualname) in allowed


LOCAL = exact_classes(LOCAL_CLASSES)


def test_refused_types_admits_exact_classes_and_never_a_function_under_an_allowed_prefix():
    reported = [
        "sklearn.tree._tree.Tree",
        "sklearn.utils._testing.assert_run_python_script_without_output",
        "sklearn.utils.validation.check_array",
        "numpy.load",
        "numpy.testing._private.utils.runstring",
        "sklearn.preprocessing._data.StandardScaler.transform",
    ]
    assert safe_skops.refused_types(reported, LOCAL) == sorted(reported[1:])


def test_a_reviewed_ufunc_is_the_only_kind_of_function_a_skops_file_may_name():
    audit = safe_skops.audit(sio.dumps(formats._pipeline()), LOCAL)
    assert audit.ok, audit.reasons
    assert "numpy.log1p" in audit.types
    from sklearn.preprocessing import FunctionTransformer

    audit = safe_skops.audit(sio.dumps(FunctionTransformer(np.fft.fft)), LOCAL)
    assert not audit.ok
    assert "a function" in next(iter(audit.reasons.values()))


def test_skops_default_trusted_estimators_still_need_the_exact_allowlist():
    from sklearn.svm import SVC

    data = sio.dumps(SVC().fit(*formats._training_data()))
    assert sio.get_untrusted_types(data=data) == []  # skops trusts every estimator itself
    audit = safe_skops.audit(data, LOCAL)
    assert audit.refused == ("sklearn.svm._classes.SVC",)


def test_an_allowlist_that_names_functions_still_admits_only_classes_to_skops():
    pickle_style = exact_classes({
        ("numpy._core.multiarray", "_reconstruct"), ("copyreg", "_reconstructor"),
        ("numpy", "ndarray"), ("sklearn.tree._tree", "Tree"), ("numpy", "no_such_name"),
    })
    is_allowed = safe_skops.classes_only(pickle_style)
    assert is_allowed("numpy", "ndarray") and is_allowed("sklearn.tree._tree", "Tree")
    assert not is_allowed("numpy._core.multiarray", "_reconstruct")
    assert not is_allowed("copyreg", "_reconstructor")
    assert not is_allowed("numpy", "no_such_name")
    assert not is_allowed("os", "system")  # never imported: the allowlist said no first


@pytest.fixture
def platform_package(tmp_path):
    root = tmp_path / "platform"
    (root / "src" / "ml").mkdir(parents=True)
    (root / "src" / "__init__.py").write_text("")
    (root / "src" / "ml" / "__init__.py").write_text("")
    (root / "src" / "ml" / "models.py").write_text(
        "import os\nfrom collections import OrderedDict\n"
        "class Ranker:\n    pass\n"
        "def helper(x):\n    return x\n"
    )
    sys.path.insert(0, str(root))
    # The rule uploads and loads apply: the pickle allowlist's platform packages, classes only.
    yield safe_skops.classes_only(
        lambda module, qualname: safe_pickle.is_allowed_global(module, qualname, ("src.ml",)))
    sys.path.remove(str(root))
    for name in [n for n in sys.modules if n == "src" or n.startswith("src.")]:
        del sys.modules[name]


def test_platform_types_must_resolve_to_a_class_defined_under_the_package(platform_package):
    is_allowed = platform_package
    assert is_allowed("src.ml.models", "Ranker")
    assert not is_allowed("src.ml.models", "helper")  # a function
    assert not is_allowed("src.ml.models", "os")  # a module re-exported
    assert not is_allowed("src.ml.models", "OrderedDict")  # a class defined elsewhere
    assert not is_allowed("src.mlx", "Ranker")  # a sibling that shares the prefix
    assert not is_allowed("src.ml.missing", "Ranker")


def _zip(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for name, content in members.items():
            target.writestr(name, content)
    return out.getvalue()


def _nested_lists(depth: int) -> bytes:
    head = '{"__class__": "list", "__module__": "builtins", "__loader__": "ListNode", "content": ['
    leaf = ('{"__class__": "str", "__module__": "builtins", "__loader__": "JsonNode", '
            '"content": "1"}')
    text = head * depth + leaf + "]}" * depth
    return text[:-1].encode() + f', "protocol": {safe_skops.PROTOCOL}}}'.encode()


def test_a_deep_schema_is_walked_without_recursion_and_a_too_deep_one_is_refused():
    assert safe_skops.audit(_zip({"schema.json": _nested_lists(300)}), LOCAL).ok
    audit = safe_skops.audit(_zip({"schema.json": _nested_lists(100_000)}), LOCAL)
    assert "cannot be read" in audit.error


def test_an_unknown_node_kind_is_refused():
    schema = {"__class__": "X", "__module__": "sklearn", "__loader__": "EvalNode",
              "protocol": safe_skops.PROTOCOL}
    audit = safe_skops.audit(_zip({"schema.json": json.dumps(schema).encode()}), LOCAL)
    assert audit.reasons == {"sklearn.X": "an unknown skops node kind (EvalNode)"}


def test_onnx_audit_names_where_each_external_tensor_sits():
    audit = safe_onnx.audit(formats._with_subgraph("weights.bin").SerializeToString())
    assert audit.external == (
        "model/ONNX(MLPRegressor)/If:?.then_branch/then initializer leak_then: weights.bin",)
    assert safe_onnx.audit(formats._onnx_model().SerializeToString()).ok


def test_a_loaded_forest_with_a_tree_pointing_out_of_range_is_found():
    forest = formats._forest()
    assert safe_skops.constructed_tree_problem(forest) is None
    tree = forest.estimators_[2].tree_
    state = tree.__getstate__()
    nodes = state["nodes"].copy()
    nodes["right_child"][0] = 10**7
    tree.__setstate__({**state, "nodes": nodes})
    assert safe_skops.constructed_tree_problem(forest) == "a node's child index is out of range"
    assert safe_skops.constructed_tree_problem({"model": [forest]}) is not None
