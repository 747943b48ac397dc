"""joblib's file container: compression detected by magic bytes, streamed; array wrappers checked.

The same detection as joblib.load, so the walker and the loader always read the same bytes.
"""

from __future__ import annotations

import bz2
import contextlib
import io
import lzma
from collections.abc import Iterator
from typing import IO, Any

import numpy as np

from models_app.safe_pickle.policy import UnsafePickle

BUFFER = 1024 * 1024
# (format, magic bytes) in joblib's order of detection.
COMPRESSIONS = (
    ("zlib", b"\x78"),
    ("gzip", b"\x1f\x8b"),
    ("bz2", b"BZ"),
    ("lzma", b"\x5d\x00"),
    ("xz", b"\xfd\x37\x7a\x58\x5a"),
    ("lz4", b"\x04\x22\x4d\x18"),
)
OLD_JOBLIB_PREFIX = b"ZF"  # joblib <= 0.9.3: arrays in companion files, never read


def _peek(stream: IO[bytes], n: int) -> bytes:
    start = stream.tell()
    head = stream.read(n)
    stream.seek(start)
    return head


def compression_of(stream: IO[bytes]) -> str | None:
    """joblib's compression of a seekable stream, or None for a raw joblib (or pickle) file."""
    head = _peek(stream, 8)
    if head.startswith(OLD_JOBLIB_PREFIX):
        raise UnsafePickle("the file is in joblib's pre-0.10 format, whose arrays live in "
                           "separate files; save it again with a current joblib.")
    for name, magic in COMPRESSIONS:
        if head.startswith(magic):
            return name
    return None


def _decompressor(name: str, stream: IO[bytes]) -> IO[bytes]:
    if name in ("zlib", "gzip"):
        from joblib.compressor import BinaryGzipFile, BinaryZlibFile

        return (BinaryZlibFile if name == "zlib" else BinaryGzipFile)(stream, "rb")
    if name == "bz2":
        return bz2.BZ2File(stream, "rb")
    if name in ("lzma", "xz"):
        return lzma.LZMAFile(stream, "rb")
    try:
        from lz4.frame import LZ4FrameFile
    except ImportError as exc:
        raise UnsafePickle("the file is lz4-compressed and lz4 is not installed here; "
                           "save it with another compression.") from exc
    return LZ4FrameFile(stream, "rb")


@contextlib.contextmanager
def open_joblib(stream: IO[bytes]) -> Iterator[IO[bytes]]:
    """The pickle bytes of a joblib file, decompressed as they are read."""
    name = compression_of(stream)
    if name is None:
        yield stream
        return
    with _decompressor(name, stream) as inner, io.BufferedReader(inner, BUFFER) as buffered:  # type: ignore[type-var]
        yield buffered


def check_array_wrapper(state: dict[str, Any]) -> None:
    """A NumpyArrayWrapper's attributes, as joblib itself writes them; UnsafePickle otherwise."""
    dtype, shape, order = state.get("dtype"), state.get("shape"), state.get("order")
    if state.get("subclass") not in (np.ndarray, np.matrix):
        raise UnsafePickle("a joblib array wrapper names an array class other than "
                           "numpy.ndarray or numpy.matrix.")
    if not isinstance(dtype, np.dtype):
        raise UnsafePickle("a joblib array wrapper has no numpy dtype.")
    if type(shape) is not tuple or (shape and (
            {type(n) for n in shape} != {int} or min(shape) < 0)):  # exactly int: no bools
        raise UnsafePickle("a joblib array wrapper's shape is not a tuple of sizes.")
    if order not in ("C", "F"):
        raise UnsafePickle("a joblib array wrapper's order is neither C nor F.")
    alignment = state.get("numpy_array_alignment_bytes")
    if alignment is not None and (type(alignment) is not int or not 0 < alignment < 256):
        raise UnsafePickle("a joblib array wrapper's alignment is not a byte count.")


def array_nbytes(state: dict[str, Any]) -> int:
    count = 1
    for n in state["shape"]:
        count *= n
    return count * state["dtype"].itemsize
