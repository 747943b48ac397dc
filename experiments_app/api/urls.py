from django.urls import include, path
from rest_framework.routers import SimpleRouter

from experiments_app.api import views

router = SimpleRouter()
router.register("experiments", views.ExperimentViewSet, basename="experiment")
router.register("runs", views.RunViewSet, basename="run")

urlpatterns = [
    path("metrics/history/", views.MetricHistoriesView.as_view(), name="metric-histories"),
    path("", include(router.urls)),
]
