"""Shapes of serving's answers and requests, for validation and the OpenAPI schema.

The prediction request is parsed without per-field serializers (it is the hot path);
PredictRequestSerializer documents it.
"""

from __future__ import annotations

from rest_framework import serializers

from serving_app.models import DeploymentEvent, HostWarmUp, LatencyMinute


class DataframeSplitSerializer(serializers.Serializer):
    columns = serializers.ListField(child=serializers.CharField())
    data = serializers.ListField(child=serializers.ListField())  # type: ignore[assignment]  # the field MLflow names 'data'


class PredictRequestSerializer(serializers.Serializer):
    records = serializers.ListField(
        child=serializers.DictField(), required=False,
        help_text="One object per row, column name to value.")
    dataframe_split = DataframeSplitSerializer(required=False, help_text="MLflow's split form.")
    unit_id = serializers.CharField(
        required=False, help_text="Routes the request to an A/B arm; without it, the champion.")
    version = serializers.CharField(
        required=False, help_text="A version number (or stage) to ask instead of production.")


class PredictResponseSerializer(serializers.Serializer):
    model = serializers.CharField()
    version = serializers.CharField(help_text="The version that answered.")
    predictions = serializers.ListField(child=serializers.JSONField())
    arm = serializers.CharField(allow_null=True, help_text="champion or challenger while an "
                                "A/B test runs, else null.")
    fallback = serializers.BooleanField(help_text="True when the previous production version "
                                        "answered because the current one failed.")


class AliasPredictResponseSerializer(PredictResponseSerializer):
    alias = serializers.CharField(help_text="The alias asked for; `version` is what it named.")


class LatencyMinuteSerializer(serializers.ModelSerializer):
    version = serializers.CharField(source="version.version")

    class Meta:
        model = LatencyMinute
        fields = ["minute", "version", "count", "errors", "fallbacks", "p50_ms", "p95_ms",
                  "p99_ms", "last_error"]


class HostWarmUpSerializer(serializers.ModelSerializer):
    class Meta:
        model = HostWarmUp
        fields = ["host", "status", "attempts", "load_ms", "predict_ms", "duration_ms", "error",
                  "enqueued_at", "started_at", "finished_at"]


class DeploymentEventSerializer(serializers.ModelSerializer):
    model = serializers.CharField(source="model.name")
    version = serializers.CharField(source="version.version")
    previous_version = serializers.CharField(source="previous_version.version", allow_null=True,
                                             default=None)
    hosts = HostWarmUpSerializer(
        source="host_warmups", many=True, read_only=True,
        help_text="The warm-up on each host (fetch into its cache, load, one prediction); "
                  "warmup_status sums them up: failed at the first failure, ok once every "
                  "host not missed is ok. Empty for fallback rows.")

    class Meta:
        model = DeploymentEvent
        fields = ["id", "model", "version", "kind", "previous_version", "source", "reason",
                  "warmup_status", "load_ms", "predict_ms", "error", "rolled_back", "hosts",
                  "minute", "count", "created_at", "updated_at"]
