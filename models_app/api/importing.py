"""Importing real models, evaluation datasets and load checks over the API."""

from __future__ import annotations

import io

import orjson
import pandas as pd
from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from models_app import selectors, services
from models_app.api import serializers as s
from models_app.api.views import version_detail
from models_app.errors import ArtifactTooLarge, InvalidMetadata, MissingArtifact, NotAnUpload


def _multipart(request: Request) -> None:
    if not (request.content_type or "").startswith("multipart/form-data"):
        raise NotAnUpload("Send a multipart/form-data upload.")
    length = int(request.META.get("CONTENT_LENGTH") or 0)
    if length > settings.MAX_ARTIFACT_BYTES + 1024 * 1024:
        raise ArtifactTooLarge(
            f"The upload is {length} bytes, over the limit of {settings.MAX_ARTIFACT_BYTES}.")


def _json_part(request: Request, name: str) -> dict:
    raw = request.data.get(name) or "{}"
    try:
        value = orjson.loads(raw.read() if hasattr(raw, "read") else raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidMetadata(f"The {name} part is not valid JSON: {exc}.") from exc
    return value


def _example(upload) -> pd.DataFrame | None:
    if upload is None:
        return None
    name = upload.name.lower()
    try:
        if name.endswith((".parquet", ".pq")):
            return pd.read_parquet(io.BytesIO(upload.read()))
        if name.endswith(".csv"):
            return pd.read_csv(io.BytesIO(upload.read()))
    except (ValueError, OSError, ImportError) as exc:
        raise InvalidMetadata(f"The input example {upload.name} cannot be read: {exc}") from exc
    raise InvalidMetadata(f"The input example {upload.name} must be a .csv or .parquet file.")


class VersionImportView(APIView):
    """Import a model file (or a legacy folder's model.pkl and metadata.json) as a new
    version, its signature from the input example or the model's own feature names."""

    @extend_schema(request={"multipart/form-data": s.VersionImportSerializer},
                   responses={201: s.VersionImportResultSerializer}, operation_id="version_import")
    def post(self, request: Request, model_name: str) -> Response:
        _multipart(request)
        upload = request.FILES.get("artifact")
        if upload is None:
            raise MissingArtifact("An 'artifact' file is required to import a version.")
        metadata = _json_part(request, "metadata")
        if not isinstance(metadata, dict):
            raise InvalidMetadata("The metadata part must be a JSON object.")
        fields = s.VersionImportMetadataSerializer(data=metadata)
        fields.is_valid(raise_exception=True)
        data = dict(fields.validated_data)
        legacy = request.FILES.get("legacy_metadata")
        result = services.version_import(
            model_name=model_name, data=upload.read(), filename=upload.name,
            legacy_metadata=_json_part(request, "legacy_metadata") if legacy else None,
            input_example=_example(request.FILES.get("input_example")),
            version=data.pop("version") or None, created_by=request.user, **data,
        )
        body = {**version_detail(result.version, request), "notes": result.notes}
        return Response(body, status=status.HTTP_201_CREATED)


class VersionLoadCheckView(APIView):
    """Run the version's load check again (after an evaluation dataset was added, say)."""

    @extend_schema(request=None, responses={202: s.ModelVersionDetailSerializer},
                   operation_id="version_load_check")
    def post(self, request: Request, model_name: str, version: str) -> Response:
        row = selectors.version_get(model_name=model_name, version=version)
        row = services.version_load_check_request(version=row)
        return Response(version_detail(row, request), status=status.HTTP_202_ACCEPTED)


class EvaluationDatasetView(APIView):
    """A model's evaluation datasets: files of features and labels the load check scores
    every version on (its verified metrics)."""

    @extend_schema(responses=s.EvaluationDatasetSerializer(many=True),
                   operation_id="evaluation_dataset_list")
    def get(self, request: Request, model_name: str) -> Response:
        model = selectors.model_get(name=model_name)
        rows = model.evaluation_datasets.select_related("model", "created_by")
        return Response(s.EvaluationDatasetSerializer(rows, many=True).data)

    @extend_schema(request={"multipart/form-data": s.EvaluationDatasetUploadSerializer},
                   responses={201: s.EvaluationDatasetSerializer},
                   operation_id="evaluation_dataset_create")
    def post(self, request: Request, model_name: str) -> Response:
        _multipart(request)
        model = selectors.model_get(name=model_name)
        form = s.EvaluationDatasetUploadSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        upload = form.validated_data["file"]
        dataset = services.evaluation_dataset_register(
            model=model, name=form.validated_data["name"], file=upload, filename=upload.name,
            label_column=form.validated_data["label_column"], created_by=request.user)
        return Response(s.EvaluationDatasetSerializer(dataset).data,
                        status=status.HTTP_201_CREATED)

