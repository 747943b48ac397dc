"""The walker and the restricted unpicklers, on crafted and on real files: what the walker
reads is what the unpickler would import, every joblib layout is followed to its end, and
anything not a whole, readable pickle or joblib file is refused."""

from __future__ import annotations

import io
import pickle
import random
import struct

import joblib
import numpy as np
import pandas as pd
import pytest

from models_app.safe_pickle import (
    GlobalPolicy,
    UnsafePickle,
    check_file,
    load_file,
    restricted_loads,
    walk_joblib,
    walk_pickle,
)
from models_app.safe_pickle.policy import canonical_global

P = pickle
POLICY = GlobalPolicy()


def joblib_bytes(obj, **kwargs) -> bytes:
    buffer = io.BytesIO()
    joblib.dump(obj, buffer, **kwargs)
    return buffer.getvalue()


def seen(data: bytes, fmt: str = "pickle") -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    walk = walk_joblib if fmt == "joblib" else walk_pickle
    walk(io.BytesIO(data), lambda m, n: found.add(canonical_global(m, n)))
    return found


def refusal(data: bytes, fmt: str = "pickle") -> str:
    with pytest.raises(UnsafePickle) as refused:
        check_file(io.BytesIO(data), fmt, POLICY)
    return refused.value.reason


@pytest.fixture(scope="module")
def model():
    from sklearn.ensemble import RandomForestClassifier

    rng = np.random.default_rng(5)
    x = rng.normal(size=(60, 3))
    return RandomForestClassifier(n_estimators=3, random_state=0).fit(x, x[:, 0] > 0)


def test_it_refuses_every_truncation_of_a_real_pickle(model):
    data = pickle.dumps(model, protocol=4)
    step = max(1, len(data) // 400)
    for cut in list(range(0, len(data) - 1, step)) + [len(data) - 1]:
        assert "not a readable pickle/joblib file" in refusal(data[:cut]), cut


def test_it_refuses_every_truncation_of_a_real_joblib_file(model):
    data = joblib_bytes(model)
    step = max(1, len(data) // 300)
    for cut in range(0, len(data) - 1, step):
        reason = refusal(data[:cut], "joblib")
        assert "not a readable pickle/joblib file" in reason, (cut, reason)


@pytest.mark.parametrize("content", [
    b"", b"hello, this is a text file\n", b"\x00" * 64, b"PK\x03\x04 a zip file",
    b"\x80\x06" + pickle.dumps(1)[2:], b"\x80\x04\xff.",
    bytes(random.Random(3).randrange(256) for _ in range(4096)),
])
def test_it_refuses_text_random_bytes_and_unknown_opcodes(content):
    reason = refusal(content)
    assert "not a readable pickle/joblib file" in reason or "never needs" in reason


def test_it_refuses_bytes_after_stop_at_upload_and_at_load(model):
    data = pickle.dumps(model) + b"\n"
    assert "bytes after the end" in refusal(data)
    with pytest.raises(UnsafePickle, match="bytes after the end"):
        restricted_loads(data, POLICY)


def test_stack_global_operands_are_tracked_through_the_memo():
    admitted = (P.PROTO + b"\x04" + P.SHORT_BINUNICODE + b"\x08builtins" + P.MEMOIZE
                + P.SHORT_BINUNICODE + b"\x03set" + P.MEMOIZE + P.POP + P.POP
                + P.BINGET + b"\x00" + P.BINGET + b"\x01" + P.STACK_GLOBAL
                + P.EMPTY_TUPLE + P.REDUCE + P.STOP)
    assert seen(admitted) == {("builtins", "set")}
    assert restricted_loads(admitted, POLICY) == set()
    swapped = admitted.replace(b"\x03set", b"\x04eval")
    assert "builtins.eval" in refusal(swapped)


def test_a_memo_slot_far_beyond_the_file_is_refused_before_anything_allocates_it():
    data = P.PROTO + b"\x04" + P.NONE + P.LONG_BINPUT + struct.pack("<I", 0xFFFF_FFF0) + P.STOP
    assert "memo slot 4294967280 after only 3 opcodes" in refusal(data)


def test_a_memo_slot_never_written_is_refused():
    data = P.PROTO + b"\x04" + P.BINGET + b"\x07" + P.STOP
    assert "memo slot 7" in refusal(data)


@pytest.mark.parametrize("opcode,reason", [
    (P.PERSID + b"0\n", "PERSID"), (P.NONE + P.BINPERSID, "BINPERSID"),
    (P.EXT1 + b"\x01", "EXT1"), (P.EXT2 + b"\x01\x00", "EXT2"),
    (P.EXT4 + b"\x01\x00\x00\x00", "EXT4"), (P.NEXT_BUFFER, "NEXT_BUFFER"),
    (P.NONE + P.READONLY_BUFFER, "READONLY_BUFFER"),
])
def test_opcodes_a_model_never_needs_are_refused(opcode, reason):
    assert reason in refusal(P.PROTO + b"\x05" + opcode + P.STOP)


def test_protocol_0_and_1_pickles_of_real_objects_are_walked_and_loaded(model):
    for protocol in (0, 1):
        data = pickle.dumps({"rows": [1, 2.5, "x"], "when": pd.Timestamp("2024-01-02")},
                            protocol=protocol)
        assert ("copyreg", "_reconstructor") in seen(data) or seen(data)
        assert restricted_loads(data, POLICY) == pickle.loads(data)


def test_the_walker_follows_a_joblib_file_past_every_array(model):
    arrays = {"f8": np.arange(10.0), "fortran": np.asfortranarray(np.ones((3, 5))),
              "empty": np.zeros((0, 4)), "scalar": np.array(3.5), "u1": np.arange(7, dtype="u1"),
              "text": np.array(["a", "bcd"]), "when": np.array(["2024-01-01"], "M8[ns]"),
              "record": np.zeros(3, dtype=[("a", "<f8"), ("b", "<i4")]),
              "big": np.arange(3, dtype=">i8"), "objects": np.array([1, "x", None], object)}
    obj = {**arrays, "model": model, "tail": ("last", 1)}
    for kwargs in ({}, {"compress": ("zlib", 3)}, {"compress": ("xz", 1)}, {"protocol": 2}):
        data = joblib_bytes(obj, **kwargs)
        report = check_file(io.BytesIO(data), "joblib", POLICY)
        assert report.arrays >= len(arrays), kwargs
        loaded = load_file(io.BytesIO(data), "joblib", POLICY)
        plain = joblib.load(io.BytesIO(data))
        assert pickle.dumps(loaded, 4) == pickle.dumps(plain, 4)
        assert all(type(loaded[k]) is np.ndarray for k in arrays)


def test_a_joblib_array_that_claims_more_bytes_than_the_file_has_is_refused():
    data = joblib_bytes([np.arange(100.0)])
    assert "truncated" in refusal(data[:-8], "joblib")
    with pytest.raises(UnsafePickle, match="not a readable joblib file"):
        load_file(io.BytesIO(data[:-8]), "joblib", POLICY)


def test_a_joblib_array_wrapper_with_a_forged_dtype_or_class_is_refused():
    data = joblib_bytes([np.arange(4, dtype="u1")])
    forged = data.replace(b"\x8c\x07ndarray", b"\x8c\x07memmap_")
    assert "memmap_" in refusal(forged, "joblib")
    with pytest.raises(UnsafePickle):
        load_file(io.BytesIO(forged), "joblib", POLICY)


def test_joblib_object_arrays_unpickle_through_the_restricted_unpickler():
    class Shell:
        def __reduce__(self):
            import os

            return os.system, ("true",)

    data = joblib_bytes({"ok": np.array([1, "a"], object), "bad": np.array([Shell()], object)})
    assert "system" in refusal(data, "joblib")
    with pytest.raises(UnsafePickle, match="system"):
        load_file(io.BytesIO(data), "joblib", POLICY)


def test_the_old_joblib_format_is_refused():
    assert "pre-0.10 format" in refusal(b"ZF0x00000010" + b"\x00" * 16, "joblib")


def test_a_large_joblib_file_is_walked_in_bounded_memory():
    import tracemalloc

    data = joblib_bytes({"weights": np.zeros(12_000_000, dtype="f8")})  # 96 MB
    tracemalloc.start()
    report = check_file(io.BytesIO(data), "joblib", POLICY)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert report.array_bytes == 96_000_000
    assert peak < 8 * 1024 * 1024


def _mutants(data: bytes, count: int, seed: int):
    rng = random.Random(seed)
    for _ in range(count):
        mutant = bytearray(data)
        for _ in range(rng.randint(1, 3)):
            choice = rng.random()
            at = rng.randrange(len(mutant))
            if choice < 0.5:
                mutant[at] = rng.randrange(256)
            elif choice < 0.75:
                del mutant[at:at + rng.randint(1, 4)]
            else:
                mutant[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 4)))
        yield bytes(mutant)


class _Recorder(GlobalPolicy):
    """Records every global the unpickler asks for; admits only the allowlist's."""

    def __init__(self):
        super().__init__()
        self.asked: set[tuple[str, str]] = set()

    def resolve(self, module, name):
        self.asked.add(canonical_global(module, name))
        return super().resolve(module, name)


@pytest.mark.parametrize("fmt,seed", [("pickle", 1), ("pickle", 2), ("joblib", 3)])
def test_the_walker_never_misses_a_global_the_unpickler_would_import(model, fmt, seed):
    """Mutated real files: whenever the walker admits one, every global the restricted
    unpickler then asks for was seen (and checked) by the walker."""
    base = ({"m": model, "s": pd.Series([1.0, 2.0]), "g": np.random.default_rng(1)})
    data = pickle.dumps(base, protocol=4) if fmt == "pickle" else joblib_bytes(base)
    admitted = 0
    for mutant in _mutants(data, 800, seed):
        try:
            walked = seen(mutant, fmt)
        except UnsafePickle:
            continue
        admitted += 1
        recorder = _Recorder()
        try:
            load_file(io.BytesIO(mutant), fmt, recorder)
        except Exception:  # noqa: BLE001 - a broken mutant may fail in any way
            pass
        assert recorder.asked <= walked, recorder.asked - walked
    assert admitted > 0


def test_an_arrow_array_whose_offsets_run_past_its_buffer_is_refused_at_load():
    """pyarrow would hand back the memory after the buffer; the loader validates first."""
    import pyarrow as pa
    from pyarrow.lib import _restore_array

    index = pd.Index(["alpha", "beta"], dtype="string[pyarrow]")
    data = pickle.dumps(index)
    assert pickle.loads(data).equals(load_file(io.BytesIO(data), "pickle", POLICY))
    offsets = pa.py_buffer(struct.pack("<3i", 0, 2, 100_000))
    overread = _restore_array((pa.string(), 2, 0, 0, [None, offsets, pa.py_buffer(b"abcd")],
                               [], None))
    forged = pickle.dumps({"classes_": overread})
    assert check_file(io.BytesIO(forged), "pickle", POLICY)  # every global is allowed
    with pytest.raises(UnsafePickle, match="Arrow array whose buffers do not match"):
        load_file(io.BytesIO(forged), "pickle", POLICY)
