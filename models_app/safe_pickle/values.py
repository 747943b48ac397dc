"""The values the walker tracks on its simulated stack, and the few it turns back into real
ones: a joblib array wrapper's state (its dtype rebuilt from literals, as numpy pickles it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from models_app.safe_pickle.policy import UnsafePickle, canonical_global

ARRAY_WRAPPER = ("joblib.numpy_pickle", "NumpyArrayWrapper")
RECONSTRUCTOR = ("copyreg", "_reconstructor")
ARRAY_CLASSES = {("numpy", "ndarray"): np.ndarray, ("numpy", "matrix"): np.matrix}


class Opaque:
    """A value the walk does not track (hashable by identity, like most unpickled objects)."""


@dataclass(eq=False)
class GlobalRef:
    module: str
    name: str


@dataclass(eq=False)
class Made:
    """An object built by REDUCE, NEWOBJ, OBJ or INST; BUILD's state is merged into `state`."""

    callable_: Any
    args: Any
    state: Any = None
    wrapper: bool = False
    built: dict = field(default_factory=dict)


def _literal_dtype(value: Any) -> np.dtype:
    if isinstance(value, np.dtype):
        return value
    if not (isinstance(value, Made) and isinstance(value.callable_, GlobalRef)
            and canonical_global(value.callable_.module, value.callable_.name)
            == ("numpy", "dtype") and isinstance(value.args, tuple)
            and all(isinstance(a, str | bool) for a in value.args)):
        raise UnsafePickle("a joblib array wrapper's dtype is not written as numpy writes it.")
    dtype = np.dtype(*value.args)
    if value.state is not None:
        dtype.__setstate__(_literal(value.state))  # type: ignore[attr-defined]
    return dtype


def _literal(value: Any) -> Any:
    if (isinstance(value, Made) and isinstance(value.callable_, GlobalRef)
            and canonical_global(value.callable_.module, value.callable_.name)
            == ("_codecs", "encode") and isinstance(value.args, tuple) and len(value.args) == 2
            and isinstance(value.args[0], str) and value.args[1] == "latin1"):
        return value.args[0].encode("latin1")  # how protocol 2 writes bytes
    if isinstance(value, Made):
        return _literal_dtype(value)
    if isinstance(value, tuple):
        return tuple(_literal(v) for v in value)
    if isinstance(value, dict):
        return {k: _literal(v) for k, v in value.items()}
    if value is None or isinstance(value, str | bytes | int | float):
        return value
    raise UnsafePickle("a joblib array wrapper's dtype is not written as numpy writes it.")


def array_state(built: dict) -> dict[str, Any]:
    """A NumpyArrayWrapper's state as real values (the checks are container's)."""
    state = dict(built)
    subclass = state.get("subclass")
    state["subclass"] = (ARRAY_CLASSES.get(canonical_global(subclass.module, subclass.name))
                         if isinstance(subclass, GlobalRef) else None)
    try:
        state["dtype"] = _literal_dtype(state.get("dtype"))
    except (TypeError, ValueError) as exc:
        raise UnsafePickle(f"a joblib array wrapper's dtype is not valid ({exc}).") from exc
    return state
