from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from axion_registry.admin_display import ReadableFieldsMixin
from serving_app.models import (
    DeploymentEvent,
    HostWarmUp,
    LatencyMinute,
    ModelGeneration,
    ServingHost,
    ServingPolicy,
)


class ReadOnlyAdmin(ReadableFieldsMixin, admin.ModelAdmin):
    """Records of what serving did: read, never changed or deleted here."""

    def get_readonly_fields(self, request: HttpRequest, obj=None) -> list[str]:
        return [self._readable(f.name) for f in self.model._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(ServingPolicy)
class ServingPolicyAdmin(admin.ModelAdmin):
    list_display = ["model", "timeout_ms", "guardrail_enabled", "guardrail_window_minutes",
                    "guardrail_min_requests", "guardrail_max_failure_rate"]
    list_select_related = ["model"]


@admin.register(DeploymentEvent)
class DeploymentEventAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "model", "version", "kind", "source", "warmup_status",
                    "load_ms_rounded", "predict_ms_rounded", "count", "rolled_back"]
    rounded = ("load_ms", "predict_ms")
    list_filter = ["kind", "warmup_status", "source"]
    list_select_related = ["model", "version"]
    search_fields = ["model__name", "version__version", "error", "reason"]


@admin.register(HostWarmUp)
class HostWarmUpAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "event", "host", "status", "attempts", "load_ms_rounded",
                    "predict_ms_rounded", "duration_ms_rounded"]
    rounded = ("load_ms", "predict_ms", "duration_ms")
    list_filter = ["status", "host"]
    list_select_related = ["event"]


@admin.register(ServingHost)
class ServingHostAdmin(admin.ModelAdmin):
    """Hosts are noted by their workers; deleting one that is gone for good is harmless
    (a worker that starts again notes its host anew)."""

    list_display = ["name", "first_seen_at", "last_seen_at"]
    readonly_fields = ["name", "first_seen_at", "last_seen_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(LatencyMinute)
class LatencyMinuteAdmin(ReadOnlyAdmin):
    list_display = ["minute", "model", "version", "count", "errors", "fallbacks",
                    "p50_ms_rounded", "p95_ms_rounded", "p99_ms_rounded"]
    rounded = ("p50_ms", "p95_ms", "p99_ms")
    json_tables = ("buckets",)
    list_select_related = ["model", "version"]
    list_filter = ["model"]


@admin.register(ModelGeneration)
class ModelGenerationAdmin(ReadOnlyAdmin):
    list_display = ["model_name", "generation", "updated_at"]
