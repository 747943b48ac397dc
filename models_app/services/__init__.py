"""Every write workflow of the registry. Import from here."""

from models_app.services.aliases import alias_delete, alias_name_clean, alias_set
from models_app.services.editing import model_rename, version_update
from models_app.services.importing import ImportResult, version_import
from models_app.services.lifecycle import (
    model_rollback,
    reason_required,
    release_managers,
    system_user,
    version_promote,
    version_transition,
    versions_deprecate,
)
from models_app.services.loadcheck import (
    evaluation_dataset_register,
    version_load_check_enqueued,
    version_load_check_record,
    version_load_check_request,
)
from models_app.services.ownership import model_change_record, model_owner_add, model_owner_remove
from models_app.services.promotion_requests import (
    promotion_request_approve,
    promotion_request_file,
    promotion_request_refuse,
    promotion_request_withdraw,
)
from models_app.services.registration import (
    model_create,
    model_update,
    version_metadata,
    version_register,
    version_register_from_path,
)
from models_app.services.signing import may_change_signing, model_signing_update

__all__ = [
    "alias_delete",
    "alias_name_clean",
    "alias_set",
    "may_change_signing",
    "model_signing_update",
    "ImportResult",
    "evaluation_dataset_register",
    "model_change_record",
    "model_create",
    "model_owner_add",
    "model_owner_remove",
    "model_rename",
    "model_rollback",
    "model_update",
    "promotion_request_approve",
    "promotion_request_file",
    "promotion_request_refuse",
    "promotion_request_withdraw",
    "reason_required",
    "release_managers",
    "system_user",
    "version_import",
    "version_load_check_enqueued",
    "version_load_check_record",
    "version_load_check_request",
    "version_metadata",
    "version_promote",
    "version_register",
    "version_register_from_path",
    "version_transition",
    "version_update",
    "versions_deprecate",
]
