"""The hostile corpus: model files an attacker would upload, each built fresh by a builder.

Every module in this package that defines ``build(directory, marker)`` contributes files. A
payload, if it ever ran, would create ``marker`` (or leak a file's bytes); the tests assert
each file is refused at upload and at load and that the marker never appears. Build the whole
corpus on disk with ``python scripts/hostile_corpus.py DIR``.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class HostileFile:
    name: str  # unique, e.g. "pickle-dotted-name-os-system"
    artifact_format: str  # pickle, joblib, skops, onnx
    framework: str  # what the attacker declares (sklearn, custom, onnx, ...)
    path: Path
    cause: str  # the weakness it probes, one sentence


def build_corpus(directory: Path, marker: Path) -> list[HostileFile]:
    """Every builder's files, written under `directory`; names are unique."""
    directory.mkdir(parents=True, exist_ok=True)
    files: list[HostileFile] = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        build = getattr(module, "build", None)
        if build is not None:
            files.extend(build(directory, marker))
    names = [f.name for f in files]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise ValueError(f"hostile corpus names are not unique: {sorted(duplicates)}")
    return files
