from __future__ import annotations

from typing import Any

from rest_framework import serializers

from models_app import selectors
from models_app.choices import (
    ArtifactFormat,
    Bump,
    Framework,
    LoadCheckStatus,
    ServingInput,
    Stage,
)
from models_app.models import (
    AliasChange,
    EvaluationDataset,
    ModelAlias,
    ModelChange,
    PromotionRequest,
    RegisteredModel,
    StageTransition,
)
from models_app.services import reason_required


def _slug(slug_field: str, *, allow_null: bool = False) -> serializers.SlugRelatedField[Any]:
    """A related row shown by one of its fields (a name, a username), read-only."""
    return serializers.SlugRelatedField(slug_field=slug_field, read_only=True,
                                        allow_null=allow_null)


def _primary_key() -> serializers.PrimaryKeyRelatedField[Any]:
    return serializers.PrimaryKeyRelatedField(read_only=True)


class RegisteredModelSerializer(serializers.ModelSerializer):
    owner = _slug("username", allow_null=True)
    owners = serializers.SerializerMethodField(help_text="Every owner, the first owner first.")
    production_version = serializers.SerializerMethodField()
    latest_version = serializers.SerializerMethodField()
    aliases = serializers.SerializerMethodField(help_text="{alias: version} of the model.")

    class Meta:
        model = RegisteredModel
        fields = [
            "name", "description", "owner", "owners", "tags", "metric_directions", "gates",
            "require_four_eyes", "require_signed_artifacts", "production_version",
            "latest_version", "aliases", "created_at", "updated_at",
        ]

    def get_aliases(self, obj: RegisteredModel) -> dict[str, str]:
        return selectors.alias_map(model=obj)

    def get_owners(self, obj: RegisteredModel) -> list[str]:
        from models_app.services.ownership import model_owners

        return model_owners(obj)

    def get_production_version(self, obj: RegisteredModel) -> str | None:
        if hasattr(obj, "production_version"):  # annotated by selectors.model_list
            return obj.production_version
        version = selectors.version_in_production(model=obj)
        return version.version if version else None

    def get_latest_version(self, obj: RegisteredModel) -> str | None:
        if hasattr(obj, "latest_version"):
            return obj.latest_version
        version = selectors.version_latest(model=obj)
        return version.version if version else None


class RegisteredModelInputSerializer(serializers.Serializer):
    name = serializers.SlugField(max_length=100)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    tags = serializers.JSONField(required=False, default=dict)
    metric_directions = serializers.JSONField(required=False, default=dict)
    gates = serializers.JSONField(required=False, default=dict)


class RegisteredModelUpdateSerializer(serializers.Serializer):
    description = serializers.CharField(required=False, allow_blank=True)
    tags = serializers.JSONField(required=False)
    metric_directions = serializers.JSONField(required=False)
    gates = serializers.JSONField(required=False)
    require_four_eyes = serializers.BooleanField(
        required=False, help_text="Release managers only: promotion needs a second one.")


class VersionUpdateSerializer(serializers.Serializer):
    description = serializers.CharField(required=False, allow_blank=True)
    tags = serializers.JSONField(required=False, help_text="Replaces the version's tags.")


class OwnerSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)


class ModelChangeSerializer(serializers.ModelSerializer):
    model = _slug("name")
    actor = _slug("username", allow_null=True)

    class Meta:
        model = ModelChange
        fields = ["id", "model", "actor", "changes", "source", "created_at"]


class PromotionRequestInputSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000)


class DecisionSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class PromotionRequestSerializer(serializers.ModelSerializer):
    model = _slug("name")
    version = _slug("version")
    requested_by = _slug("username", allow_null=True)
    decided_by = _slug("username", allow_null=True)
    transition: serializers.PrimaryKeyRelatedField[Any] = serializers.PrimaryKeyRelatedField(
        read_only=True, allow_null=True)

    class Meta:
        model = PromotionRequest
        fields = [
            "id", "model", "version", "status", "reason", "source", "requested_by",
            "requested_at", "decided_by", "decided_at", "decision_reason", "gate_report",
            "transition",
        ]


class ModelVersionSerializer(serializers.Serializer):
    """The shape of a version in answers (documentation for the schema; the views build it
    with models_app.selectors.version_rows, which reads plain values in one query)."""

    model = serializers.CharField()
    version = serializers.CharField()
    sequence = serializers.IntegerField(
        help_text="The version's number within its model (1, 2, 3): MLflow's version number.")
    stage = serializers.ChoiceField(choices=Stage.choices)
    framework = serializers.ChoiceField(choices=Framework.choices)
    artifact_format = serializers.ChoiceField(choices=ArtifactFormat.choices)
    metrics = serializers.DictField(child=serializers.FloatField())
    hyperparameters = serializers.JSONField()
    tags = serializers.DictField(child=serializers.CharField())
    description = serializers.CharField()
    signature = serializers.JSONField()
    input_example = serializers.JSONField(allow_null=True)
    artifact_path = serializers.CharField()
    artifact_sha256 = serializers.CharField()
    artifact_size = serializers.IntegerField()
    source_run_id = serializers.CharField()
    signature_bundle = serializers.CharField(
        help_text="Storage name of the model-signing bundle, empty when unsigned.")
    signed_with = serializers.CharField(
        help_text="sha256 fingerprint of the trusted key the bundle verified against.")
    created_by = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()
    serving_input = serializers.ChoiceField(
        choices=ServingInput.choices,
        help_text="How serving hands rows to the model, fixed at registration: a DataFrame "
        "with the signature's columns in order, or a float matrix.")
    load_check_status = serializers.ChoiceField(choices=LoadCheckStatus.choices)
    load_check = serializers.JSONField(
        help_text="The worker's load check: load_ms, predict_ms, rows, output_type, "
        "output_shape, rss_mb, packages, evaluation; or error and hint.")
    verified_metrics = serializers.DictField(
        child=serializers.FloatField(),
        help_text="Metrics the load check computed on the model's evaluation datasets.")


class ModelVersionDetailSerializer(ModelVersionSerializer):
    aliases = serializers.ListField(child=serializers.CharField(),
                                    help_text="The aliases pointing at this version.")
    available_transitions = serializers.ListField(
        child=serializers.ChoiceField(choices=Stage.choices),
        help_text="Stages the requesting user may move this version to.",
    )
    rollback_to = serializers.CharField(
        allow_null=True,
        help_text="While this version is in production: the version a rollback would "
        "restore (null when there is none to restore).")


class VersionMetadataSerializer(serializers.Serializer):
    """The metadata of a registration: the `metadata` JSON part of the multipart upload."""

    version = serializers.CharField(required=False, allow_blank=True, default="")
    bump = serializers.ChoiceField(choices=Bump.choices, required=False, default=Bump.MINOR)
    framework = serializers.ChoiceField(choices=Framework.choices)
    artifact_format = serializers.ChoiceField(choices=ArtifactFormat.choices)
    metrics = serializers.JSONField(required=False, default=dict)
    hyperparameters = serializers.JSONField(required=False, default=dict)
    tags = serializers.JSONField(required=False, default=dict)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    signature = serializers.JSONField(required=False, default=dict)
    input_example = serializers.JSONField(required=False, allow_null=True, default=None)
    serving_input = serializers.ChoiceField(
        choices=ServingInput.choices, required=False, allow_null=True, default=None,
        help_text="dataframe (default when the signature names columns) or numpy (a model "
        "fitted on a matrix).")


class VersionUploadSerializer(serializers.Serializer):
    artifact = serializers.FileField(help_text="The model file.")
    signature = serializers.FileField(
        required=False,
        help_text="A model-signing bundle of the artifact (model_signing sign key ...); "
        "required when the model requires signed artifacts.",
    )
    metadata = serializers.CharField(
        help_text="JSON: version or bump, framework, artifact_format, metrics, hyperparameters, "
        "tags, description, signature, input_example."
    )


class VersionImportSerializer(serializers.Serializer):
    artifact = serializers.FileField(help_text="A pickle, joblib, skops or ONNX file (a legacy "
                                     "folder's model.pkl).")
    legacy_metadata = serializers.FileField(
        required=False, help_text="A legacy folder's metadata.json.")
    input_example = serializers.FileField(
        required=False, help_text="A CSV or Parquet file of example rows: the signature's "
        "columns, order and dtypes.")
    metadata = serializers.CharField(
        required=False, help_text="JSON: framework (default: inferred), artifact_format "
        "(default: from the file name), version or bump, metrics, hyperparameters, tags, "
        "description, signature.")


class VersionImportMetadataSerializer(serializers.Serializer):
    version = serializers.CharField(required=False, allow_blank=True, default="")
    bump = serializers.ChoiceField(choices=Bump.choices, required=False, default=Bump.MINOR)
    framework = serializers.ChoiceField(choices=Framework.choices, required=False, default="")
    artifact_format = serializers.ChoiceField(choices=ArtifactFormat.choices, required=False,
                                              default="")
    metrics = serializers.JSONField(required=False, default=dict)
    hyperparameters = serializers.JSONField(required=False, default=dict)
    tags = serializers.JSONField(required=False, default=dict)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    signature = serializers.JSONField(required=False, default=dict)


class VersionImportResultSerializer(ModelVersionDetailSerializer):
    notes = serializers.ListField(child=serializers.CharField(),
                                  help_text="What was inferred, and what could not be.")


class EvaluationDatasetSerializer(serializers.ModelSerializer):
    model = _slug("name")
    created_by = _slug("username")

    class Meta:
        model = EvaluationDataset
        fields = ["id", "model", "name", "label_column", "file_format", "sha256", "size",
                  "rows", "created_by", "created_at"]


class EvaluationDatasetUploadSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="CSV or Parquet: feature columns and the label.")
    name = serializers.SlugField(max_length=100)
    label_column = serializers.CharField(max_length=250)


class TransitionRequestSerializer(serializers.Serializer):
    to = serializers.ChoiceField(choices=Stage.choices)
    reason = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=2000,
        help_text="Why, kept in the audit trail; required to promote to production.")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs["to"] == Stage.PRODUCTION:
            reason_required(attrs["reason"], "promote this version to production")
        return attrs


class RollbackRequestSerializer(serializers.Serializer):
    reason = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=2000,
        help_text="Required: why the production version is rolled back (kept in the audit "
        "trail).")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        reason_required(attrs["reason"], "roll back")
        return attrs


class StageTransitionSerializer(serializers.ModelSerializer):
    model = _slug("name")
    version = _slug("version")
    actor = _slug("username", allow_null=True)

    class Meta:
        model = StageTransition
        fields = [
            "id", "model", "version", "kind", "from_stage", "to_stage", "actor", "reason",
            "source", "gate_report", "created_at",
        ]


class SigningSerializer(serializers.Serializer):
    require_signed_artifacts = serializers.BooleanField()
    signing_keys = serializers.SerializerMethodField()

    def get_signing_keys(self, obj: RegisteredModel) -> list[dict[str, str]]:
        from models_app.signing import key_fingerprint

        return [{"fingerprint": key_fingerprint(pem), "pem": pem} for pem in obj.signing_keys]


class SigningUpdateSerializer(serializers.Serializer):
    require_signed_artifacts = serializers.BooleanField(required=False)
    signing_keys = serializers.ListField(
        child=serializers.CharField(trim_whitespace=False), required=False,
        help_text="PEM public keys (EC P-256/384/521); replaces the list.",
    )


class MeSerializer(serializers.Serializer):
    username = serializers.CharField()
    release_manager = serializers.BooleanField()
    publisher = serializers.BooleanField()
    superuser = serializers.BooleanField()
    owned_models = serializers.ListField(child=serializers.CharField())


class ModelAliasSerializer(serializers.ModelSerializer):
    model = _slug("name")
    alias = serializers.CharField(source="name")
    version = serializers.CharField(source="version.version")
    sequence = serializers.IntegerField(source="version.sequence")
    stage = serializers.ChoiceField(source="version.stage", choices=Stage.choices)
    set_by = _slug("username", allow_null=True)

    class Meta:
        model = ModelAlias
        fields = ["model", "alias", "version", "sequence", "stage", "set_by", "set_at"]


class AliasSetSerializer(serializers.Serializer):
    version = serializers.CharField(required=False, max_length=50,
                                    help_text="The semver to point at, e.g. 1.2.0.")
    sequence = serializers.IntegerField(required=False, min_value=1,
                                        help_text="Or the version's number within the model.")
    reason = serializers.CharField(required=False, allow_blank=True, default="",
                                   max_length=2000)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if ("version" in attrs) == ("sequence" in attrs):
            raise serializers.ValidationError(
                'Name the version to point at: {"version": "1.2.0"} or {"sequence": 3}, '
                "one of them.")
        return attrs


class AliasDeleteSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, default="",
                                   max_length=2000)


class AliasChangeSerializer(serializers.ModelSerializer):
    model = _slug("name")
    from_version = _slug("version", allow_null=True)
    to_version = _slug("version", allow_null=True)
    actor = _slug("username", allow_null=True)

    class Meta:
        model = AliasChange
        fields = ["id", "model", "alias", "from_version", "to_version", "actor", "source",
                  "reason", "created_at"]
