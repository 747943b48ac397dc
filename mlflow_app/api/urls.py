from __future__ import annotations

from django.urls import path, re_path

from mlflow_app.api import artifacts, logged_models, registry, views

tracking = [
    path("experiments/create", views.experiment_create),
    path("experiments/get", views.experiment_get),
    path("experiments/get-by-name", views.experiment_get_by_name),
    path("experiments/search", views.experiment_search),
    path("experiments/delete", views.experiment_delete),
    path("experiments/restore", views.experiment_restore),
    path("experiments/update", views.experiment_update),
    path("experiments/set-experiment-tag", views.experiment_set_tag),
    path("experiments/delete-experiment-tag", views.experiment_delete_tag),
    path("runs/create", views.run_create),
    path("runs/get", views.run_get),
    path("runs/update", views.run_update),
    path("runs/delete", views.run_delete),
    path("runs/restore", views.run_restore),
    path("runs/search", views.run_search),
    path("runs/log-metric", views.run_log_metric),
    path("runs/log-parameter", views.run_log_param),
    path("runs/log-batch", views.run_log_batch),
    path("runs/set-tag", views.run_set_tag),
    path("runs/delete-tag", views.run_delete_tag),
    path("runs/log-inputs", views.run_log_inputs),
    path("metrics/get-history", views.metric_history),
    path("artifacts/list", views.artifact_list),
    path("runs/outputs", logged_models.run_log_outputs),
    path("logged-models", logged_models.logged_model_create),
    path("logged-models/search", logged_models.logged_model_search),
    path("logged-models/<str:model_id>", logged_models.logged_model),
    path("logged-models/<str:model_id>/tags", logged_models.logged_model_set_tags),
    path("logged-models/<str:model_id>/tags/<path:tag_key>",
         logged_models.logged_model_delete_tag),
    path("logged-models/<str:model_id>/params", logged_models.logged_model_log_params),
    path("logged-models/<str:model_id>/artifacts/directories",
         logged_models.logged_model_artifacts),
    path("registered-models/create", registry.model_create),
    path("registered-models/get", registry.model_get),
    path("registered-models/update", registry.model_update),
    path("registered-models/rename", registry.model_rename),
    path("registered-models/delete", registry.model_delete),
    path("registered-models/search", registry.model_search),
    path("registered-models/get-latest-versions", registry.latest_versions),
    path("registered-models/set-tag", registry.model_tag_set),
    path("registered-models/delete-tag", registry.model_tag_delete),
    path("registered-models/alias", registry.alias),
    path("model-versions/create", registry.version_create),
    path("model-versions/get", registry.version_get),
    path("model-versions/update", registry.version_update),
    path("model-versions/delete", registry.version_delete),
    path("model-versions/search", registry.version_search),
    path("model-versions/transition-stage", registry.version_transition),
    path("model-versions/get-download-uri", registry.version_download_uri),
    path("model-versions/set-tag", registry.version_tag_set),
    path("model-versions/delete-tag", registry.version_tag_delete),
    re_path(r"^.*$", views.not_supported),
]

proxied_artifacts = [
    path("artifacts", artifacts.artifact_list),
    path("artifacts/<path:artifact_path>", artifacts.artifact_file),
    path("mpu/<str:step>/<path:artifact_path>", artifacts.multipart_upload),
]

server_info = [path("server-info", views.server_info)]
