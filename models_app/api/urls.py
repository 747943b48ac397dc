from django.urls import include, path
from rest_framework.routers import SimpleRouter

from models_app.api import aliases, importing, views

router = SimpleRouter()
router.register("models", views.RegisteredModelViewSet, basename="model")
router.register("versions", views.VersionSearchViewSet, basename="version-search")
router.register("transitions", views.StageTransitionViewSet, basename="transition")
router.register("model-changes", views.ModelChangeViewSet, basename="model-change")
router.register("alias-changes", aliases.AliasChangeViewSet, basename="alias-change")
router.register("promotion-requests", views.PromotionRequestViewSet,
                basename="promotion-request")

versions = SimpleRouter()
versions.register("versions", views.ModelVersionViewSet, basename="model-version")

urlpatterns = [
    path("models/<slug:model_name>/versions/import/", importing.VersionImportView.as_view(),
         name="version-import"),
    path("models/<slug:model_name>/versions/<str:version>/load-check/",
         importing.VersionLoadCheckView.as_view(), name="version-load-check"),
    path("models/<slug:model_name>/datasets/", importing.EvaluationDatasetView.as_view(),
         name="evaluation-datasets"),
    path("models/<slug:model_name>/aliases/", aliases.AliasListView.as_view(),
         name="model-aliases"),
    path("models/<slug:model_name>/aliases/<str:alias>/", aliases.AliasView.as_view(),
         name="model-alias"),
    path("", include(router.urls)),
    path("me/", views.MeView.as_view(), name="me"),
    path("models/<slug:model_name>/", include(versions.urls)),
]
