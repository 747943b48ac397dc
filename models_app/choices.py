from django.db import models


class Framework(models.TextChoices):
    SKLEARN = "sklearn"
    LIGHTGBM = "lightgbm"
    XGBOOST = "xgboost"
    PYTORCH = "pytorch"
    TENSORFLOW = "tensorflow"
    ONNX = "onnx"
    CUSTOM = "custom"


class ArtifactFormat(models.TextChoices):
    PICKLE = "pickle"
    JOBLIB = "joblib"
    SKOPS = "skops"
    ONNX = "onnx"


class Stage(models.TextChoices):
    DRAFT = "draft"
    STAGING = "staging"
    PRODUCTION = "production"
    ARCHIVED = "archived"
    DEPRECATED = "deprecated"


class ServingInput(models.TextChoices):
    DATAFRAME = "dataframe"
    NUMPY = "numpy"


class LoadCheckStatus(models.TextChoices):
    PENDING = "pending"
    PASSED = "passed"
    FAILED = "failed"


class Direction(models.TextChoices):
    HIGHER = "higher"
    LOWER = "lower"


class Bump(models.TextChoices):
    MAJOR = "major"
    MINOR = "minor"
    PATCH = "patch"


PICKLED_FORMATS = (ArtifactFormat.PICKLE, ArtifactFormat.JOBLIB)
ARTIFACT_FILENAMES = {
    ArtifactFormat.PICKLE: "model.pkl",
    ArtifactFormat.JOBLIB: "model.joblib",
    ArtifactFormat.SKOPS: "model.skops",
    ArtifactFormat.ONNX: "model.onnx",
}


class PromotionRequestStatus(models.TextChoices):
    PENDING = "pending"
    APPROVED = "approved"
    REFUSED = "refused"
    WITHDRAWN = "withdrawn"
