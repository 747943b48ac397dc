"""Read-mostly admin: experiments may be described, tagged and archived; runs are records."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from axion_registry.admin_inlines import ReadOnlyInline
from experiments_app import services
from experiments_app.models import Experiment, LatestMetric, Param, Run


@admin.register(Experiment)
class ExperimentAdmin(admin.ModelAdmin):
    list_display = ["name", "archived", "created_at"]
    list_filter = ["archived"]
    search_fields = ["name", "description"]
    fields = ["name", "description", "tags", "archived", "created_at"]
    readonly_fields = ["name", "created_at"]

    def save_model(self, request: HttpRequest, obj: Experiment, form, change: bool) -> None:
        services.experiment_update(experiment=obj, description=obj.description, tags=obj.tags,
                                   archived=obj.archived)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class ParamInline(ReadOnlyInline):
    model = Param
    fields = ["key", "value"]
    readonly_fields = fields


class LatestMetricInline(ReadOnlyInline):
    model = LatestMetric
    verbose_name_plural = "latest metrics"
    fields = ["key", "number", "step", "timestamp"]
    readonly_fields = fields


@admin.register(Run)
class RunAdmin(admin.ModelAdmin):
    list_display = ["run_id", "name", "experiment", "status", "user", "start_time", "end_time"]
    list_filter = ["status", "experiment"]
    search_fields = ["run_id", "name", "experiment__name"]
    list_select_related = ["experiment", "user"]
    inlines = [ParamInline, LatestMetricInline]
    fields = ["run_id", "experiment", "name", "status", "start_time", "end_time", "parent",
              "source", "user", "tags"]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False
