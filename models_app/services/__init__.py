"""Every write workflow of the registry. Import from here."""

from models_app.services.importing import ImportResult, version_import
from models_app.services.lifecycle import (
    available_moves,
    can_promote,
    model_rollback,
    production_stack,
    release_managers,
    system_user,
    version_gate_report,
    version_promote,
    version_transition,
    versions_deprecate,
)
from models_app.services.loadcheck import (
    evaluation_dataset_register,
    version_load_check_record,
    version_load_check_request,
)
from models_app.services.registration import (
    model_create,
    model_update,
    version_metadata,
    version_register,
    version_register_from_path,
    version_verify_artifact,
)

__all__ = [
    "ImportResult",
    "available_moves",
    "evaluation_dataset_register",
    "can_promote",
    "model_create",
    "model_rollback",
    "model_update",
    "production_stack",
    "release_managers",
    "system_user",
    "version_gate_report",
    "version_import",
    "version_load_check_record",
    "version_load_check_request",
    "version_metadata",
    "version_promote",
    "version_register",
    "version_register_from_path",
    "version_transition",
    "version_verify_artifact",
    "versions_deprecate",
]
