"""Checks on version metadata, shared by every entry point. No Django here."""

from __future__ import annotations

import math
from typing import Any

SIGNATURE_TYPES = ("double", "float", "integer", "long", "boolean", "string", "datetime")


class MetadataError(ValueError):
    pass


METRIC_KEY_LENGTH = 250  # as MLflow's keys


def clean_metrics(metrics: Any) -> dict[str, float]:
    if metrics is None:
        return {}
    if not isinstance(metrics, dict):
        raise MetadataError("metrics must be an object of metric name to number.")
    cleaned = {}
    for key, value in metrics.items():
        if not isinstance(key, str) or not key:
            raise MetadataError("metric names must be non-empty strings.")
        if len(key) > METRIC_KEY_LENGTH:
            raise MetadataError(f"metric name '{key[:40]}...' has {len(key)} characters; the "
                                f"limit is {METRIC_KEY_LENGTH}.")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise MetadataError(f"metric '{key}' must be a number, not {value!r}.")
        try:
            number = float(value)
        except OverflowError:
            number = math.inf
        if not math.isfinite(number):
            raise MetadataError(f"metric '{key}' is {value}; metrics must be finite numbers.")
        cleaned[key] = number
    return cleaned


def clean_tags(tags: Any) -> dict[str, str]:
    if tags is None:
        return {}
    if isinstance(tags, list):  # a bare list of labels is accepted as label -> ""
        tags = {str(tag): "" for tag in tags}
    if not isinstance(tags, dict):
        raise MetadataError("tags must be an object of tag name to string value.")
    cleaned = {}
    for key, value in tags.items():
        if not isinstance(key, str) or not key or len(key) > 250:
            raise MetadataError("tag names must be non-empty strings of at most 250 characters.")
        cleaned[key] = "" if value is None else str(value)
    return cleaned


def clean_object(value: Any, field: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise MetadataError(f"{field} must be a JSON object.")
    return clean_json(value, field)


def clean_json(value: Any, field: str) -> Any:
    """JSON that every database stores: NaN and infinities are refused (PostgreSQL's jsonb
    has no such numbers), naming where they are."""
    if isinstance(value, float) and not math.isfinite(value):
        raise MetadataError(f"{field} holds {value}; JSON has no NaN or infinity, use null.")
    if isinstance(value, dict):
        for key, item in value.items():
            clean_json(item, f"{field}.{key}")
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            clean_json(item, f"{field}[{index}]")
    return value


def clean_signature(signature: Any) -> dict[str, Any]:
    """{"inputs": [{"name", "type", "nullable"?}], "outputs": [...]}, MLflow's column shape."""
    signature = clean_object(signature, "signature")
    for part in ("inputs", "outputs"):
        columns = signature.get(part)
        if columns is None:
            continue
        if not isinstance(columns, list):
            raise MetadataError(f"signature.{part} must be a list of columns.")
        for column in columns:
            if not isinstance(column, dict) or not isinstance(column.get("name"), str):
                raise MetadataError(f"each signature.{part} column needs a 'name'.")
            if column.get("type", "double") not in SIGNATURE_TYPES:
                raise MetadataError(
                    f"signature column '{column['name']}' has type {column.get('type')!r}; "
                    f"use one of {', '.join(SIGNATURE_TYPES)}."
                )
    return signature
