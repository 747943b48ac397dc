"""Query parameters of the registry's non-list endpoints (list endpoints use filtersets.py)."""

from __future__ import annotations

from rest_framework import serializers

from axion_registry.filters import CommaListParam, UTCDateTimeParam

TWO_VERSIONS = "name at least two versions to compare, e.g. ?versions=1.0.0,1.1.0."


class CompareQuery(serializers.Serializer):
    versions = CommaListParam(help_text="Comma-separated versions.",
                              error_messages={"required": TWO_VERSIONS})

    def validate_versions(self, value: list[str]) -> list[str]:
        if len(value) < 2:
            raise serializers.ValidationError(TWO_VERSIONS)
        return value


class ProductionAtQuery(serializers.Serializer):
    at = UTCDateTimeParam(help_text="ISO time.")
