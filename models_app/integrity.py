"""Artifact integrity: streaming sha256 and the pickle import scan. No Django here."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import IO

from picklescan.scanner import scan_pickle_bytes

CHUNK = 1024 * 1024

# Harmless standard-library globals that numpy and scikit-learn pickles reference.
SAFE_STDLIB_GLOBALS = frozenset(
    {
        ("builtins", "slice"),
        ("builtins", "set"),
        ("builtins", "frozenset"),
        ("builtins", "complex"),
        ("builtins", "bytearray"),
        ("builtins", "range"),
        ("builtins", "object"),
        ("collections", "OrderedDict"),
        ("collections", "defaultdict"),
        ("copyreg", "_reconstructor"),
        ("_codecs", "encode"),
        ("datetime", "datetime"),
        ("datetime", "date"),
        ("datetime", "timedelta"),
        ("datetime", "timezone"),
        ("decimal", "Decimal"),
        ("joblib.numpy_pickle", "NumpyArrayWrapper"),
        ("joblib.numpy_pickle", "NDArrayWrapper"),
    }
)


def sha256_stream(stream: IO[bytes], chunk_size: int = CHUNK) -> tuple[str, int]:
    """The hex sha256 and the size of a stream, read in chunks from its current position."""
    digest = hashlib.sha256()
    size = 0
    while chunk := stream.read(chunk_size):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


@dataclass(frozen=True)
class PickleScan:
    imports: tuple[str, ...]
    disallowed: tuple[str, ...]
    error: str | None = None

    @property
    def ok(self) -> bool:
        return not self.disallowed and self.error is None


def _allowed(module: str, name: str, prefixes: Iterable[str]) -> bool:
    if (module, name) in SAFE_STDLIB_GLOBALS:
        return True
    return any(module == prefix or module.startswith(prefix + ".") for prefix in prefixes)


def scan_pickle(stream: IO[bytes], allowed_prefixes: Iterable[str]) -> PickleScan:
    """Every global a pickle (or joblib file) imports, and those outside the allowlist.

    The scan reads opcodes only; nothing is unpickled. A file that is not a readable pickle
    (a compressed joblib file, say) is refused rather than trusted.
    """
    prefixes = tuple(allowed_prefixes)
    result = scan_pickle_bytes(stream, "artifact")
    imports = sorted({f"{g.module}.{g.name}" for g in result.globals})
    disallowed = sorted(
        {f"{g.module}.{g.name}" for g in result.globals if not _allowed(g.module, g.name, prefixes)}
    )
    error = None
    if result.scan_err and not result.globals:
        error = "the file could not be read as a pickle (is it compressed or corrupted?)"
    return PickleScan(imports=tuple(imports), disallowed=tuple(disallowed), error=error)
