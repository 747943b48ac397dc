from django.urls import include, path
from rest_framework.routers import SimpleRouter

from abtest_app.api import views

router = SimpleRouter()
router.register("abtests", views.ABTestViewSet, basename="abtest")

urlpatterns = [path("", include(router.urls))]
