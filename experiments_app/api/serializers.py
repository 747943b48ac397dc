"""Input and output shapes of the tracking API.

The logging endpoints (log-metric, log-batch) validate in experiments_app.tracking_input,
not here: a batch of 1,000 metrics through serializer fields costs more than the insert.
The serializers below for them exist so the OpenAPI schema tells the truth.
"""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from experiments_app.choices import TERMINAL_STATUSES, RunStatus
from experiments_app.models import Experiment, Run
from experiments_app.tracking_input import (
    MAX_BATCH_METRICS,
    MAX_BATCH_PARAMS,
    MAX_BATCH_TAGS,
)
from models_app.choices import ArtifactFormat, Bump, Framework

METRIC_VALUE_HELP = (
    'A number, or "NaN", "Infinity", "-Infinity" (JSON has no token for them; the API '
    "writes them back as these strings)."
)


class ExperimentSerializer(serializers.ModelSerializer):
    run_count = serializers.SerializerMethodField()
    owner: serializers.SlugRelatedField = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True)

    class Meta:
        model = Experiment
        fields = ["id", "name", "description", "tags", "archived", "owner", "created_at",
                  "run_count"]

    def get_run_count(self, obj: Experiment) -> int:
        count = getattr(obj, "run_count", None)
        return obj.runs.count() if count is None else count


class ExperimentInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=250)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    tags = serializers.JSONField(required=False, default=dict)


class ExperimentUpdateSerializer(serializers.Serializer):
    description = serializers.CharField(required=False, allow_blank=True)
    tags = serializers.JSONField(required=False)
    archived = serializers.BooleanField(required=False)


class RunSerializer(serializers.ModelSerializer):
    experiment: serializers.SlugRelatedField = serializers.SlugRelatedField(
        slug_field="name", read_only=True)
    experiment_id = serializers.IntegerField(read_only=True)
    parent_run_id = serializers.SerializerMethodField()
    user: serializers.SlugRelatedField = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True)
    params = serializers.DictField(source="param_values", child=serializers.CharField(),
                                   read_only=True)
    metrics = serializers.DictField(
        source="metric_values", read_only=True, child=serializers.JSONField(),
        help_text="Latest value per metric key. " + METRIC_VALUE_HELP,
    )

    class Meta:
        model = Run
        fields = [
            "run_id", "experiment_id", "experiment", "name", "status", "start_time", "end_time",
            "parent_run_id", "source", "user", "tags", "params", "metrics",
        ]

    def get_parent_run_id(self, obj: Run) -> str | None:
        return obj.parent.run_id if obj.parent is not None else None


class ProducedVersionSerializer(serializers.Serializer):
    model = serializers.CharField()
    version = serializers.CharField()
    stage = serializers.CharField()
    created_at = serializers.DateTimeField()


class RunDetailSerializer(RunSerializer):
    child_run_ids = serializers.ListField(child=serializers.CharField(), read_only=True)
    produced_versions = ProducedVersionSerializer(many=True, read_only=True)

    class Meta(RunSerializer.Meta):
        fields = [*RunSerializer.Meta.fields, "child_run_ids", "produced_versions"]


class RunCreateSerializer(serializers.Serializer):
    experiment = serializers.CharField(
        max_length=250,
        help_text="The experiment's id or name; a new name creates the experiment.",
    )
    name = serializers.CharField(max_length=250, required=False, allow_blank=True, default="")
    parent_run_id = serializers.RegexField(r"^[0-9a-f]{32}$", required=False, allow_null=True,
                                           default=None)
    # DRF's metaclass takes declared fields off the class, so this does not shadow Field.source
    source = serializers.CharField(  # type: ignore[assignment]
        max_length=500, required=False, allow_blank=True, default="")
    tags = serializers.JSONField(required=False, default=dict)
    params = serializers.JSONField(required=False, default=dict)
    start_time = serializers.DateTimeField(required=False, allow_null=True, default=None)


class RunUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=250, allow_blank=True)


class RunEndSerializer(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=RunStatus.choices, default=RunStatus.FINISHED,
        help_text=f"One of {', '.join(TERMINAL_STATUSES)}.",
    )
    end_time = serializers.DateTimeField(required=False, allow_null=True, default=None)


class MetricInputSerializer(serializers.Serializer):
    key = serializers.CharField(max_length=250)
    value = serializers.JSONField(help_text=METRIC_VALUE_HELP)
    step = serializers.IntegerField(required=False, default=0)
    timestamp = serializers.IntegerField(required=False,
                                         help_text="Milliseconds since the epoch; default now.")


class MetricPointSerializer(serializers.Serializer):
    key = serializers.CharField()
    value = serializers.JSONField(help_text=METRIC_VALUE_HELP)
    step = serializers.IntegerField()
    timestamp = serializers.IntegerField()


class KeyValueSerializer(serializers.Serializer):
    key = serializers.CharField(max_length=250)
    value = serializers.CharField(allow_blank=True)


class ParamsInputSerializer(serializers.Serializer):
    key = serializers.CharField(max_length=250, required=False)
    value = serializers.CharField(required=False, allow_blank=True)
    params = serializers.DictField(child=serializers.CharField(allow_blank=True),
                                   required=False, help_text="Several params at once.")


class TagsInputSerializer(serializers.Serializer):
    key = serializers.CharField(max_length=250, required=False)
    value = serializers.CharField(required=False, allow_blank=True)
    tags = serializers.DictField(child=serializers.CharField(allow_blank=True), required=False,
                                 help_text="Several tags at once.")


class TagKeySerializer(serializers.Serializer):
    key = serializers.CharField(max_length=250)


class BatchSerializer(serializers.Serializer):
    metrics = MetricInputSerializer(
        many=True, required=False, help_text=f"At most {MAX_BATCH_METRICS}."
    )
    params = serializers.DictField(
        child=serializers.CharField(), required=False,
        help_text=f"At most {MAX_BATCH_PARAMS}; also MLflow's list of {{key, value}}.",
    )
    tags = serializers.DictField(
        child=serializers.CharField(), required=False,
        help_text=f"At most {MAX_BATCH_TAGS}; also MLflow's list of {{key, value}}.",
    )


class BatchResultSerializer(serializers.Serializer):
    metrics = serializers.IntegerField()
    params = serializers.IntegerField()
    tags = serializers.IntegerField()


class MetricSeriesSerializer(serializers.Serializer):
    run_id = serializers.CharField()
    key = serializers.CharField()
    total_points = serializers.IntegerField(help_text="Points logged.")
    returned_points = serializers.IntegerField(help_text="Points in this answer.")
    compacted = serializers.BooleanField(
        help_text="The run's raw points were removed by retention: a whole history is what "
                  "its pyramid kept (each 8 steps' first, lowest, highest and last point).")
    steps = serializers.ListField(child=serializers.IntegerField())
    timestamps = serializers.ListField(child=serializers.IntegerField())
    values = serializers.ListField(child=serializers.JSONField(), help_text=METRIC_VALUE_HELP)


class MetricSeriesListSerializer(serializers.Serializer):
    key = serializers.CharField()
    max_points = serializers.IntegerField(allow_null=True)
    series = MetricSeriesSerializer(many=True)


class ArtifactFileSerializer(serializers.Serializer):
    path = serializers.CharField()
    size = serializers.IntegerField()


class ArtifactListSerializer(serializers.Serializer):
    run_id = serializers.CharField()
    path = serializers.CharField()
    files = ArtifactFileSerializer(many=True)


class ArtifactUploadSerializer(serializers.Serializer):
    file = serializers.FileField()
    path = serializers.CharField(
        required=False, allow_blank=True, default="",
        help_text="Where in the run's artifacts (e.g. model/model.pkl); a path ending in / is "
        "a folder for the file's own name; default: the file's name.",
    )


class RegisterVersionSerializer(serializers.Serializer):
    model = serializers.SlugField(max_length=100)
    artifact_path = serializers.CharField(help_text="A file in the run's artifacts.")
    framework = serializers.ChoiceField(choices=Framework.choices)
    artifact_format = serializers.ChoiceField(choices=ArtifactFormat.choices)
    version = serializers.CharField(required=False, allow_blank=True, default="")
    bump = serializers.ChoiceField(choices=Bump.choices, required=False, default=Bump.MINOR)
    metrics = serializers.JSONField(
        required=False, default=dict,
        help_text="Overrides, key by key, of the run's latest (finite) metric values.",
    )
    hyperparameters = serializers.JSONField(
        required=False, default=dict, help_text="Overrides, key by key, of the run's params."
    )
    tags = serializers.JSONField(required=False, default=dict)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    signature = serializers.JSONField(required=False, default=dict)
    input_example = serializers.JSONField(required=False, allow_null=True, default=None)


class ComparisonSerializer(serializers.Serializer):
    run_ids = serializers.ListField(child=serializers.CharField())
    runs = serializers.DictField(child=serializers.DictField())
    params = serializers.DictField(
        child=serializers.DictField(),
        help_text='{key: {"values": {run_id: value or null}, "differs": bool}}',
    )
    metrics = serializers.DictField(
        child=serializers.DictField(),
        help_text='{key: {"values": {run_id: latest value or null}}}. ' + METRIC_VALUE_HELP,
    )
    differing_params = serializers.ListField(child=serializers.CharField())


class BestRunSerializer(serializers.Serializer):
    metric = serializers.CharField()
    direction = serializers.CharField()
    value = serializers.JSONField(help_text=METRIC_VALUE_HELP)
    candidates = serializers.IntegerField(help_text="Finished runs that had the metric.")
    run = RunSerializer()


def single_or_many(data: Any, many_field: str) -> Any:
    """{"key", "value"} or {many_field: {...}} into what the service takes."""
    if isinstance(data, dict) and many_field in data:
        return data[many_field]
    if isinstance(data, dict) and "key" in data:
        return [{"key": data["key"], "value": data.get("value")}]
    return data
