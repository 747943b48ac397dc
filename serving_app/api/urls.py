from django.urls import path

from serving_app.api import views

urlpatterns = [
    path("serve/<slug:model>/predict/", views.PredictView.as_view(), name="serve-predict"),
    path("serve/<slug:model>@<slug:alias>/predict/", views.AliasPredictView.as_view(),
         name="serve-alias-predict"),
    path("serve/<slug:model>/status/", views.ServingStatusView.as_view(), name="serve-status"),
    path("serve/<slug:model>/latency/", views.LatencyView.as_view(), name="serve-latency"),
    path("deployments/", views.DeploymentEventListView.as_view(), name="deployments"),
]
