"""The registry's words: one enum per concept. No Django here.

Pure modules (gates, importing, the dashboard, a CLI) compare with these enums, and
``models_app.choices`` hands the same classes to Django fields and serializers, so a stage
or a direction is spelled in one place. :class:`Vocabulary` answers ``.choices``,
``.values`` and ``.labels`` as Django's ``TextChoices`` does, without importing Django.
"""

from __future__ import annotations

from enum import EnumType, StrEnum
from typing import Self, cast


class _VocabularyType(EnumType):
    def _members(cls) -> list[Vocabulary]:
        return cast("list[Vocabulary]", list(cls))

    @property
    def values(cls) -> list[str]:
        return [member.value for member in cls._members()]

    @property
    def labels(cls) -> list[str]:
        return [member.label for member in cls._members()]

    @property
    def choices(cls) -> list[tuple[str, str]]:
        """(value, label) pairs, the shape Django's ``choices=`` takes."""
        return [(member.value, member.label) for member in cls._members()]


class Vocabulary(StrEnum, metaclass=_VocabularyType):
    """A string enum; a member may carry a label: ``NAME = "value", "label"``.

    Without a label, the label is the name in title case, as Django derives it, so the
    choices stored in migrations do not change.
    """

    _value_: str
    _label: str

    def __new__(cls, value: str, label: str | None = None) -> Self:
        member = str.__new__(cls, value)
        member._value_ = value
        member._label = label or ""
        return member

    @property
    def label(self) -> str:
        return self._label or self.name.replace("_", " ").title()


class Stage(Vocabulary):
    DRAFT = "draft"
    STAGING = "staging"
    PRODUCTION = "production"
    ARCHIVED = "archived"
    DEPRECATED = "deprecated"


class Direction(Vocabulary):
    """Which way a metric is better, for gates, best versions and A/B tests alike."""

    HIGHER = "higher"  # higher is better, e.g. accuracy
    LOWER = "lower"  # lower is better, e.g. prediction error

    @property
    def sign(self) -> int:
        """+1 when higher is better, -1 when lower is: ``sign * effect > 0`` is an improvement."""
        return 1 if self is Direction.HIGHER else -1

    @property
    def extremum(self) -> str:
        """The tracking API's word for this direction: ``max`` or ``min``."""
        return "max" if self is Direction.HIGHER else "min"

    @classmethod
    def from_extremum(cls, word: str) -> Direction:
        """The direction the tracking API's ``max`` or ``min`` names; ValueError otherwise."""
        for direction in cls:
            if direction.extremum == word:
                return direction
        raise ValueError(f"direction is {word!r}; use max or min")


class Framework(Vocabulary):
    SKLEARN = "sklearn"
    LIGHTGBM = "lightgbm"
    XGBOOST = "xgboost"
    PYTORCH = "pytorch"
    TENSORFLOW = "tensorflow"
    ONNX = "onnx"
    CUSTOM = "custom"


class ArtifactFormat(Vocabulary):
    PICKLE = "pickle"
    JOBLIB = "joblib"
    SKOPS = "skops"
    ONNX = "onnx"


class LoadCheckStatus(Vocabulary):
    PENDING = "pending"
    PASSED = "passed"
    FAILED = "failed"


class Bump(Vocabulary):
    MAJOR = "major"
    MINOR = "minor"
    PATCH = "patch"


PICKLED_FORMATS = (ArtifactFormat.PICKLE, ArtifactFormat.JOBLIB)
ARTIFACT_EXTENSIONS = {"pkl": ArtifactFormat.PICKLE, "pickle": ArtifactFormat.PICKLE,
                       "joblib": ArtifactFormat.JOBLIB, "skops": ArtifactFormat.SKOPS,
                       "onnx": ArtifactFormat.ONNX}


def format_from_name(filename: str) -> str:
    """The artifact format a file's extension names ("" when none does)."""
    extension = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    return ARTIFACT_EXTENSIONS.get(extension, "")


ARTIFACT_FILENAMES = {
    ArtifactFormat.PICKLE: "model.pkl",
    ArtifactFormat.JOBLIB: "model.joblib",
    ArtifactFormat.SKOPS: "model.skops",
    ArtifactFormat.ONNX: "model.onnx",
}
