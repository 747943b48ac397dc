from __future__ import annotations

from django.urls import path

from webhooks_app.api import views

# Mounted before the MLflow tracking routes (whose last route answers every other path).
urlpatterns = [
    path("webhooks", views.webhooks),
    path("webhooks/<str:webhook_id>", views.webhook),
    path("webhooks/<str:webhook_id>/test", views.webhook_test),
]
