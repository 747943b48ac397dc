from __future__ import annotations

import orjson
from django.conf import settings
from django.db.models import Q, QuerySet
from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from axion_registry.errors import InvalidInput
from axion_registry.filters import FilteredBySelector, query_params_valid
from axion_registry.pagination import KeysetPagination
from models_app import artifacts, roles, selectors, services
from models_app.api import queries as q
from models_app.api import serializers as s
from models_app.choices import Stage
from models_app.errors import ArtifactTooLarge, InvalidMetadata, NotAnUpload, VersionNotFound
from models_app.filtersets import (
    ModelChangeFilterSet,
    ModelVersionFilterSet,
    PromotionRequestFilterSet,
    RegisteredModelFilterSet,
    StageTransitionFilterSet,
)
from models_app.models import ModelChange, ModelVersion, PromotionRequest, RegisteredModel


def version_detail(version: ModelVersion, request: Request) -> dict:
    return selectors.version_detail(
        version=version, moves=selectors.available_moves(version=version, user=request.user)
    )


def paginated_versions(view: viewsets.GenericViewSet, queryset) -> Response:
    page = view.paginate_queryset(selectors.version_values(queryset))
    return view.get_paginated_response(selectors.version_rows(page or []))


class RegisteredModelViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Registered models. Versions live under models/{name}/versions/."""

    serializer_class = s.RegisteredModelSerializer
    filterset_class = RegisteredModelFilterSet
    lookup_field = "name"
    lookup_value_regex = "[-a-zA-Z0-9_]+"

    def get_queryset(self) -> QuerySet[RegisteredModel]:
        return selectors.model_list()

    def get_object(self) -> RegisteredModel:
        return selectors.model_get(name=self.kwargs["name"])

    @extend_schema(request=s.RegisteredModelInputSerializer, responses=s.RegisteredModelSerializer)
    def create(self, request: Request) -> Response:
        data = s.RegisteredModelInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        model = services.model_create(owner=request.user, **data.validated_data)
        return Response(self.get_serializer(model).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.RegisteredModelUpdateSerializer, responses=s.RegisteredModelSerializer)
    def partial_update(self, request: Request, name: str) -> Response:
        data = s.RegisteredModelUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        model = services.model_update(model=self.get_object(), actor=request.user,
                                      source="api", **data.validated_data)
        return Response(self.get_serializer(model).data)

    @extend_schema(request=s.OwnerSerializer, responses=s.RegisteredModelSerializer)
    @action(detail=True, methods=["post"])
    def owners(self, request: Request, name: str) -> Response:
        """Share ownership with a teammate (owners and release managers may); audited."""
        data = s.OwnerSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        model = services.model_owner_add(model=self.get_object(), actor=request.user,
                                         username=data.validated_data["username"], source="api")
        return Response(self.get_serializer(model).data)

    @extend_schema(request=None, responses=s.RegisteredModelSerializer)
    @action(detail=True, methods=["delete"], url_path=r"owners/(?P<username>[^/]+)")
    def owner_remove(self, request: Request, name: str, username: str) -> Response:
        """Take an owner off the model (owners and release managers may); audited."""
        model = services.model_owner_remove(model=self.get_object(), actor=request.user,
                                            username=username, source="api")
        return Response(self.get_serializer(model).data)

    @extend_schema(methods=["GET"], responses=s.SigningSerializer)
    @extend_schema(methods=["PATCH"], request=s.SigningUpdateSerializer,
                   responses=s.SigningSerializer)
    @action(detail=True, methods=["get", "patch"])
    def signing(self, request: Request, name: str) -> Response:
        """Whether versions must carry a model-signing bundle, and the trusted public keys.
        Only the model's owner or a release manager may change them."""
        model = self.get_object()
        if request.method == "PATCH":
            data = s.SigningUpdateSerializer(data=request.data)
            data.is_valid(raise_exception=True)
            model = services.model_signing_update(model=model, actor=request.user,
                                                  **data.validated_data)
        return Response(s.SigningSerializer(model).data)

    @extend_schema(request=s.RollbackRequestSerializer, responses=s.StageTransitionSerializer)
    @action(detail=True, methods=["post"])
    def rollback(self, request: Request, name: str) -> Response:
        """Restore the version that was in production before the current one."""
        data = s.RollbackRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        record = services.model_rollback(
            model=self.get_object(), actor=request.user, reason=data.validated_data["reason"]
        )
        return Response(s.StageTransitionSerializer(record).data)

    @extend_schema(parameters=[q.CompareQuery], responses=OpenApiTypes.OBJECT)
    @action(detail=True, methods=["get"])
    def compare(self, request: Request, name: str) -> Response:
        """Metrics and hyperparameters side by side, with the best version per metric."""
        versions = query_params_valid(q.CompareQuery, request.query_params,
                                      code="invalid_versions")["versions"]
        comparison = selectors.versions_compare(model=self.get_object(), versions=versions)
        return Response(comparison.as_dict())

    @extend_schema(parameters=[q.ProductionAtQuery], responses=OpenApiTypes.OBJECT)
    @action(detail=True, methods=["get"], url_path="production-at")
    def production_at(self, request: Request, name: str) -> Response:
        """Which version of this model was in production at time `at`."""
        at = query_params_valid(q.ProductionAtQuery, request.query_params,
                                code="invalid_time")["at"]
        version = selectors.version_in_production_at(model=self.get_object(), at=at)
        if version is None:
            return Response({"version": None, "at": at.isoformat()})
        return Response({"version": version.version, "at": at.isoformat(),
                         "detail": version_detail(version, request)})


class ModelVersionViewSet(
    FilteredBySelector, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Versions of one registered model: register (multipart upload), read, describe, tag,
    transition."""

    serializer_class = s.ModelVersionSerializer
    filterset_class = ModelVersionFilterSet
    pagination_class = KeysetPagination
    lookup_field = "version"
    lookup_value_regex = r"[0-9]+\.[0-9]+\.[0-9]+"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # the schema generator, no URL kwargs
            return ModelVersion.objects.none()
        model = selectors.model_get(name=self.kwargs["model_name"])
        return selectors.version_list(filters=self.request.query_params, model=model)

    def get_object(self) -> ModelVersion:
        return selectors.version_get(
            model_name=self.kwargs["model_name"], version=self.kwargs["version"]
        )

    def list(self, request: Request, model_name: str) -> Response:
        return paginated_versions(self, self.get_queryset())

    @extend_schema(
        parameters=[OpenApiParameter("stage", enum=Stage.values, required=False,
                                     description="The highest version in this stage.")],
        responses=s.ModelVersionSerializer,
    )
    @action(detail=False, methods=["get"], filter_backends=[], pagination_class=None)
    def latest(self, request: Request, model_name: str) -> Response:
        """The model's highest version by semver (in `stage`, when given), as the list
        shows it: one indexed read, whatever the number of versions."""
        stage = request.query_params.get("stage")
        if stage is not None and stage not in Stage.values:
            raise InvalidInput(f"stage: '{stage}' is not a stage; give one of "
                               f"{', '.join(Stage.values)}.", code="invalid_search")
        row = selectors.version_latest_row(model_name=model_name, stage=stage)
        if row is None:
            selectors.model_get(name=model_name)  # an unknown model is its own 404
            raise VersionNotFound(f"{model_name} has no version{f' in {stage}' if stage else ''}"
                                  " yet.")
        return Response(row)

    @extend_schema(responses=s.ModelVersionDetailSerializer)
    def retrieve(self, request: Request, model_name: str, version: str) -> Response:
        return Response(version_detail(self.get_object(), request))

    @extend_schema(request=s.VersionUpdateSerializer, responses=s.ModelVersionDetailSerializer)
    def partial_update(self, request: Request, model_name: str, version: str) -> Response:
        """Change the version's description or tags (who may change the model's metadata)."""
        data = s.VersionUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        row = services.version_update(version=self.get_object(), actor=request.user,
                                      source="api", **data.validated_data)
        return Response(version_detail(row, request))

    @extend_schema(
        request={"multipart/form-data": s.VersionUploadSerializer},
        responses={201: s.ModelVersionDetailSerializer},
    )
    def create(self, request: Request, model_name: str) -> Response:
        if not (request.content_type or "").startswith("multipart/form-data"):
            raise NotAnUpload(
                "Register a version with a multipart/form-data upload: an 'artifact' file "
                "and a 'metadata' JSON part."
            )
        length = int(request.META.get("CONTENT_LENGTH") or 0)
        if length > settings.MAX_ARTIFACT_BYTES + 1024 * 1024:
            raise ArtifactTooLarge(
                f"The upload is {length} bytes, over the limit of {settings.MAX_ARTIFACT_BYTES}."
            )
        try:
            raw = request.data.get("metadata") or "{}"
            metadata = orjson.loads(raw) if isinstance(raw, (str, bytes)) else raw
        except orjson.JSONDecodeError as exc:
            raise InvalidMetadata(f"The metadata part is not valid JSON: {exc}.") from exc
        if not isinstance(metadata, dict):
            raise InvalidMetadata("The metadata part must be a JSON object.")
        data = s.VersionMetadataSerializer(data=metadata)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        version = services.version_register(
            model_name=model_name,
            artifact=request.FILES.get("artifact"),
            created_by=request.user,
            version=fields.pop("version") or None,
            signature_bundle=request.FILES.get("signature"),
            **fields,
        )
        return Response(version_detail(version, request), status=status.HTTP_201_CREATED)

    @extend_schema(request=s.TransitionRequestSerializer, responses=s.StageTransitionSerializer)
    @action(detail=True, methods=["post"])
    def transition(self, request: Request, model_name: str, version: str) -> Response:
        """Move the version to a stage; a refused move answers 409 with the gate report."""
        data = s.TransitionRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        record = services.version_transition(
            version=self.get_object(), to=data.validated_data["to"], actor=request.user,
            reason=data.validated_data["reason"],
        )
        return Response(s.StageTransitionSerializer(record).data)

    @extend_schema(request=s.PromotionRequestInputSerializer,
                   responses={201: s.PromotionRequestSerializer})
    @action(detail=True, methods=["post"], url_path="promotion-requests")
    def promotion_requests(self, request: Request, model_name: str, version: str) -> Response:
        """Ask for this version to go to production (four-eyes: another release manager
        approves). A newer request for the model supersedes a pending one."""
        data = s.PromotionRequestInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        filed = services.promotion_request_file(
            version=self.get_object(), actor=request.user, reason=data.validated_data["reason"],
            source="api",
        )
        return Response(s.PromotionRequestSerializer(filed).data,
                        status=status.HTTP_201_CREATED)

    @extend_schema(responses=inline_serializer(
        "GateReport", {"passed": serializers.BooleanField(), "gates": serializers.JSONField()}
    ))
    @action(detail=True, methods=["get"], url_path="gates")
    def gates(self, request: Request, model_name: str, version: str) -> Response:
        """The gate report this version would get if promoted now."""
        report = selectors.gate_report(version=self.get_object())
        return Response({"passed": report.passed, "gates": report.as_list()})

    @extend_schema(responses={(200, "application/octet-stream"): OpenApiTypes.BINARY})
    @action(detail=True, methods=["get"])
    def artifact(self, request: Request, model_name: str, version: str) -> FileResponse:
        """Download the artifact file."""
        row = self.get_object()
        return FileResponse(
            artifacts.artifact_open(row.artifact_path), as_attachment=True,
            filename=row.artifact_path.rsplit("/", 1)[-1],
        )


class VersionSearchViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Search versions across every model by name, stage, framework, tag, metrics, time."""

    serializer_class = s.ModelVersionSerializer
    filterset_class = ModelVersionFilterSet
    pagination_class = KeysetPagination
    queryset = ModelVersion.objects.all()

    def list(self, request: Request) -> Response:
        return paginated_versions(self, self.filter_queryset(self.get_queryset()))


class StageTransitionViewSet(viewsets.ReadOnlyModelViewSet):
    """The audit trail of every stage move."""

    serializer_class = s.StageTransitionSerializer
    filterset_class = StageTransitionFilterSet
    queryset = selectors.transition_list()


class ModelChangeViewSet(viewsets.ReadOnlyModelViewSet):
    """The audit trail of models' settings: gates, directions, owners, four-eyes, metadata."""

    serializer_class = s.ModelChangeSerializer
    filterset_class = ModelChangeFilterSet
    queryset = ModelChange.objects.select_related("model", "actor")


class PromotionRequestViewSet(viewsets.ReadOnlyModelViewSet):
    """Four-eyes promotion requests: list (filter by model, version, status, people),
    approve, refuse, withdraw. File one under models/{name}/versions/{version}/."""

    serializer_class = s.PromotionRequestSerializer
    filterset_class = PromotionRequestFilterSet
    lookup_value_regex = r"\d+"
    queryset = PromotionRequest.objects.select_related(
        "model", "version", "requested_by", "decided_by"
    )

    def _decide(self, request: Request, service) -> Response:
        data = s.DecisionSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        decided = service(request_id=int(self.kwargs["pk"]), actor=request.user,
                          reason=data.validated_data["reason"])
        return Response(self.get_serializer(decided).data)

    @extend_schema(request=s.DecisionSerializer, responses=s.PromotionRequestSerializer)
    @action(detail=True, methods=["post"])
    def approve(self, request: Request, pk: str) -> Response:
        """Promote the version (gates apply); not by the requester. Failing gates refuse
        the request and answer 409 gate_refused."""
        return self._decide(request, services.promotion_request_approve)

    @extend_schema(request=s.PromotionRequestInputSerializer,
                   responses=s.PromotionRequestSerializer)
    @action(detail=True, methods=["post"])
    def refuse(self, request: Request, pk: str) -> Response:
        """Refuse with a reason; not by the requester (who withdraws instead)."""
        return self._decide(request, services.promotion_request_refuse)

    @extend_schema(request=s.DecisionSerializer, responses=s.PromotionRequestSerializer)
    @action(detail=True, methods=["post"])
    def withdraw(self, request: Request, pk: str) -> Response:
        """The requester (or a release manager) takes a pending request back."""
        return self._decide(request, services.promotion_request_withdraw)


class MeView(APIView):
    """The signed-in user and the roles the registry gives them (for clients that adapt)."""

    @extend_schema(responses=s.MeSerializer)
    def get(self, request: Request) -> Response:
        user = request.user
        return Response({
            "username": user.get_username(),
            "release_manager": roles.is_release_manager(user),
            "publisher": roles.is_publisher(user),
            "superuser": bool(user.is_superuser),
            "owned_models": sorted(
                RegisteredModel.objects.filter(Q(owner=user) | Q(co_owners=user))
                .values_list("name", flat=True).distinct()),
        })
