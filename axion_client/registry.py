"""The registry: registered models, versions (upload, import, lifecycle), their history and
four-eyes promotion requests."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from contextlib import ExitStack
from typing import Any

from axion_client.http import Transport


class RegistryAPI(Transport):
    # -- registering versions ------------------------------------------------------------

    def upload_version(self, model: str, local_path: str, *, framework: str,
                       artifact_format: str, signature: str | None = None,
                       input_signature: Mapping[str, Any] | None = None,
                       **fields: Any) -> dict[str, Any]:
        """Register a version of `model` by uploading a local artifact file. `signature` is
        the path of its model-signing bundle (needed when the model requires signed
        artifacts); `input_signature` the model's input schema. Fields: version or bump,
        metrics, hyperparameters, tags, description, input_example."""
        metadata = {"framework": framework, "artifact_format": artifact_format, **fields}
        if input_signature is not None:
            metadata["signature"] = dict(input_signature)
        with ExitStack() as stack:
            files = {"artifact": (os.path.basename(local_path),
                                  stack.enter_context(open(local_path, "rb")))}
            if signature:
                files["signature"] = (os.path.basename(signature),
                                      stack.enter_context(open(signature, "rb")))
            return self.post(f"models/{model}/versions/", files=files,
                             data={"metadata": json.dumps(metadata)})

    def import_model(self, model: str, path: str, *, input_example: str | None = None,
                     metrics: Mapping[str, float] | None = None,
                     hyperparameters: Mapping[str, Any] | None = None,
                     tags: Mapping[str, str] | None = None, framework: str | None = None,
                     **fields: Any) -> dict[str, Any]:
        """Import a model file (pickle, joblib, skops, ONNX) or a legacy folder (model.pkl +
        metadata.json) as a new version of `model`, as `manage.py import_model` does.
        `input_example`: a CSV or Parquet file of rows (the signature comes from it, else
        from the model). Fields: version or bump, artifact_format, description, signature."""
        if os.path.isdir(path):
            artifact, legacy = os.path.join(path, "model.pkl"), os.path.join(path, "metadata.json")
        else:
            artifact, legacy = path, None
        metadata = {**fields, "metrics": dict(metrics or {}),
                    "hyperparameters": dict(hyperparameters or {}), "tags": dict(tags or {})}
        if framework:
            metadata["framework"] = framework
        with ExitStack() as stack:
            files = {"artifact": (os.path.basename(artifact),
                                  stack.enter_context(open(artifact, "rb")))}
            if legacy and os.path.exists(legacy):
                files["legacy_metadata"] = ("metadata.json",
                                            stack.enter_context(open(legacy, "rb")))
            if input_example:
                files["input_example"] = (os.path.basename(input_example),
                                          stack.enter_context(open(input_example, "rb")))
            return self.post(f"models/{model}/versions/import/", files=files,
                             data={"metadata": json.dumps(metadata)})

    def add_evaluation_dataset(self, model: str, path: str, *, name: str,
                               label_column: str) -> dict[str, Any]:
        """Register a CSV or Parquet file of features and labels; every version's load check
        scores the model on it (its verified metrics)."""
        with open(path, "rb") as handle:
            return self.post(f"models/{model}/datasets/",
                             files={"file": (os.path.basename(path), handle)},
                             data={"name": name, "label_column": label_column})

    def get_version(self, model: str, version: str) -> dict[str, Any]:
        """A version with its load check and verified metrics."""
        return self.get(f"models/{model}/versions/{version}/")

    def get_latest_version(self, model: str, *, stage: str | None = None) -> dict[str, Any]:
        """The model's highest version by semver (in `stage`, when given)."""
        params = {"stage": stage} if stage is not None else {}
        return self.get(f"models/{model}/versions/latest/", **params)

    def update_version(self, model: str, version: str, *, description: str | None = None,
                       tags: Mapping[str, str] | None = None) -> dict[str, Any]:
        """Change a version's description or tags (tags replace the old ones)."""
        body: dict[str, Any] = {}
        if description is not None:
            body["description"] = description
        if tags is not None:
            body["tags"] = dict(tags)
        return self.patch(f"models/{model}/versions/{version}/", body)

    def open_version_artifact(self, model: str, version: str) -> Any:
        """The artifact download as a file-like stream (read it, then close it)."""
        response = self.request("GET", f"models/{model}/versions/{version}/artifact/",
                                stream=True)
        response.raw.decode_content = True
        return response.raw

    def get_version_gates(self, model: str, version: str) -> dict[str, Any]:
        """The gate report the version would get if promoted now: passed, gates."""
        return self.get(f"models/{model}/versions/{version}/gates/")

    # -- reads ---------------------------------------------------------------------------

    def list_models(self, *, max_results: int | None = None,
                    **filters: Any) -> list[dict[str, Any]]:
        return self.collect("models/", max_results=max_results, **filters)

    def list_versions(self, *, name: str = "", stages: Iterable[str] = (),
                      frameworks: Iterable[str] = (), tags: Iterable[str] = (),
                      metrics: Iterable[str] = (), max_results: int | None = None,
                      **filters: Any) -> list[dict[str, Any]]:
        """Versions of every model: `name` matches part of the model's name, tags as
        "key:value", metrics as conditions ("auc>=0.7")."""
        return self.collect("versions/", max_results=max_results, name=name or None,
                            stage=list(stages), framework=list(frameworks), tag=list(tags),
                            metric=list(metrics), **filters)

    def list_model_versions(self, model: str, *, max_results: int | None = None,
                            **filters: Any) -> list[dict[str, Any]]:
        return self.collect(f"models/{model}/versions/", max_results=max_results, **filters)

    def compare_versions(self, model: str, versions: Iterable[str]) -> dict[str, Any]:
        """Metrics (with each one's direction and best version) and hyperparameters."""
        return self.get(f"models/{model}/compare/", versions=",".join(versions))

    def list_transitions(self, *, model: str | None = None, max_results: int | None = None,
                         **filters: Any) -> list[dict[str, Any]]:
        """The audit trail of stage transitions, newest first."""
        return self.collect("transitions/", max_results=max_results, model=model, **filters)

    def current_user(self) -> dict[str, Any]:
        """The token's user and roles (release_manager, publisher, owned_models)."""
        return self.get("me/")

    def list_promotion_requests(self, *, model: str | None = None, status: str | None = None,
                                max_results: int | None = None,
                                **filters: Any) -> list[dict[str, Any]]:
        return self.collect("promotion-requests/", max_results=max_results, model=model,
                            status=status, **filters)

    def list_aliases(self, model: str) -> list[dict[str, Any]]:
        """The model's aliases by name: alias, version, sequence, stage, set_by, set_at."""
        return self.get(f"models/{model}/aliases/")

    def list_alias_changes(self, *, model: str | None = None, alias: str | None = None,
                           max_results: int | None = None,
                           **filters: Any) -> list[dict[str, Any]]:
        """The audit trail of aliases (to_version null: deleted), newest first."""
        return self.collect("alias-changes/", max_results=max_results, model=model,
                            alias=alias, **filters)

    # -- aliases (release managers) ------------------------------------------------------

    def set_alias(self, model: str, alias: str, *, version: str | None = None,
                  sequence: int | None = None, reason: str = "") -> dict[str, Any]:
        """Point `alias` at a version, named by its semver or its sequence number."""
        target: dict[str, Any] = ({"version": version} if sequence is None
                                  else {"sequence": sequence})
        return self.request("PUT", f"models/{model}/aliases/{alias}/",
                            json={**target, "reason": reason})

    def delete_alias(self, model: str, alias: str, reason: str = "") -> None:
        self.request("DELETE", f"models/{model}/aliases/{alias}/", json={"reason": reason})

    # -- lifecycle -----------------------------------------------------------------------

    def transition_version(self, model: str, version: str, to: str,
                           reason: str = "") -> dict[str, Any]:
        """Move a version to another stage (production needs a release manager)."""
        return self.post(f"models/{model}/versions/{version}/transition/",
                         {"to": to, "reason": reason})

    def rollback_model(self, model: str, reason: str = "") -> dict[str, Any]:
        """Restore the version that was in production before the current one."""
        return self.post(f"models/{model}/rollback/", {"reason": reason})

    def request_promotion(self, model: str, version: str, reason: str = "") -> dict[str, Any]:
        """Four-eyes: ask another release manager to promote this version."""
        return self.post(f"models/{model}/versions/{version}/promotion-requests/",
                         {"reason": reason})

    def approve_promotion(self, request_id: int, reason: str = "") -> dict[str, Any]:
        return self.post(f"promotion-requests/{request_id}/approve/", {"reason": reason})

    def refuse_promotion(self, request_id: int, reason: str) -> dict[str, Any]:
        return self.post(f"promotion-requests/{request_id}/refuse/", {"reason": reason})
