"""Artifact integrity: streaming sha256. No Django here.

Whether a pickle may be loaded is models_app.safe_pickle's question, not a scanner's.
"""

from __future__ import annotations

import hashlib
from typing import IO

CHUNK = 1024 * 1024


def sha256_stream(stream: IO[bytes], chunk_size: int = CHUNK) -> tuple[str, int]:
    """The hex sha256 and the size of a stream, read in chunks from its current position."""
    digest = hashlib.sha256()
    size = 0
    while chunk := stream.read(chunk_size):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size
