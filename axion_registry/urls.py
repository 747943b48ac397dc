from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from axion_registry import front, health
from mlflow_app.api import urls as mlflow_urls

handler404 = "axion_registry.errors.handler404"
handler500 = "axion_registry.errors.handler500"

api_v1: list[URLPattern | URLResolver] = [
    # serving first: the prediction hot path resolves without trying every other route
    path("", include("serving_app.api.urls")),
    path("", include("models_app.api.urls")),
    path("", include("experiments_app.api.urls")),
    path("", include("abtest_app.api.urls")),
    path("", front.ApiRootView.as_view(), name="api-root"),
]

admin.site.site_url = "/"

urlpatterns = [
    path("", front.FrontDoorView.as_view(), name="front-door"),
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("healthz", health.healthz, name="healthz"),
    path("api/2.0/mlflow/", include("webhooks_app.api.urls")),
    path("ajax-api/2.0/mlflow/", include("webhooks_app.api.urls")),
    path("api/2.0/mlflow/", include(mlflow_urls.tracking)),
    path("ajax-api/2.0/mlflow/", include(mlflow_urls.tracking)),
    path("api/2.0/mlflow-artifacts/", include(mlflow_urls.proxied_artifacts)),
    path("api/3.0/mlflow/", include(mlflow_urls.server_info)),
    path("ajax-api/3.0/mlflow/", include(mlflow_urls.server_info)),
    path("", include("serving_app.urls")),
]
