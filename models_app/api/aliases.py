"""Aliases of a model: list, read, set or move (PUT), delete; and their audit trail."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import viewsets
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from models_app import selectors, services
from models_app.api import serializers as s
from models_app.filtersets import AliasChangeFilterSet
from models_app.models import ModelVersion, RegisteredModel


def _target(model: RegisteredModel, data: dict) -> ModelVersion:
    if "sequence" in data:
        return selectors.version_by_sequence(model=model, sequence=data["sequence"])
    return selectors.version_get(model_name=model.name, version=data["version"])


class AliasListView(APIView):
    """The model's aliases, by name."""

    @extend_schema(responses=s.ModelAliasSerializer(many=True))
    def get(self, request: Request, model_name: str) -> Response:
        model = selectors.model_get(name=model_name)
        return Response(s.ModelAliasSerializer(selectors.alias_list(model=model),
                                               many=True).data)


class AliasView(APIView):
    """One alias: read it, point it at a version (create or move), delete it. Setting,
    moving and deleting need a release manager (serving answers `<model>@<alias>`); every
    change is kept in alias-changes/."""

    @extend_schema(responses=s.ModelAliasSerializer)
    def get(self, request: Request, model_name: str, alias: str) -> Response:
        model = selectors.model_get(name=model_name)
        return Response(s.ModelAliasSerializer(selectors.alias_get(model=model,
                                                                   alias=alias)).data)

    @extend_schema(request=s.AliasSetSerializer, responses=s.ModelAliasSerializer)
    def put(self, request: Request, model_name: str, alias: str) -> Response:
        data = s.AliasSetSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        model = selectors.model_get(name=model_name)
        row = services.alias_set(model=model, alias=alias,
                                 version=_target(model, data.validated_data),
                                 actor=request.user, source="api",
                                 reason=data.validated_data["reason"])
        return Response(s.ModelAliasSerializer(row).data)

    @extend_schema(request=s.AliasDeleteSerializer,
                   responses={204: OpenApiResponse(description="Deleted.")})
    def delete(self, request: Request, model_name: str, alias: str) -> Response:
        data = s.AliasDeleteSerializer(data=request.data or {})
        data.is_valid(raise_exception=True)
        services.alias_delete(model=selectors.model_get(name=model_name), alias=alias,
                              actor=request.user, source="api",
                              reason=data.validated_data["reason"])
        return Response(status=204)


class AliasChangeViewSet(viewsets.ReadOnlyModelViewSet):
    """The audit trail of aliases: every set, move and delete (to_version null: deleted)."""

    serializer_class = s.AliasChangeSerializer
    filterset_class = AliasChangeFilterSet
    queryset = selectors.alias_change_list()
