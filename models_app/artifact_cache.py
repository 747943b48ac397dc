"""A host's artifact cache: a folder of files named by their sha256, shared by every process
on the host, bounded in bytes. No Django here.

    root/sha256/<hex>       an artifact, written once (rename into place), never changed
    root/locks/<hex>.lock   flock'ed while one process fills that entry; the others wait
    root/tmp/               fills in progress (a crashed fill's leftover goes on the next fill)
    root/trim.lock          flock'ed while one process trims the folder to its bound

Every use hashes the file again before handing it out (a disk bit flip, a hand edit, a torn
copy are refills, never loads); a fill is hashed while it is written, so a fresh entry is
not read twice. Use (a hit or a fill) touches the file's mtime; trimming removes the least
recently used entries until the folder is within its bound, never the one just used.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, BinaryIO

CHUNK = 1024 * 1024
_SHA256 = re.compile(r"[0-9a-f]{64}")


class ArtifactMismatch(Exception):
    """The bytes a fill wrote do not hash to the sha256 they were asked for."""

    def __init__(self, expected: str, actual: str) -> None:
        super().__init__(f"expected sha256 {expected}, the stored file hashes to {actual}")
        self.expected = expected
        self.actual = actual


@dataclass
class CachedArtifact:
    """An open, verified cache entry (read from its start); `filled` when this call
    downloaded it."""

    file: BinaryIO
    path: Path
    size: int
    filled: bool


class HashingWriter:
    """A write-only, non-seekable file that hashes what passes through it (boto3 then writes
    a download's parts in order)."""

    def __init__(self, target: BinaryIO) -> None:
        self._target = target
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        self.size += len(data)
        return self._target.write(data)

    def seekable(self) -> bool:
        return False

    def writable(self) -> bool:
        return True

    def flush(self) -> None:
        self._target.flush()


def sha256_file(stream: IO[bytes]) -> str:
    digest = hashlib.sha256()
    while chunk := stream.read(CHUNK):
        digest.update(chunk)
    return digest.hexdigest()


@contextlib.contextmanager
def _flocked(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


@dataclass(frozen=True)
class ArtifactCache:
    root: Path
    max_bytes: int

    def entry(self, sha256: str) -> Path:
        return self.root / "sha256" / sha256

    def open(self, sha256: str, fill: Callable[[IO[bytes]], None]) -> CachedArtifact:
        """The artifact with this sha256, from the cache or, when absent or damaged, from
        `fill` (which writes its bytes to the file it is given). Of the processes asking
        for one absent artifact at once, one fills and the others wait for its entry.
        Raises ArtifactMismatch when the filled bytes hash to another sha256 (nothing is
        kept), and whatever `fill` raises."""
        if not _SHA256.fullmatch(sha256):
            raise ValueError(f"not a sha256: {sha256!r}")
        for folder in ("sha256", "locks", "tmp"):
            (self.root / folder).mkdir(parents=True, exist_ok=True)
        cached = self._open_verified(sha256)
        if cached is None:
            with _flocked(self.root / "locks" / f"{sha256}.lock"):
                cached = self._open_verified(sha256) or self._fill(sha256, fill)
            self.trim(keep=sha256)
        return cached

    def _open_verified(self, sha256: str) -> CachedArtifact | None:
        path = self.entry(sha256)
        try:
            handle = path.open("rb")
        except FileNotFoundError:
            return None
        if sha256_file(handle) != sha256:
            with contextlib.suppress(FileNotFoundError):
                if os.stat(path).st_ino == os.fstat(handle.fileno()).st_ino:
                    path.unlink()  # damaged: the caller fills it again
            handle.close()
            return None
        size = handle.tell()
        handle.seek(0)
        with contextlib.suppress(FileNotFoundError):
            os.utime(path)
        return CachedArtifact(file=handle, path=path, size=size, filled=False)

    def _fill(self, sha256: str, fill: Callable[[IO[bytes]], None]) -> CachedArtifact:
        for stale in (self.root / "tmp").glob(f"{sha256}.*"):  # we hold the entry's lock
            stale.unlink(missing_ok=True)
        partial = self.root / "tmp" / f"{sha256}.{os.getpid()}.{uuid.uuid4().hex[:8]}"
        try:
            with partial.open("wb") as raw:
                writer = HashingWriter(raw)
                fill(writer)  # type: ignore[arg-type]
            actual = writer.digest.hexdigest()
            if actual != sha256:
                raise ArtifactMismatch(sha256, actual)
            os.replace(partial, self.entry(sha256))
        finally:
            partial.unlink(missing_ok=True)
        path = self.entry(sha256)
        return CachedArtifact(file=path.open("rb"), path=path, size=writer.size, filled=True)

    def usage(self) -> list[tuple[Path, int, float]]:
        """Every entry with its size and last use (mtime), least recently used first."""
        found = []
        for path in (self.root / "sha256").iterdir():
            with contextlib.suppress(FileNotFoundError):
                stat = path.stat()
                found.append((path, stat.st_size, stat.st_mtime))
        return sorted(found, key=lambda item: item[2])

    def trim(self, *, keep: str = "") -> int:
        """Remove least recently used entries until the total is within max_bytes (never
        `keep`, even when it alone is larger); the bytes removed. An entry another process
        still has open stays readable to it until closed."""
        removed = 0
        with _flocked(self.root / "trim.lock"):
            entries = self.usage()
            total = sum(size for _, size, _ in entries)
            for path, size, _ in entries:
                if total <= self.max_bytes:
                    break
                if path.name == keep:
                    continue
                path.unlink(missing_ok=True)
                total -= size
                removed += size
        return removed
