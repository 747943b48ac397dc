"""Pytest fixtures over the hostile corpus, imported by the test modules that use them."""

from __future__ import annotations

import copyreg
import hashlib
import io
import tempfile
import time
from functools import cache
from pathlib import Path

import pytest

from models_app.tests.hostile import HostileFile, build_corpus

PLATFORM_PACKAGE = "models_app.tests.platform"


@cache
def _corpus() -> tuple[Path, tuple[HostileFile, ...]]:
    directory = Path(tempfile.mkdtemp(prefix="axion-hostile-"))
    marker = directory / "PWNED"
    return marker, tuple(build_corpus(directory / "files", marker))


@pytest.fixture
def hostile_corpus(settings):
    """Every builder's files; the platform test package admitted (so its own refusals are
    what is tested), an EXT code registered as a victim process might; the marker checked
    after each test, long enough for an asynchronous Popen to have landed."""
    marker, files = _corpus()
    settings.PLATFORM_MODEL_PACKAGE = [*settings.PLATFORM_MODEL_PACKAGE, PLATFORM_PACKAGE]
    from models_app.tests.hostile.pickles import EXT_CODE

    copyreg.add_extension("os", "system", EXT_CODE)
    try:
        yield marker, files
    finally:
        copyreg.remove_extension("os", "system", EXT_CODE)
    time.sleep(0.3)
    assert not marker.exists(), "a hostile payload ran"


def force_into_storage(model, hostile: HostileFile, version: str, **fields):
    """A version row made through the ORM behind the registry's back, its sha256 right."""
    from models_app import artifacts
    from models_app.choices import ARTIFACT_FILENAMES
    from models_app.models import ModelVersion

    data = hostile.path.read_bytes()
    major, minor, patch = (int(p) for p in version.split("."))
    path = f"{artifacts.version_folder(model.name, version)}/" \
           f"{ARTIFACT_FILENAMES[hostile.artifact_format]}"
    artifacts.artifact_save(path, io.BytesIO(data))
    return ModelVersion.objects.create(
        model=model, version=version, major=major,
        sequence=model.versions.count() + 1, minor=minor, patch=patch,
        framework=hostile.framework, artifact_format=hostile.artifact_format,
        artifact_path=path, artifact_sha256=hashlib.sha256(data).hexdigest(),
        artifact_size=len(data), metrics={"auc": 0.9}, **fields,
    )
