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

from axion_registry.renderers import ORJSONRenderer
from experiments_app import selectors, services
from experiments_app.api import serializers as s
from experiments_app.errors import InvalidSearch, InvalidTrackingInput, RunArtifactTooLarge
from experiments_app.models import Run
from experiments_app.tracking_input import json_number, stored_number
from models_app.api.serializers import ModelVersionSerializer

RENDERERS = [ORJSONRenderer, BrowsableAPIRenderer]


def _query_list(request: Request, name: str) -> list[str]:
    return [item for item in request.query_params.getlist(name) if item]


def _csv(request: Request, name: str) -> list[str]:
    return [item.strip() for item in request.query_params.get(name, "").split(",")
            if item.strip()]


MAX_POINTS = 1_000_000


def _max_points(request: Request) -> int | None:
    raw = request.query_params.get("max_points")
    if raw in (None, ""):
        return None
    if not (raw.isascii() and raw.isdigit()) or int(raw) > MAX_POINTS:
        raise InvalidSearch(
            f"max_points is '{raw}'; give a whole number from 4 to {MAX_POINTS:,}."
        )
    return int(raw)


def _json_body(request: Request) -> dict:
    if not isinstance(request.data, dict):
        raise InvalidTrackingInput("The body must be a JSON object.")
    return request.data


RUN_SEARCH_PARAMETERS = [
    OpenApiParameter("experiment", str, description="Experiment ids or names, comma-separated."),
    OpenApiParameter("status", str, many=True, enum=["running", "finished", "failed", "killed"]),
    OpenApiParameter("name", str, description="Substring of the run name."),
    OpenApiParameter("parent", str, description="Runs nested under this run_id."),
    OpenApiParameter("user", str, description="Username of who started the run."),
    OpenApiParameter("started_after", OpenApiTypes.DATETIME),
    OpenApiParameter("started_before", OpenApiTypes.DATETIME),
    OpenApiParameter("param", str, many=True,
                     description="`key:value` (exact string) or `key`; repeat for all of them."),
    OpenApiParameter("tag", str, many=True,
                     description="`key:value` or `key`; repeat for all of them."),
    OpenApiParameter("metric", str, many=True,
                     description="A threshold on the latest value, such as `auc>=0.7`; repeat."),
    OpenApiParameter("order_by", str, description="metric.<key>, param.<key>, start_time, "
                     "end_time, name or status; runs without the value sort last."),
    OpenApiParameter("desc", bool, description="Descending order."),
]


class ExperimentViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Experiments: a named group of runs."""

    serializer_class = s.ExperimentSerializer
    lookup_value_regex = "[0-9]+"
    filter_backends: list = []
    renderer_classes = RENDERERS

    def get_queryset(self):
        archived = self.request.query_params.get("archived")
        return selectors.experiment_list(
            name=self.request.query_params.get("name"),
            archived=None if archived in (None, "") else archived.lower() in ("1", "true"),
            tags=_query_list(self.request, "tag"),
        )

    def get_object(self):
        return selectors.experiment_get(experiment_id=self.kwargs["pk"])

    @extend_schema(parameters=[
        OpenApiParameter("name", str, description="Substring of the name."),
        OpenApiParameter("archived", bool),
        OpenApiParameter("tag", str, many=True, description="`key` or `key:value`; repeat."),
    ])
    def list(self, request: Request, *args, **kwargs) -> Response:
        return super().list(request, *args, **kwargs)

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

    @extend_schema(
        parameters=[
            OpenApiParameter("metric", str, required=True),
            OpenApiParameter("direction", str, enum=["max", "min"], description="Default max."),
            OpenApiParameter("param", str, many=True, description="`key:value`; repeat."),
            OpenApiParameter("tag", str, many=True, description="`key:value`; repeat."),
        ],
        responses=s.BestRunSerializer,
    )
    @action(detail=True, methods=["get"], url_path="best-run")
    def best_run(self, request: Request, pk: str) -> Response:
        """The finished run with the best latest value of a metric. Failed, killed and running
        runs and NaN values never win; ties go to the run that ended first, then run_id."""
        metric = request.query_params.get("metric", "").strip()
        if not metric:
            raise InvalidSearch("Name the metric: ?metric=auc&direction=max.")
        best = selectors.run_best(
            experiment=self.get_object(), metric=metric,
            direction=request.query_params.get("direction", "max"),
            params=_query_list(request, "param"), tags=_query_list(request, "tag"),
        )
        run = selectors.runs_load_data([best.run])[0]
        return Response({
            "metric": best.metric, "direction": best.direction,
            "value": json_number(best.value), "candidates": best.candidates,
            "run": s.RunSerializer(run).data,
        })


class RunViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Runs: start, search, log metrics / params / tags / artifacts, end, register a version."""

    serializer_class = s.RunSerializer
    lookup_field = "run_id"
    lookup_value_regex = "[0-9a-f]{32}"
    filter_backends: list = []
    renderer_classes = RENDERERS

    def get_queryset(self):
        params = self.request.query_params
        return selectors.run_search(
            filters=params, order_by=params.get("order_by") or None,
            descending=params.get("desc", "").lower() in ("1", "true", "yes"),
        )

    def get_object(self) -> Run:
        return selectors.run_get(run_id=self.kwargs["run_id"])

    @extend_schema(parameters=RUN_SEARCH_PARAMETERS)
    def list(self, request: Request) -> Response:
        """Search runs by experiment, status, params, tags and metric thresholds."""
        page = self.paginate_queryset(self.get_queryset())
        runs = selectors.runs_load_data(page)
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
        1,000 metrics, 100 params, 100 tags (413 past them)."""
        batch = services.batch_log(run_id=run_id, body=request.data, actor=request.user)
        return Response({"metrics": len(batch.metrics), "params": len(batch.params),
                         "tags": len(batch.tags)})

    @extend_schema(
        parameters=[
            OpenApiParameter("key", str, OpenApiParameter.PATH, description="The metric key."),
            OpenApiParameter("max_points", int, description="Downsample to at most this many "
                             "points (at least 4), keeping first, last, minimum and maximum."),
        ],
        responses=s.MetricSeriesSerializer,
    )
    @action(detail=True, methods=["get"], url_path=r"metrics/(?P<key>.+)/history")
    def metric_history(self, request: Request, run_id: str, key: str) -> Response:
        """A metric's history as columns (steps, timestamps, values), ordered by step."""
        return Response(selectors.metric_history(
            run=self.get_object(), key=key, max_points=_max_points(request)
        ))

    @extend_schema(
        parameters=[OpenApiParameter("run_ids", str, required=True,
                                     description="Comma-separated run ids.")],
        responses=s.ComparisonSerializer,
    )
    @action(detail=False, methods=["get"])
    def compare(self, request: Request) -> Response:
        """Params and latest metrics of several runs side by side; differing params marked."""
        return Response(selectors.runs_compare(run_ids=_csv(request, "run_ids")).as_dict())

    @extend_schema(
        parameters=[OpenApiParameter("path", str, description="A folder; default all files.")],
        responses=s.ArtifactListSerializer,
    )
    @action(detail=True, methods=["get"], parser_classes=[MultiPartParser, FormParser])
    def artifacts(self, request: Request, run_id: str) -> Response:
        """The run's artifact files (path relative to the run, size)."""
        path = request.query_params.get("path", "")
        return Response({
            "run_id": run_id, "path": path,
            "files": selectors.run_artifact_list(run=self.get_object(), path=path),
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
        parameters=[OpenApiParameter("path", str, required=True)],
        responses={(200, "application/octet-stream"): OpenApiTypes.BINARY},
    )
    @action(detail=True, methods=["get"], url_path="artifacts/download")
    def artifact_download(self, request: Request, run_id: str) -> FileResponse:
        """Download one artifact file."""
        path = request.query_params.get("path", "")
        stream = selectors.run_artifact_open(run=self.get_object(), path=path)
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

    @extend_schema(
        parameters=[
            OpenApiParameter("run_ids", str, required=True, description="Comma-separated."),
            OpenApiParameter("key", str, required=True, description="The metric key."),
            OpenApiParameter("max_points", int, description="At most this many points per "
                             "series (at least 4), keeping first, last, minimum and maximum."),
        ],
        responses=s.MetricSeriesListSerializer,
    )
    def get(self, request: Request) -> Response:
        key = request.query_params.get("key", "")
        max_points = _max_points(request)
        series = selectors.metric_histories(run_ids=_csv(request, "run_ids"), key=key,
                                            max_points=max_points)
        return Response({"key": key, "max_points": max_points, "series": series})
