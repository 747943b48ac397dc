"""Choices of the registry. The words pure code shares are enums of models_app.vocabulary,
re-exported here so that models, serializers and filters take ``Stage.choices`` from one
place; the choices only Django uses are TextChoices."""

from __future__ import annotations

from django.db import models

from models_app.vocabulary import (
    ARTIFACT_FILENAMES,
    PICKLED_FORMATS,
    ArtifactFormat,
    Bump,
    Direction,
    Framework,
    LoadCheckStatus,
    Stage,
)

__all__ = [
    "ARTIFACT_FILENAMES",
    "PICKLED_FORMATS",
    "ArtifactFormat",
    "Bump",
    "Direction",
    "Framework",
    "LoadCheckStatus",
    "PromotionRequestStatus",
    "ServingInput",
    "Stage",
]


class ServingInput(models.TextChoices):
    DATAFRAME = "dataframe"
    NUMPY = "numpy"


class PromotionRequestStatus(models.TextChoices):
    PENDING = "pending"
    APPROVED = "approved"
    REFUSED = "refused"
    WITHDRAWN = "withdrawn"
