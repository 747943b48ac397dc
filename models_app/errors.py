from axion_registry.errors import (
    Conflict,
    DomainError,
    InvalidInput,
    NotFound,
    PermissionRefused,
    TooLarge,
)


class ModelNotFound(NotFound):
    code = "model_not_found"


class VersionNotFound(NotFound):
    code = "version_not_found"


class InvalidVersion(InvalidInput):
    code = "invalid_version"


class InvalidMetadata(InvalidInput):
    code = "invalid_metadata"


class NotAnUpload(DomainError):
    status = 415
    code = "unsupported_media_type"


class MissingArtifact(InvalidInput):
    code = "missing_artifact"


class DisallowedPickle(InvalidInput):
    code = "disallowed_pickle"


class ArtifactTooLarge(TooLarge):
    code = "artifact_too_large"


class DuplicateVersion(Conflict):
    code = "duplicate_version"


class DuplicateModel(Conflict):
    code = "duplicate_model"


class TransitionRefused(Conflict):
    code = "transition_refused"


class GateRefused(Conflict):
    code = "gate_refused"


class RollbackRefused(Conflict):
    code = "rollback_refused"


class ArtifactCorrupted(Conflict):
    code = "artifact_corrupted"


class PromotionNotPermitted(PermissionRefused):
    code = "promotion_not_permitted"


class DuplicateDataset(Conflict):
    code = "duplicate_dataset"
