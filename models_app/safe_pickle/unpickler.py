"""Restricted unpicklers: every global goes through the policy in find_class.

Plain pickles use the C unpickler (find_class is its only door to code). joblib files use a
subclass of joblib's own unpickler that reads array data itself: object arrays through the
restricted unpickler, no memmap, no companion files (NDArrayWrapper is never allowed).
"""

from __future__ import annotations

import io
import pickle
import types
from typing import IO, Any

import numpy as np

from models_app.safe_pickle import container
from models_app.safe_pickle.policy import GlobalPolicy, UnsafePickle

_REFUSED_OPCODES = {
    pickle.PERSID[0]: "persistent ids (PERSID)",
    pickle.BINPERSID[0]: "persistent ids (BINPERSID)",
    pickle.EXT1[0]: "the copyreg extension registry (EXT1)",
    pickle.EXT2[0]: "the copyreg extension registry (EXT2)",
    pickle.EXT4[0]: "the copyreg extension registry (EXT4)",
    pickle.NEXT_BUFFER[0]: "out-of-band buffers (NEXT_BUFFER)",
    pickle.READONLY_BUFFER[0]: "out-of-band buffers (READONLY_BUFFER)",
}


_IMPORTED = (type, types.FunctionType, types.BuiltinFunctionType)
_build = pickle._Unpickler.load_build  # type: ignore[attr-defined]


class RestrictedUnpickler(pickle.Unpickler):
    """pickle.Unpickler whose find_class admits only the policy's globals."""

    def __init__(self, file: IO[bytes], policy: GlobalPolicy):
        super().__init__(file)
        self._policy = policy

    def find_class(self, module: str, name: str) -> Any:
        return self._policy.resolve(module, name)

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickle("the file uses persistent ids, which a model file never needs.")


def _refuse(opcode: int) -> Any:
    def refuse(self: Any) -> None:
        raise UnsafePickle(f"the file uses {_REFUSED_OPCODES[opcode]}, "
                           "which a model file never needs.")

    return refuse


class _RestrictedPyUnpickler(pickle._Unpickler):
    """The pure-Python unpickler, restricted: it reads exactly to STOP (nested pickles)."""

    dispatch = pickle._Unpickler.dispatch.copy()
    for _code in _REFUSED_OPCODES:
        dispatch[_code] = _refuse(_code)

    def __init__(self, file: IO[bytes], policy: GlobalPolicy):
        super().__init__(file)
        self._policy = policy

    def find_class(self, module: str, name: str) -> Any:
        return self._policy.resolve(module, name)


def _joblib_unpickler_class() -> type:
    from joblib.numpy_pickle import NumpyArrayWrapper, NumpyUnpickler

    class RestrictedJoblibUnpickler(NumpyUnpickler):
        dispatch = NumpyUnpickler.dispatch.copy()
        for _code in _REFUSED_OPCODES:
            dispatch[_code] = _refuse(_code)

        def __init__(self, file_handle: IO[bytes], policy: GlobalPolicy):
            super().__init__("", file_handle, ensure_native_byte_order=True, mmap_mode=None)
            self._policy = policy

        def find_class(self, module: str, name: str) -> Any:
            return self._policy.resolve(module, name)

        def load_build(self) -> None:
            stack = self.stack
            if len(stack) > 1 and isinstance(stack[-2], _IMPORTED):
                raise UnsafePickle("the file sets attributes on an imported class or function "
                                   "(BUILD), which would change it for every later load.")
            _build(self)
            if type(stack[-1]) is NumpyArrayWrapper:
                frame = self._unframer.current_frame
                if frame is not None and frame.tell() < len(frame.getbuffer()):
                    raise UnsafePickle("the file's array data starts inside a pickle frame, "
                                       "which joblib never writes.")
                self.stack.append(self._read_array(self.stack.pop()))

        def _read_array(self, wrapper: Any) -> np.ndarray:
            container.check_array_wrapper(vars(wrapper))
            if wrapper.dtype.hasobject:
                array = _RestrictedPyUnpickler(self.file_handle, self._policy).load()
                if not isinstance(array, np.ndarray):
                    raise UnsafePickle("an object array in the file is not an array.")
                return array
            try:
                return wrapper.read_array(self, self.ensure_native_byte_order)
            except ValueError as exc:  # joblib's "EOF: reading array data"
                raise UnsafePickle(f"the file is not a readable joblib file ({exc}).") from exc

        dispatch[pickle.BUILD[0]] = load_build

    return RestrictedJoblibUnpickler


_joblib_class: type | None = None


def restricted_loads(data: bytes, policy: GlobalPolicy) -> Any:
    """pickle.loads, admitting only the policy's globals."""
    return restricted_load(io.BytesIO(data), policy)


def _whole(stream: IO[bytes], obj: Any) -> Any:
    if stream.read(1):
        raise UnsafePickle("the file has bytes after the end of its pickle, which no model "
                           "file has; refused.")
    return obj


def restricted_load(stream: IO[bytes], policy: GlobalPolicy) -> Any:
    """The object of a whole pickle file (nothing after its STOP), restricted by `policy`."""
    try:
        return _whole(stream, RestrictedUnpickler(stream, policy).load())
    except UnsafePickle:
        raise
    except (pickle.UnpicklingError, EOFError) as exc:
        raise UnsafePickle(f"the file is not a readable pickle file ({exc}).") from exc


def restricted_joblib_load(stream: IO[bytes], policy: GlobalPolicy) -> Any:
    """joblib.load, compressed formats included, admitting only the policy's globals."""
    global _joblib_class
    if _joblib_class is None:
        _joblib_class = _joblib_unpickler_class()
    with container.open_joblib(stream) as raw:
        try:
            return _whole(raw, _joblib_class(raw, policy).load())
        except UnsafePickle:
            raise
        except (pickle.UnpicklingError, EOFError) as exc:
            raise UnsafePickle(f"the file is not a readable joblib file ({exc}).") from exc
