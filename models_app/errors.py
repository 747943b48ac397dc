from axion_registry.errors import (
    Conflict,
    DomainError,
    InvalidInput,
    NotFound,
    PermissionRefused,
    TooLarge,
    Unavailable,
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


class PromotionNotPermitted(PermissionRefused):
    code = "promotion_not_permitted"


class StorageUnavailable(Unavailable):
    """The artifact storage (a folder, a bucket) refused or did not answer."""

    code = "storage_unavailable"


class UnreadableArtifact(InvalidInput):
    code = "unreadable_artifact"


class DisallowedTypes(InvalidInput):
    code = "disallowed_types"


class ExternalData(InvalidInput):
    code = "onnx_external_data"


class SignatureRequired(InvalidInput):
    code = "signature_required"


class SignatureInvalid(InvalidInput):
    code = "signature_invalid"


class SigningNotPermitted(PermissionRefused):
    code = "signing_not_permitted"


class RegistrationNotPermitted(PermissionRefused):
    code = "registration_not_permitted"


class ModelChangeNotPermitted(PermissionRefused):
    code = "model_change_not_permitted"


class TransitionNotPermitted(PermissionRefused):
    code = "transition_not_permitted"


class FourEyesRequired(Conflict):
    code = "four_eyes_required"


class FourEyesViolation(PermissionRefused):
    code = "four_eyes_violation"


class PromotionRequestNotFound(NotFound):
    code = "promotion_request_not_found"


class PromotionRequestClosed(Conflict):
    code = "promotion_request_closed"


class OwnerNotFound(NotFound):
    code = "user_not_found"


class DuplicateDataset(Conflict):
    code = "duplicate_dataset"


class AliasNotFound(NotFound):
    code = "alias_not_found"


class InvalidAlias(InvalidInput):
    code = "invalid_alias"


class AliasNotPermitted(PermissionRefused):
    code = "alias_not_permitted"
