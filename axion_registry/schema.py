"""The OpenAPI schema as a person reads it in Swagger UI: operations grouped by resource,
each with a summary written for its users (drf-spectacular postprocessing hook)."""

from __future__ import annotations

import re
from typing import Any

# (path pattern, tag), first match wins: the more specific resource before its parent.
TAG_RULES: tuple[tuple[str, str], ...] = (
    (r"^/api/v1/models/[^/]+/rollback/$", "lifecycle"),
    (r"^/api/v1/models/[^/]+/versions/[^/]+/(transition|gates)/$", "lifecycle"),
    (r"^/api/v1/models/[^/]+/versions/[^/]+/promotion-requests/$", "promotion requests"),
    (r"^/api/v1/models/[^/]+/versions/[^/]+/load-check/$", "load checks"),
    (r"^/api/v1/models/[^/]+/datasets/$", "load checks"),
    (r"^/api/v1/models/[^/]+/versions/", "versions"),
    (r"^/api/v1/versions/", "versions"),
    (r"^/api/v1/transitions/", "lifecycle"),
    (r"^/api/v1/promotion-requests/", "promotion requests"),
    (r"^/api/v1/models/[^/]+/aliases/", "aliases"),
    (r"^/api/v1/alias-changes/", "aliases"),
    (r"^/api/v1/model-changes/", "models"),
    (r"^/api/v1/models/", "models"),
    (r"^/api/v1/experiments/", "experiments"),
    (r"^/api/v1/runs/[^/]+/(metrics|log-metric|log-batch)", "metrics"),
    (r"^/api/v1/metrics/", "metrics"),
    (r"^/api/v1/runs/[^/]+/artifacts/", "run artifacts"),
    (r"^/api/v1/runs/", "runs"),
    (r"^/api/v1/abtests/", "A/B tests"),
    (r"^/api/v1/serve/", "serving"),
    (r"^/api/v1/deployments/", "serving"),
    (r"^/api/v1/me/", "account"),
)

TAGS: list[dict[str, str]] = [
    {"name": "models", "description": "Registered models: gates, owners, signing, the audit "
                                      "trail of their settings."},
    {"name": "versions", "description": "A model's versions: register, search, compare, "
                                        "download."},
    {"name": "lifecycle", "description": "Stage moves through the gates, promotion, rollback "
                                         "and roll-forward, the audit trail."},
    {"name": "aliases", "description": "Named pointers at a model's versions (champion, "
                                       "...): set by release managers, audited, servable."},
    {"name": "promotion requests", "description": "Four-eyes promotion: one release manager "
                                                  "asks, another decides."},
    {"name": "load checks", "description": "Each version loaded and exercised by a worker; "
                                           "evaluation datasets for verified metrics."},
    {"name": "experiments", "description": "Named groups of runs."},
    {"name": "runs", "description": "Training runs: params, tags, status, lineage to "
                                    "versions."},
    {"name": "metrics", "description": "Logging metrics and reading their histories."},
    {"name": "run artifacts", "description": "Files a run produced: upload, list, download."},
    {"name": "A/B tests", "description": "Champion/challenger tests: design, traffic, "
                                         "outcomes, evidence."},
    {"name": "serving", "description": "Predictions, what each model serves, latency, "
                                       "deployments."},
    {"name": "account", "description": "Who you are and what the registry lets you do."},
]

SUMMARIES: dict[str, str] = {
    "v1_models_list": "List registered models",
    "v1_models_create": "Register a new model",
    "v1_models_retrieve": "Get a model",
    "v1_models_partial_update": "Change a model's description, tags, gates or directions",
    "v1_models_compare_retrieve": "Compare versions' metrics and hyperparameters",
    "v1_models_owners_create": "Add a co-owner",
    "v1_models_owners_destroy": "Remove a co-owner",
    "v1_models_production_at_retrieve": "Which version was in production at a time",
    "v1_models_rollback_create": "Roll back to the previous production version",
    "v1_models_signing_retrieve": "Get the signing requirement and trusted keys",
    "v1_models_signing_partial_update": "Change the signing requirement or trusted keys",
    "v1_model_changes_list": "List changes to models' settings",
    "v1_model_changes_retrieve": "Get one change to a model's settings",
    "v1_models_versions_list": "List a model's versions",
    "v1_models_versions_create": "Register a version (upload an artifact)",
    "v1_models_versions_retrieve": "Get a version",
    "v1_models_versions_latest_retrieve": "Get a model's latest version (optionally in a stage)",
    "v1_models_versions_partial_update": "Change a version's description or tags",
    "v1_models_versions_artifact_retrieve": "Download a version's artifact",
    "v1_models_versions_gates_retrieve": "Check a version against the promotion gates",
    "v1_models_versions_transition_create": "Move a version to another stage",
    "v1_models_versions_promotion_requests_create": "Request a four-eyes promotion",
    "version_import": "Import a model file or legacy folder as a version",
    "version_load_check": "Run a version's load check again",
    "evaluation_dataset_list": "List a model's evaluation datasets",
    "evaluation_dataset_create": "Add an evaluation dataset",
    "v1_versions_list": "Search versions across models",
    "v1_transitions_list": "List stage moves (the audit trail)",
    "v1_transitions_retrieve": "Get one stage move",
    "v1_promotion_requests_list": "List promotion requests",
    "v1_promotion_requests_retrieve": "Get a promotion request",
    "v1_promotion_requests_approve_create": "Approve a promotion request (promotes)",
    "v1_promotion_requests_refuse_create": "Refuse a promotion request",
    "v1_promotion_requests_withdraw_create": "Withdraw a promotion request",
    "v1_experiments_list": "List experiments",
    "v1_experiments_create": "Create an experiment",
    "v1_experiments_retrieve": "Get an experiment",
    "v1_experiments_partial_update": "Describe, tag or archive an experiment",
    "v1_experiments_best_run_retrieve": "Find an experiment's best run by a metric",
    "v1_runs_list": "Search runs",
    "v1_runs_create": "Start a run",
    "v1_runs_retrieve": "Get a run",
    "v1_runs_partial_update": "Rename a run",
    "v1_runs_end_create": "End a run",
    "v1_runs_set_tag_create": "Set run tags",
    "v1_runs_delete_tag_create": "Delete a run tag",
    "v1_runs_log_param_create": "Log run params",
    "v1_runs_compare_retrieve": "Compare runs side by side",
    "v1_runs_register_version_create": "Register a model version from a run's artifact",
    "v1_runs_log_metric_create": "Log one metric point",
    "v1_runs_log_batch_create": "Log metrics, params and tags in one request",
    "v1_runs_metrics_history_retrieve": "Get a metric's history for a run",
    "v1_metrics_history_retrieve": "Get a metric's history for several runs",
    "v1_runs_artifacts_retrieve": "List a run's artifact files",
    "v1_runs_artifacts_create": "Upload a file into a run's artifacts",
    "v1_runs_artifacts_download_retrieve": "Download a run artifact",
    "v1_abtests_list": "List A/B tests",
    "v1_abtests_create": "Design an A/B test",
    "v1_abtests_retrieve": "Get an A/B test",
    "v1_abtests_start_create": "Start or resume an A/B test",
    "v1_abtests_pause_create": "Pause an A/B test",
    "v1_abtests_conclude_create": "Conclude an A/B test by hand",
    "v1_abtests_cancel_create": "Cancel an A/B test",
    "v1_abtests_assign_retrieve": "Which arm a unit is in",
    "v1_abtests_outcomes_create": "Record outcomes",
    "v1_abtests_results_retrieve": "Get the evidence so far",
    "v1_abtests_sample_size_retrieve": "How many units a test needs",
    "v1_alias_changes_list": "Every alias set, moved or deleted (the audit trail)",
    "v1_alias_changes_retrieve": "One alias change",
    "v1_models_aliases_list": "A model's aliases and the versions they name",
    "v1_models_aliases_retrieve": "The version an alias names",
    "v1_models_aliases_update": "Point an alias at a version (release managers)",
    "v1_models_aliases_destroy": "Delete an alias (release managers)",
    "v1_serve_@_predict_create": "Predict with the version an alias names",
    "v1_abtests_mde_retrieve": "The smallest effect a test of a given size can detect",
    "v1_abtests_outcome_tokens_list": "List outcome tokens",
    "v1_abtests_outcome_tokens_create": "Create an outcome token",
    "v1_abtests_outcome_tokens_revoke_create": "Revoke an outcome token",
    "v1_serve_predict_create": "Predict with a model",
    "v1_serve_status_retrieve": "What this process serves for a model",
    "v1_serve_latency_list": "Per-minute latency and errors of a model's versions",
    "v1_deployments_list": "List deployments, warm-ups, rollbacks and fallbacks",
    "v1_me_retrieve": "Who you are and your roles",
}

# Descriptions that explained the code rather than the endpoint.
DESCRIPTIONS: dict[str, str] = {
    "v1_serve_predict_create": (
        "Predictions from the model's production version, or from the A/B test arm of "
        "`unit_id` while a test runs. Send records (a list of objects) or pandas' "
        "`dataframe_split` JSON; columns are matched to the version's signature."
    ),
    "v1_models_versions_transition_create": (
        "Move the version to a stage: staging, draft, production, archived or deprecated. "
        "Promotion to production (also of an archived version, a roll-forward) goes through "
        "the model's gates and needs a release manager and a reason; a refused move answers "
        "409 with the whole gate report."
    ),
    "v1_models_rollback_create": (
        "Restore the version that was in production before the current one (a second "
        "rollback walks further back). Needs a release manager and a reason."
    ),
}


def tag_for(path: str) -> str | None:
    for pattern, tag in TAG_RULES:
        if re.search(pattern, path):
            return tag
    return None


def group_and_summarise(result: dict[str, Any], **_: Any) -> dict[str, Any]:
    """Tag each operation by its resource; add the summaries and replace the notes above."""
    for path, operations in result.get("paths", {}).items():
        tag = tag_for(path)
        for operation in operations.values():
            if not isinstance(operation, dict) or "operationId" not in operation:
                continue
            if tag is not None:
                operation["tags"] = [tag]
            operation_id = operation["operationId"]
            if operation_id in SUMMARIES and not operation.get("summary"):
                operation["summary"] = SUMMARIES[operation_id]
            if operation_id in DESCRIPTIONS:
                operation["description"] = DESCRIPTIONS[operation_id]
    result["tags"] = TAGS
    return result
