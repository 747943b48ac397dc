"""Which skops files may be loaded: every node of schema.json against exact lists. No Django.

skops trusts by default every scikit-learn estimator, every numpy and scipy ufunc as a
function, and lets a file name any function, method or operator it wants constructed; a
prefix rule ("sklearn...") admits functions such as ``numpy.load`` or
``sklearn.utils._testing.assert_run_python_script``, which skops hands to code that calls
them. So nothing here is
trusted by prefix or by skops's defaults: each node kind gets its own rule, a class is
trusted only when ``is_allowed(module, qualname)`` says so (an exact allowlist), functions
only from a short reviewed list of numpy ufuncs, methods, operators and partials never.
"""

from __future__ import annotations

import importlib
import io
import json
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

IsAllowed = Callable[[str, str], bool]

# The protocol of the installed skops (0.16): older protocols use older node classes.
PROTOCOL = 2
SCHEMA = "schema.json"

# Classes that skops's own structural nodes build (dict, list, ...): harmless to construct.
STRUCTURAL_CLASSES = frozenset(
    ("builtins", name)
    for name in ("dict", "list", "tuple", "set", "str", "int", "float", "bool", "bytes",
                 "bytearray", "slice")
) | {("collections", "OrderedDict"), ("collections", "defaultdict")}

# numpy scalar types and ndarray: NdArrayNode calls the type on a loaded array, TypeNode
# hands it to DictNode, which calls it on a key.
NUMPY_CLASSES = frozenset(
    ("numpy", name)
    for name in ("ndarray", "bool", "bool_", "int8", "int16", "int32", "int64", "uint8",
                 "uint16", "uint32", "uint64", "float16", "float32", "float64", "longdouble",
                 "complex64", "complex128", "clongdouble", "str_", "bytes_", "datetime64",
                 "timedelta64")
)

# Functions a file may reference (FunctionNode), reviewed one by one: pure elementwise
# arithmetic, no I/O, no callbacks. FunctionTransformer(np.log1p) is the common use.
REVIEWED_FUNCTIONS = frozenset(
    ("numpy", name)
    for name in ("log", "log1p", "log2", "log10", "exp", "expm1", "sqrt", "square", "abs",
                 "absolute", "negative", "sign", "tanh", "arctan", "reciprocal", "rint")
)

BIT_GENERATORS = frozenset({"PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64"})

CONTAINER_NODES = frozenset({"DictNode", "ListNode", "SetNode", "TupleNode", "DefaultDictNode",
                             "SliceNode", "BytesNode", "BytearrayNode"})
CLASS_NODES = frozenset({"ObjectNode", "ConstructorFromReduceNode", "TreeNode", "LossNode",
                         "SparseMatrixNode", "RandomStateNode", "MaskedArrayNode"})
NEVER_NODES = {
    "MethodNode": "a bound method, called later with the model's inputs",
    "OperatorFuncNode": "an operator.attrgetter/itemgetter/methodcaller, which calls by name",
    "PartialNode": "a functools.partial, a function with arguments chosen by the file",
    "_DictWithDeprecatedKeysNode": "a scikit-learn < 1.2 wrapper",
    "QuantileForestNode": "a quantile-forest model (not an installed framework)",
}


@dataclass(frozen=True)
class SkopsAudit:
    """What a skops file's schema asks for; `refused` is empty when it may be loaded."""

    types: frozenset[str] = frozenset()  # every type string the file names, for sio.loads
    refused: tuple[str, ...] = ()
    reasons: dict[str, str] = field(default_factory=dict)
    error: str | None = None  # the file is not a readable skops file

    @property
    def ok(self) -> bool:
        return self.error is None and not self.refused


def splits(type_name: str) -> Iterable[tuple[str, str]]:
    """Every (module, qualname) reading of a dotted type string, longest module first."""
    parts = type_name.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        yield ".".join(parts[:cut]), ".".join(parts[cut:])


def names_a_class(type_name: str, is_allowed: IsAllowed) -> bool:
    return any(is_allowed(module, qualname) for module, qualname in splits(type_name))


def refused_types(type_names: Iterable[str], is_allowed: IsAllowed) -> list[str]:
    """The type strings skops reports (get_untrusted_types) that name no allowed class.

    A function or method string never passes: `is_allowed` admits classes only.
    """
    return sorted(
        name for name in set(type_names)
        if not names_a_class(name, lambda m, q: (m, q) in STRUCTURAL_CLASSES
                             or (m, q) in NUMPY_CLASSES or is_allowed(m, q))
    )


def classes_only(is_allowed: IsAllowed) -> IsAllowed:
    """`is_allowed`, and the name must resolve to a class: an allowlist written for pickle
    may hold functions (numpy's _reconstruct, copyreg...), which skops must never get.
    The module is imported only after `is_allowed` has admitted the name."""

    def check(module: str, qualname: str) -> bool:
        if not is_allowed(module, qualname):
            return False
        try:
            obj: Any = importlib.import_module(module)
            for part in qualname.split("."):
                obj = getattr(obj, part)
        except (ImportError, AttributeError, ValueError):
            return False
        return isinstance(obj, type)

    return check


def _nodes(schema: Any) -> Iterable[dict[str, Any]]:
    """Every dict with a __loader__ anywhere in the schema (iterative: files may be deep)."""
    stack = [schema]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if "__loader__" in item:
                yield item
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _bit_generator(node: dict[str, Any]) -> str | None:
    try:
        name = json.loads(
            node["content"]["bit_generator"]["content"]["bit_generator"]["content"]
        )
    except (KeyError, TypeError, ValueError):
        return None
    return name if isinstance(name, str) else None


Verdict = Callable[[dict[str, Any], str, str, IsAllowed], "str | None"]


def _plain(node: dict[str, Any], module: str, name: str, is_allowed: IsAllowed) -> str | None:
    return None  # plain JSON values and references to nodes checked elsewhere


def _reviewed_function(
    node: dict[str, Any], module: str, name: str, is_allowed: IsAllowed
) -> str | None:
    if (module, name) in REVIEWED_FUNCTIONS:
        return None
    return "a function; only a short list of numpy ufuncs may be referenced"


def _container(node: dict[str, Any], module: str, name: str, is_allowed: IsAllowed) -> str | None:
    return None if (module, name) in STRUCTURAL_CLASSES else "not a plain container type"


def _array_or_type(
    node: dict[str, Any], module: str, name: str, is_allowed: IsAllowed
) -> str | None:
    key = (module, name)
    trusted = key in NUMPY_CLASSES or is_allowed(module, name) or (
        node["__loader__"] == "TypeNode" and key in STRUCTURAL_CLASSES)
    return None if trusted else "not an allowed class"


def _dtype(node: dict[str, Any], module: str, name: str, is_allowed: IsAllowed) -> str | None:
    trusted = module == "numpy.dtypes" and name.isidentifier() and name.endswith("DType")
    return None if trusted else "not a numpy dtype"


def _allowed_class(
    node: dict[str, Any], module: str, name: str, is_allowed: IsAllowed
) -> str | None:
    return None if is_allowed(module, name) else "not an allowed class"


def _random_generator(
    node: dict[str, Any], module: str, name: str, is_allowed: IsAllowed
) -> str | None:
    if _bit_generator(node) not in BIT_GENERATORS:
        return "the random generator names no numpy bit generator"
    return _allowed_class(node, module, name, is_allowed)


# The rule for each node kind a file may hold; NEVER_NODES and unknown kinds are refused.
VERDICTS: dict[str, Verdict] = {
    "JsonNode": _plain,
    "CachedNode": _plain,
    "FunctionNode": _reviewed_function,
    "NdArrayNode": _array_or_type,
    "TypeNode": _array_or_type,
    "DTypeNode": _dtype,
    "RandomGeneratorNode": _random_generator,
    **dict.fromkeys(CONTAINER_NODES, _container),
    **dict.fromkeys(CLASS_NODES, _allowed_class),
}


def _node_verdict(node: dict[str, Any], is_allowed: IsAllowed) -> tuple[str, str | None]:
    """(the type string the node names, None if allowed else the reason it is refused)."""
    loader = node["__loader__"]
    module, name = node.get("__module__"), node.get("__class__")
    if not isinstance(loader, str) or not isinstance(module, str) or not isinstance(name, str):
        return f"{module}.{name}", "the node is malformed"
    type_name = f"{module}.{name}"
    if loader in NEVER_NODES:
        if loader == "MethodNode":
            type_name = f"{type_name}.{(node.get('content') or {}).get('func')}"
        return type_name, f"{NEVER_NODES[loader]} is never loaded"
    verdict = VERDICTS.get(loader)
    if verdict is None:
        return type_name, f"an unknown skops node kind ({loader})"
    return type_name, verdict(node, module, name, is_allowed)


def _files_named(schema: Any) -> set[str]:
    return {n["file"] for n in _nodes(schema) if isinstance(n.get("file"), str)}


def _npy_problem(data: bytes) -> str | None:
    """Why a member stored as a numpy array must not be read, without reading the array."""
    stream = io.BytesIO(data)
    try:
        version = np.lib.format.read_magic(stream)
        header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                  else np.lib.format.read_array_header_2_0)
        _, _, dtype = header(stream) if version in ((1, 0), (2, 0)) else (None, None, None)
    except (ValueError, OSError) as exc:
        return f"is not a numpy array file ({exc})"
    if dtype is None:
        return "uses an unsupported numpy file version"
    if dtype.hasobject:
        return "holds Python objects (a pickle inside the array)"
    return None


def audit(data: bytes, is_allowed: IsAllowed) -> SkopsAudit:
    """Check a skops file without constructing anything: the zip, the schema, every node."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError, OSError):
        return SkopsAudit(error="it is not a skops file (not a zip archive)")
    with archive:
        schema, error = _schema(archive)
        if error is None:
            nodes = list(_nodes(schema))
            error = _members_problem(archive, schema) or _trees_problem(archive, nodes)
    if error is not None:
        return SkopsAudit(error=error)
    types: set[str] = set()
    reasons: dict[str, str] = {}
    for node in nodes:
        type_name, reason = _node_verdict(node, is_allowed)
        types.add(type_name)
        if reason:
            reasons.setdefault(type_name, reason)
    return SkopsAudit(types=frozenset(types), refused=tuple(sorted(reasons)), reasons=reasons)


def _schema(archive: zipfile.ZipFile) -> tuple[Any, str | None]:
    """(the schema, None), or (None, why the zip is not a skops file of our protocol)."""
    names = archive.namelist()
    if SCHEMA not in names:
        return None, "it is not a skops file (the zip has no schema.json)"
    if len(set(names)) != len(names):
        return None, "the zip holds two members with the same name"
    try:
        schema = json.loads(archive.read(SCHEMA))
    except (ValueError, RecursionError, zipfile.BadZipFile, OSError) as exc:
        return None, f"its schema.json cannot be read ({exc})"
    if not isinstance(schema, dict) or "__loader__" not in schema:
        return None, "its schema.json is not a skops schema"
    if schema.get("protocol") != PROTOCOL:
        return None, (f"it was written with skops protocol {schema.get('protocol')!r}; "
                      "re-save it with skops 0.16")
    return schema, None


def _members_problem(archive: zipfile.ZipFile, schema: Any) -> str | None:
    """The zip's members must be exactly the files the schema names, arrays without
    objects."""
    names = set(archive.namelist())
    referenced = _files_named(schema)
    unknown = sorted(names - referenced - {SCHEMA})
    if unknown:
        return "the zip carries files its schema never uses: " + ", ".join(unknown[:5])
    missing = sorted(referenced - names)
    if missing:
        return "its schema names files the zip lacks: " + ", ".join(missing[:5])
    for name in sorted(referenced):
        if name.endswith(".npy"):
            try:
                problem = _npy_problem(archive.read(name))
            except (zipfile.BadZipFile, OSError, ValueError) as exc:
                problem = f"cannot be read ({exc})"
            if problem:
                return f"the member {name} {problem}"
    return None


def _trees_problem(archive: zipfile.ZipFile, nodes: list[dict[str, Any]]) -> str | None:
    by_id = {n["__id__"]: n for n in nodes if "__id__" in n and "content" in n}
    for node in nodes:
        if node.get("__loader__") == "TreeNode":
            problem = _tree_problem(node, archive, by_id)
            if problem:
                return f"a decision tree is malformed: {problem}"
    return None


def _tree_arrays_problem(left: np.ndarray, right: np.ndarray, feature: np.ndarray,
                         n_features: int) -> str | None:
    count = len(left)
    index = np.arange(count)
    inner = ~((left == -1) & (right == -1))
    if np.any(inner & ~((left > index) & (left < count) & (right > index) & (right < count))):
        return "a node's child index is out of range"
    if np.any(inner & ((feature < 0) | (feature >= n_features))):
        return "a node splits on a feature the model does not have"
    return None


def constructed_tree_problem(obj: Any, limit: int = 100_000) -> str | None:
    """The same tree check on a loaded model: every sklearn Tree reachable from `obj`
    (forests, boosting stages, pipelines), as predict will walk it."""
    from sklearn.tree._tree import Tree

    stack, seen = [obj], set[int]()
    while stack and len(seen) < limit:
        item = stack.pop()
        if id(item) in seen or isinstance(item, (str, bytes, int, float, bool, type(None))):
            continue
        seen.add(id(item))
        if isinstance(item, Tree):
            problem = _tree_arrays_problem(
                item.children_left.astype(np.int64), item.children_right.astype(np.int64),
                item.feature.astype(np.int64), int(item.n_features))
            if problem:
                return problem
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, (list, tuple, set, frozenset)):
            stack.extend(item)
        elif isinstance(item, np.ndarray):
            if item.dtype == object:
                stack.extend(item.ravel().tolist())
        elif hasattr(item, "__dict__"):
            stack.extend(vars(item).values())
    return None


def _resolved(node: Any, by_id: dict[Any, dict]) -> Any:
    """A memoized node (one that names an earlier node's __id__) as that earlier node."""
    if isinstance(node, dict) and "content" not in node and "file" not in node:
        return by_id.get(node.get("__id__"), node)
    return node


def _array(node: Any, archive: zipfile.ZipFile, by_id: dict[Any, dict]) -> np.ndarray:
    node = _resolved(node, by_id)
    return np.load(io.BytesIO(archive.read(node["file"])), allow_pickle=False)


def _tree_problem(node: dict, archive: zipfile.ZipFile, by_id: dict[Any, dict]) -> str | None:
    """scikit-learn's Tree follows child and feature indices without bounds checks, so a
    crafted node array reads out of bounds or loops at predict. Children must come after
    their parent (as the tree builders write them) and features be below n_features."""
    try:
        args = _resolved(node["__reduce__"]["args"], by_id)["content"]
        n_features = int(json.loads(_resolved(args[0], by_id)["content"]))
        n_outputs = int(json.loads(_resolved(args[2], by_id)["content"]))
        state = _resolved(node["content"], by_id)["content"]
        nodes = _array(state["nodes"], archive, by_id)
        values = _array(state["values"], archive, by_id)
        left, right = nodes["left_child"].astype(np.int64), nodes["right_child"].astype(np.int64)
        feature = nodes["feature"].astype(np.int64)
    except (KeyError, TypeError, ValueError, IndexError, OSError, zipfile.BadZipFile) as exc:
        return f"its state cannot be read ({type(exc).__name__})"
    count = len(nodes)
    if count == 0 or values.ndim != 3 or values.shape[0] != count or values.shape[1] != n_outputs:
        return "its node and value arrays do not agree"
    return _tree_arrays_problem(left, right, feature, n_features)
