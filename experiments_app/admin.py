"""Read-mostly admin: experiments may be described, tagged and archived; runs are records."""

from __future__ import annotations

from django.contrib import admin, messages
from django.http import HttpRequest

from axion_registry.admin_display import ReadableFieldsMixin
from axion_registry.admin_inlines import ReadOnlyInline
from axion_registry.errors import DomainError
from experiments_app import services
from experiments_app.models import Experiment, LatestMetric, Param, Run
from experiments_app.ownership import may_change


@admin.register(Experiment)
class ExperimentAdmin(ReadableFieldsMixin, admin.ModelAdmin):
    json_tables = ("tags",)
    list_display = ["name", "owner", "archived", "created_at"]
    list_filter = ["archived"]
    search_fields = ["name", "description"]
    fields = ["name", "owner", "description", "tags", "archived", "created_at"]
    readonly_fields = ["name", "owner", "created_at"]

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        if obj is not None and not may_change(request.user, obj.owner_id):
            return [*self.readonly_fields, "description", "tags_table", "archived"]
        return self.readonly_fields

    def save_model(self, request: HttpRequest, obj: Experiment, form, change: bool) -> None:
        try:
            services.experiment_update(experiment=obj, description=obj.description,
                                       tags=obj.tags, archived=obj.archived, actor=request.user)
        except DomainError as exc:
            self.message_user(request, f"Not saved: {exc.message}", messages.ERROR)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class ParamInline(ReadOnlyInline):
    model = Param
    fields = ("key", "value")
    readonly_fields = fields


class LatestMetricInline(ReadableFieldsMixin, ReadOnlyInline):
    model = LatestMetric
    verbose_name_plural = "latest metrics"
    rounded = ("number",)
    fields = ("key", "number_rounded", "step", "timestamp")
    readonly_fields = fields


@admin.register(Run)
class RunAdmin(ReadableFieldsMixin, admin.ModelAdmin):
    json_tables = ("tags",)
    list_display = ["run_id", "name", "experiment", "status", "user", "start_time", "end_time"]
    list_filter = ["status", "experiment"]
    search_fields = ["run_id", "name", "experiment__name"]
    list_select_related = ["experiment", "user"]
    inlines = [ParamInline, LatestMetricInline]
    fields = ("run_id", "experiment", "name", "status", "start_time", "end_time", "parent",
              "source", "user", "tags")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False
