"""Query parameters of tracking's non-list endpoints (list endpoints use filtersets.py)."""

from __future__ import annotations

from rest_framework import serializers

from axion_registry.filters import CommaListParam, WholeNumberParam
from experiments_app.downsample import MIN_POINTS

MAX_POINTS = 1_000_000


def max_points_param(help_text: str) -> WholeNumberParam:
    return WholeNumberParam(min_value=MIN_POINTS, max_value=MAX_POINTS, help_text=help_text)


def repeated_param(help_text: str) -> serializers.ListField:
    return serializers.ListField(
        child=serializers.CharField(allow_blank=True, trim_whitespace=False), required=False,
        default=list, help_text=help_text,
    )


class BestRunQuery(serializers.Serializer):
    metric = serializers.CharField(error_messages={
        "required": "name the metric: ?metric=auc&direction=max.",
        "blank": "name the metric: ?metric=auc&direction=max.",
    })
    direction = serializers.ChoiceField(
        choices=["max", "min"], default="max", help_text="Default max.",
        error_messages={"invalid_choice": "'{input}' is not a direction; use max or min."},
    )
    param = repeated_param("`key:value`; repeat.")
    tag = repeated_param("`key:value`; repeat.")


class MetricHistoryQuery(serializers.Serializer):
    max_points = max_points_param(
        "Downsample to at most this many points (at least 4), keeping first, last, minimum "
        "and maximum."
    )


class MetricHistoriesQuery(serializers.Serializer):
    run_ids = CommaListParam(help_text="Comma-separated.")
    key = serializers.CharField(help_text="The metric key.", trim_whitespace=False)
    max_points = max_points_param(
        "At most this many points per series (at least 4), keeping first, last, minimum and "
        "maximum."
    )


class RunCompareQuery(serializers.Serializer):
    run_ids = CommaListParam(help_text="Comma-separated run ids.")


class ArtifactListQuery(serializers.Serializer):
    path = serializers.CharField(required=False, default="", allow_blank=True,
                                 trim_whitespace=False, help_text="A folder; default all files.")


class ArtifactDownloadQuery(serializers.Serializer):
    path = serializers.CharField(trim_whitespace=False, help_text="The file, relative to the run.")
