from __future__ import annotations

from django.conf import settings
from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.renderers import BrowsableAPIRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from axion_registry.filters import FilteredBySelector, query_params_valid
from axion_registry.renderers import ORJSONRenderer
from experiments_app import selectors, services
from experiments_app.api import queries as q
from experiments_app.api import serializers as s
from experiments_app.errors import (
    InvalidArtifactPath,
    InvalidSearch,
    InvalidTrackingInput,
    RunArtifactTooLarge,
)
from experiments_app.filtersets import ExperimentFilterSet, RunFilterSet
from experiments_app.models import Run
from experiments_app.tracking_input import json_number, stored_number
from models_app.api.serializers import ModelVersionSerializer

RENDERERS = [ORJSONRenderer, BrowsableAPIRenderer]


def _json_body(request: Request) -> dict:
    if not isinstance(request.data, dict):
        raise InvalidTrackingInput("The body must be a JSON object.")
    return request.data


class ExperimentViewSet(
    FilteredBySelector, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Experiments: a named group of runs."""

    serializer_class = s.ExperimentSerializer
    filterset_class = ExperimentFilterSet
    lookup_value_regex = "[0-9]+"
    renderer_classes = RENDERERS

    def get_queryset(self):
        return selectors.experiment_list(filters=self.request.query_params)

    def get_object(self):
        return selectors.experiment_get(experiment_id=self.kwargs["pk"])

    @extend_schema(request=s.ExperimentInputSerializer, responses={201: s.ExperimentSerializer})
    def create(self, request: Request) -> Response:
        data = s.ExperimentInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        experiment = services.experiment_create(owner=request.user, **data.validated_data)
        return Response(self.get_serializer(experiment).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.ExperimentUpdateSerializer, responses=s.ExperimentSerializer)
    def partial_update(self, request: Request, pk: str) -> Response:
        data = s.ExperimentUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        experiment = services.experiment_update(experiment=self.get_object(),
                                                actor=request.user, **data.validated_data)
        return Response(self.get_serializer(experiment).data)

    @extend_schema(parameters=[q.BestRunQuery], responses=s.BestRunSerializer)
    @action(detail=True, methods=["get"], url_path="best-run")
    def best_run(self, request: Request, pk: str) -> Response:
        """The finished run with the best latest value of a metric. Failed, killed and running
        runs and NaN values never win; ties go to the run that ended first, then run_id."""
        query = query_params_valid(q.BestRunQuery, request.query_params, error=InvalidSearch)
        best = selectors.run_best(
            experiment=self.get_object(), metric=query["metric"].strip(),
            direction=query["direction"],
            params=[p for p in query["param"] if p], tags=[t for t in query["tag"] if t],
        )
        run = selectors.runs_load_data([best.run])[0]
        return Response({
            "metric": best.metric, "direction": best.direction,
            "value": json_number(best.value), "candidates": best.candidates,
            "run": s.RunSerializer(run).data,
        })


class RunViewSet(
    FilteredBySelector, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Runs: start, search, log metrics / params / tags / artifacts, end, register a version."""

    serializer_class = s.RunSerializer
    filterset_class = RunFilterSet
    lookup_field = "run_id"
    lookup_value_regex = "[0-9a-f]{32}"
    renderer_classes = RENDERERS

    def get_queryset(self):
        return selectors.run_search(filters=self.request.query_params)

    def get_object(self) -> Run:
        return selectors.run_get(run_id=self.kwargs["run_id"])

    def list(self, request: Request) -> Response:
        """Search runs by experiment, status, params, tags and metric thresholds."""
        page = self.paginate_queryset(self.get_queryset())
        runs = selectors.runs_load_data(page or [])
        return self.get_paginated_response(s.RunSerializer(runs, many=True).data)

    @extend_schema(responses=s.RunDetailSerializer)
    def retrieve(self, request: Request, run_id: str) -> Response:
        """A run with its params, latest metrics, children and the versions it produced."""
        run = selectors.run_detail_extras(self.get_object())
        return Response(s.RunDetailSerializer(run).data)

    @extend_schema(request=s.RunCreateSerializer, responses={201: s.RunDetailSerializer})
    def create(self, request: Request) -> Response:
        """Start a run in an experiment (by id, or by name: a new name creates it)."""
        data = s.RunCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        run = services.run_create(user=request.user, **data.validated_data)
        run = selectors.run_detail_extras(selectors.run_get(run_id=run.run_id))
        return Response(s.RunDetailSerializer(run).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.RunUpdateSerializer, responses=s.RunDetailSerializer)
    def partial_update(self, request: Request, run_id: str) -> Response:
        data = s.RunUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.run_update(run=self.get_object(), actor=request.user, **data.validated_data)
        return self.retrieve(request, run_id)

    @extend_schema(request=s.RunEndSerializer, responses=s.RunDetailSerializer)
    @action(detail=True, methods=["post"])
    def end(self, request: Request, run_id: str) -> Response:
        """End the run as finished (default), failed or killed; an ended run answers 409."""
        data = s.RunEndSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.run_end(run=self.get_object(), actor=request.user, **data.validated_data)
        return self.retrieve(request, run_id)

    @extend_schema(request=s.MetricInputSerializer, responses={201: s.MetricPointSerializer})
    @action(detail=True, methods=["post"], url_path="log-metric")
    def log_metric(self, request: Request, run_id: str) -> Response:
        """Log one metric point; a finished run answers 409."""
        body = _json_body(request)
        key, value, nan, step, timestamp = services.metric_log(
            run_id=run_id, key=body.get("key"), value=body.get("value"),
            step=body.get("step"), timestamp=body.get("timestamp"), actor=request.user,
        )
        return Response(
            {"key": key, "value": stored_number(value, nan), "step": step,
             "timestamp": timestamp},
            status=status.HTTP_201_CREATED,
        )

    @extend_schema(request=s.ParamsInputSerializer, responses={201: s.ParamsInputSerializer})
    @action(detail=True, methods=["post"], url_path="log-param")
    def log_param(self, request: Request, run_id: str) -> Response:
        """Log a param ({key, value}) or several ({"params": {...}}); params are write-once:
        a different value for a logged key answers 409, the same value is accepted."""
        params = services.params_log(
            run_id=run_id, params=s.single_or_many(_json_body(request), "params"),
            actor=request.user,
        )
        return Response({"params": params}, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.TagsInputSerializer, responses=s.TagsInputSerializer)
    @action(detail=True, methods=["post"], url_path="set-tag")
    def set_tag(self, request: Request, run_id: str) -> Response:
        """Set a tag ({key, value}) or several ({"tags": {...}}); ended runs may be tagged."""
        tags = services.tags_set(
            run=self.get_object(), tags=s.single_or_many(_json_body(request), "tags"),
            actor=request.user,
        )
        return Response({"tags": tags})

    @extend_schema(request=s.TagKeySerializer, responses=s.TagsInputSerializer)
    @action(detail=True, methods=["post"], url_path="delete-tag")
    def delete_tag(self, request: Request, run_id: str) -> Response:
        data = s.TagKeySerializer(data=request.data)
        data.is_valid(raise_exception=True)
        tags = services.tag_delete(run=self.get_object(), key=data.validated_data["key"],
                                   actor=request.user)
        return Response({"tags": tags})

    @extend_schema(request=s.BatchSerializer, responses=s.BatchResultSerializer)
    @action(detail=True, methods=["post"], url_path="log-batch")
    def log_batch(self, request: Request, run_id: str) -> Response:
        """Metrics, params and tags in one request, all or nothing. Limits per request:
        10,000 metrics, 100 params, 100 tags (413 past them)."""
        batch = services.batch_log(run_id=run_id, body=request.data, actor=request.user)
        return Response({"metrics": len(batch.metrics), "params": len(batch.params),
                         "tags": len(batch.tags)})

    @extend_schema(
        parameters=[
            OpenApiParameter("key", str, OpenApiParameter.PATH, description="The metric key."),
            q.MetricHistoryQuery,
        ],
        responses=s.MetricSeriesSerializer,
    )
    @action(detail=True, methods=["get"], url_path=r"metrics/(?P<key>.+)/history")
    def metric_history(self, request: Request, run_id: str, key: str) -> Response:
        """A metric's history as columns (steps, timestamps, values), ordered by step."""
        run = self.get_object()
        query = query_params_valid(q.MetricHistoryQuery, request.query_params,
                                   error=InvalidSearch)
        return Response(selectors.metric_history(run=run, key=key,
                                                 max_points=query["max_points"]))

    @extend_schema(parameters=[q.RunCompareQuery], responses=s.ComparisonSerializer)
    @action(detail=False, methods=["get"])
    def compare(self, request: Request) -> Response:
        """Params and latest metrics of several runs side by side; differing params marked."""
        query = query_params_valid(q.RunCompareQuery, request.query_params, error=InvalidSearch)
        return Response(selectors.runs_compare(run_ids=query["run_ids"]).as_dict())

    @extend_schema(parameters=[q.ArtifactListQuery], responses=s.ArtifactListSerializer)
    @action(detail=True, methods=["get"], parser_classes=[MultiPartParser, FormParser])
    def artifacts(self, request: Request, run_id: str) -> Response:
        """The run's artifact files (path relative to the run, size)."""
        run = self.get_object()
        path = query_params_valid(q.ArtifactListQuery, request.query_params,
                                  error=InvalidArtifactPath)["path"]
        return Response({
            "run_id": run_id, "path": path,
            "files": selectors.run_artifact_list(run=run, path=path),
        })

    @extend_schema(request={"multipart/form-data": s.ArtifactUploadSerializer},
                   responses={201: s.ArtifactFileSerializer})
    @artifacts.mapping.post
    def artifact_upload(self, request: Request, run_id: str) -> Response:
        """Upload a file into the run's artifacts (multipart: file, path)."""
        length = int(request.META.get("CONTENT_LENGTH") or 0)
        if length > settings.MAX_ARTIFACT_BYTES + 1024 * 1024:
            raise RunArtifactTooLarge(
                f"The upload is {length} bytes, over the limit of {settings.MAX_ARTIFACT_BYTES}."
            )
        data = s.ArtifactUploadSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        upload = data.validated_data["file"]
        path = data.validated_data["path"] or upload.name
        if path.endswith("/"):
            path += upload.name
        stored = services.run_artifact_save(
            run=self.get_object(), path=path, stream=upload, size=upload.size,
            actor=request.user,
        )
        return Response({"path": stored, "size": upload.size}, status=status.HTTP_201_CREATED)

    @extend_schema(
        parameters=[q.ArtifactDownloadQuery],
        responses={(200, "application/octet-stream"): OpenApiTypes.BINARY},
    )
    @action(detail=True, methods=["get"], url_path="artifacts/download")
    def artifact_download(self, request: Request, run_id: str) -> FileResponse:
        """Download one artifact file."""
        run = self.get_object()
        path = query_params_valid(q.ArtifactDownloadQuery, request.query_params,
                                  error=InvalidArtifactPath)["path"]
        stream = selectors.run_artifact_open(run=run, path=path)
        return FileResponse(stream, as_attachment=True, filename=path.rsplit("/", 1)[-1])

    @extend_schema(request=s.RegisterVersionSerializer, responses={201: ModelVersionSerializer})
    @action(detail=True, methods=["post"], url_path="register-version")
    def register_version(self, request: Request, run_id: str) -> Response:
        """Register a model version from a file in the run's artifacts; the version records
        this run as its source, metrics default to the run's latest values, hyperparameters
        to its params."""
        data = s.RegisterVersionSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        version = services.run_register_version(
            run=self.get_object(), created_by=request.user,
            version=fields.pop("version") or None, **fields,
        )
        return Response(ModelVersionSerializer(version, context={"request": request}).data,
                        status=status.HTTP_201_CREATED)


class MetricHistoriesView(APIView):
    """The same metric for several runs at once, each series downsampled on the server."""

    renderer_classes = RENDERERS

    @extend_schema(parameters=[q.MetricHistoriesQuery], responses=s.MetricSeriesListSerializer)
    def get(self, request: Request) -> Response:
        query = query_params_valid(q.MetricHistoriesQuery, request.query_params,
                                   error=InvalidSearch)
        key, max_points = query["key"], query["max_points"]
        series = selectors.metric_histories(run_ids=query["run_ids"], key=key,
                                            max_points=max_points)
        return Response({"key": key, "max_points": max_points, "series": series})
