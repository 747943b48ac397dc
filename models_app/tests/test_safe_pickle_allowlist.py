"""The allowlist itself: exact pairs, each one resolvable, classes and reviewed helpers only,
nothing from a testing, compat or io module, none of the functions that read, execute,
import or unpickle. And the rule that applies it, platform classes included."""

from __future__ import annotations

import importlib
import inspect

import pytest

from models_app.safe_pickle import (
    ALLOWED_CLASS_NAMES,
    ALLOWED_GLOBALS,
    GlobalPolicy,
    UnsafePickle,
    global_refusal,
    is_allowed_dotted,
    is_allowed_global,
    parse_extra_globals,
)

PLATFORM = ("models_app.tests.platform",)

# Reviewed by hand: each rebuilds an object from literal state and does nothing else.
REVIEWED_HELPERS = {
    ("copyreg", "_reconstructor"),
    ("_codecs", "encode"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy._core.numeric", "_frombuffer"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy.random._pickle", "__bit_generator_ctor"),
    ("numpy.random._pickle", "__generator_ctor"),
    ("numpy.random._pickle", "__randomstate_ctor"),
    ("numpy.random.bit_generator", "__pyx_unpickle_SeedSequence"),
    ("pandas._libs.arrays", "__pyx_unpickle_NDArrayBacked"),
    ("pandas._libs.internals", "_unpickle_block"),
    ("pandas._libs.tslibs.nattype", "_nat_unpickle"),
    ("pandas._libs.tslibs.timedeltas", "_timedelta_unpickle"),
    ("pandas._libs.tslibs.timestamps", "_unpickle_timestamp"),
    ("pandas.core.indexes.base", "_new_Index"),
    ("pandas.core.indexes.datetimes", "_new_DatetimeIndex"),
    ("pandas.core.internals.blocks", "new_block"),
    ("pyarrow.lib", "_restore_array"),
    ("pyarrow.lib", "py_buffer"),
    ("pyarrow.lib", "type_for_alias"),
    ("sklearn._loss._loss", "__pyx_unpickle_CyHalfMultinomialLoss"),
    ("sklearn.metrics._dist_metrics", "newObj"),
    ("sklearn.neighbors._ball_tree", "newObj"),
    ("sklearn.neighbors._kd_tree", "newObj"),
}
REVIEWED_CONSTANTS = {("pandas", "NA"), ("pandas._libs.missing", "NA")}

NEVER = [
    ("numpy", "load"), ("numpy", "fromfile"), ("numpy", "memmap"), ("numpy", "loadtxt"),
    ("numpy", "genfromtxt"), ("numpy.testing", "runstring"),
    ("numpy.testing._private.utils", "runstring"), ("numpy.lib.npyio", "load"),
    ("pandas", "read_pickle"), ("pandas", "read_csv"), ("pandas.io.pickle", "read_pickle"),
    ("pandas", "eval"), ("sklearn.utils._testing", "assert_run_python_script_without_output"),
    ("builtins", "eval"), ("builtins", "exec"), ("builtins", "getattr"),
    ("builtins", "__import__"), ("builtins", "open"), ("builtins", "compile"),
    ("builtins", "setattr"), ("pickle", "loads"), ("_pickle", "loads"), ("pickle", "load"),
    ("copyreg", "__newobj__"), ("copyreg", "add_extension"), ("functools", "partial"),
    ("functools", "reduce"), ("operator", "attrgetter"), ("operator", "methodcaller"),
    ("importlib", "import_module"), ("runpy", "_run_code"), ("pydoc", "locate"),
    ("os", "system"), ("posix", "system"), ("subprocess", "Popen"), ("timeit", "timeit"),
    ("joblib", "load"), ("joblib.numpy_pickle_compat", "NDArrayWrapper"),
    ("joblib.numpy_pickle_compat", "ZNDArrayWrapper"), ("joblib.numpy_pickle", "load"),
    ("numpy._core._ufunc_config", "seterr"), ("numpy", "ufunc"),
    ("sklearn.utils.validation", "check_array"), ("pkgutil", "resolve_name"),
    ("marshal", "loads"), ("types", "FunctionType"), ("types", "CodeType"),
]


def _resolve(module: str, name: str):
    obj = importlib.import_module(module)
    for part in name.split("."):
        obj = getattr(obj, part)
    return obj


def test_every_pair_resolves_to_a_class_a_reviewed_helper_or_a_reviewed_constant():
    odd = []
    for module, name in sorted(ALLOWED_GLOBALS):
        obj = _resolve(module, name)
        if inspect.isclass(obj):
            continue
        if (module, name) in REVIEWED_HELPERS and callable(obj):
            continue
        if (module, name) in REVIEWED_CONSTANTS and not callable(obj):
            continue
        odd.append((module, name, type(obj).__name__))
    assert odd == []


def test_every_reviewed_helper_is_on_the_list_and_nothing_else_is_a_function():
    functions = {pair for pair in ALLOWED_GLOBALS
                 if not inspect.isclass(_resolve(*pair)) and callable(_resolve(*pair))}
    assert functions == REVIEWED_HELPERS


def test_no_pair_lives_in_a_testing_compat_or_io_module():
    bad_parts = {"testing", "_testing", "tests", "compat", "_compat", "io", "_io", "npyio",
                 "numpy_pickle_compat"}
    assert [pair for pair in ALLOWED_GLOBALS if bad_parts & set(pair[0].split("."))] == []


@pytest.mark.parametrize("module,name", NEVER)
def test_a_function_that_reads_executes_imports_or_unpickles_is_never_allowed(module, name):
    assert (module, name) not in ALLOWED_GLOBALS
    assert not is_allowed_global(module, name, PLATFORM)


def test_the_class_names_are_the_dotted_classes_of_the_allowlist():
    assert "sklearn.linear_model._logistic.LogisticRegression" in ALLOWED_CLASS_NAMES
    assert "lightgbm.sklearn.LGBMRanker" in ALLOWED_CLASS_NAMES
    assert "numpy._core.multiarray._reconstruct" not in ALLOWED_CLASS_NAMES
    assert all(inspect.isclass(_resolve(*n.rsplit(".", 1))) for n in ALLOWED_CLASS_NAMES
               if n.count(".") >= 1 and "." not in n.rsplit(".", 1)[1])


def test_it_matches_exact_pairs_not_module_prefixes_or_dotted_names():
    assert is_allowed_global("sklearn.linear_model._logistic", "LogisticRegression")
    assert not is_allowed_global("sklearn", "os.system")
    assert not is_allowed_global("sklearn.linear_model._logistic", "np.testing.runstring")
    assert not is_allowed_global("sklearn.linear_model._logistic",
                                 "LogisticRegression.__init__")
    assert not is_allowed_global("sklearn.linear_model", "_logistic.LogisticRegression")
    assert not is_allowed_global("numpy.random", "_pickle.__generator_ctor")


def test_python_2_spellings_map_as_pickle_maps_them():
    assert is_allowed_global("copy_reg", "_reconstructor")
    assert is_allowed_global("__builtin__", "set")
    assert not is_allowed_global("__builtin__", "eval")


def test_a_platform_class_is_allowed_and_a_platform_function_or_re_export_is_not():
    assert is_allowed_global("models_app.tests.platform.models", "RegimeRanker", PLATFORM)
    assert not is_allowed_global("models_app.tests.platform.models", "RegimeRanker", ())
    reasons = {
        name: global_refusal(module, name, PLATFORM) for module, name in [
            ("models_app.tests.platform.helpers", "run_shell"),
            ("models_app.tests.platform.reexports", "system"),
            ("models_app.tests.platform.reexports", "Popen"),
            ("models_app.tests.platform.missing", "Model"),
            ("models_app.tests.platform.models", "RegimeRanker.predict"),
            ("models_app.tests.platform.models", "np.ndarray"),
        ]}
    assert "a function of the platform model package" in reasons["run_shell"]
    assert "builtin_function_or_method of the platform" in reasons["system"]
    assert "subprocess.Popen re-exported" in reasons["Popen"]
    assert "cannot be imported here" in reasons["Model"]
    assert "a function of the platform" in reasons["RegimeRanker.predict"]
    assert "numpy.ndarray re-exported" in reasons["np.ndarray"]


def test_a_package_name_prefix_is_not_the_package():
    assert not is_allowed_global("models_app.tests.platformx", "RegimeRanker", PLATFORM)
    assert "not on the pickle allowlist" in global_refusal(
        "models_app.tests.platformer.models", "RegimeRanker", PLATFORM)


def test_operator_extras_are_exact_pairs():
    extras = parse_extra_globals(["fractions:Fraction", " decimal:Context "])
    assert extras == {("fractions", "Fraction"), ("decimal", "Context")}
    assert is_allowed_global("fractions", "Fraction", (), extras)
    assert not is_allowed_global("fractions", "Fraction.from_float", (), extras)
    for bad in ("fractions.Fraction", "fractions:", ":Fraction", "a b:c", "x:y:z"):
        with pytest.raises(ValueError, match="module:qualname"):
            parse_extra_globals([bad])


def test_skops_dotted_type_names_pass_through_the_same_rule():
    assert is_allowed_dotted("sklearn.linear_model._logistic.LogisticRegression")
    assert is_allowed_dotted("models_app.tests.platform.models.RegimeRanker", PLATFORM)
    assert not is_allowed_dotted("sklearn.os.system")
    assert not is_allowed_dotted("builtins.eval")


def test_the_policy_names_the_refused_global():
    with pytest.raises(UnsafePickle) as refused:
        GlobalPolicy().resolve("posix", "system")
    assert refused.value.global_name == "posix.system"
    assert "posix.system, which is not on the pickle allowlist" in refused.value.reason
