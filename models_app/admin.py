from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest
from django_fsm.admin import FSMAdminMixin

from axion_registry.admin_inlines import ReadOnlyAdmin, ReadOnlyInline
from axion_registry.errors import DomainError
from models_app import services
from models_app.models import EvaluationDataset, ModelVersion, RegisteredModel, StageTransition

TRANSITION_TARGETS = {
    "submit": "staging",
    "reject": "draft",
    "promote": "production",
    "archive": "archived",
    "deprecate": "deprecated",
}


class ReasonForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=True,
                             help_text="Why: kept in the audit trail.")


class StageTransitionInline(ReadOnlyInline):
    model = StageTransition
    fk_name = "version"
    fields = ["created_at", "kind", "from_stage", "to_stage", "actor", "reason", "source"]
    readonly_fields = fields


@admin.register(RegisteredModel)
class RegisteredModelAdmin(admin.ModelAdmin):
    list_display = ["name", "owner", "created_at", "updated_at"]
    search_fields = ["name", "description"]
    actions = ["rollback"]

    @admin.action(description="Roll back to the previous production version")
    def rollback(self, request: HttpRequest, queryset) -> None:
        for model in queryset:
            try:
                record = services.model_rollback(
                    model=model, actor=request.user, reason="rollback from the admin"
                )
            except DomainError as exc:
                self.message_user(request, f"{model}: {exc.message}", messages.ERROR)
            else:
                self.message_user(request, f"{model}: now at {record.version.version}.")

    def get_actions(self, request: HttpRequest):
        actions = super().get_actions(request)
        if not services.can_promote(request.user):
            actions.pop("rollback", None)
        return actions


@admin.register(ModelVersion)
class ModelVersionAdmin(FSMAdminMixin, admin.ModelAdmin):
    fsm_fields = ["stage"]
    fsm_forms = {name: ReasonForm for name in TRANSITION_TARGETS}
    list_display = ["model", "version", "stage", "load_check_status", "framework",
                    "artifact_format", "created_by", "created_at"]
    list_filter = ["stage", "load_check_status", "framework", "artifact_format", "model"]
    search_fields = ["model__name", "version", "description"]
    readonly_fields = [
        "model", "version", "major", "minor", "patch", "framework", "artifact_format",
        "artifact_path", "artifact_sha256", "artifact_size", "source_run_id", "created_by",
        "created_at", "metrics", "hyperparameters", "signature", "input_example",
        "serving_input", "load_check_status", "load_check", "verified_metrics",
    ]
    exclude: list[str] = []
    inlines = [StageTransitionInline]
    actions = ["deprecate_selected"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # versions are registered through the API, the client or import_model

    def _apply_fsm_transition(self, *, obj, transition_name, request, kwargs=None) -> bool:
        """Every admin button goes through the lifecycle service: gates, permission, audit."""
        try:
            services.version_transition(
                version=obj, to=TRANSITION_TARGETS[transition_name], actor=request.user,
                reason=(kwargs or {}).get("reason", ""), source="admin",
            )
        except DomainError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return False
        self.message_user(request, f"{obj} moved to {TRANSITION_TARGETS[transition_name]}.")
        return True

    @admin.action(description="Deprecate selected versions")
    def deprecate_selected(self, request: HttpRequest, queryset) -> None:
        try:
            records = services.versions_deprecate(
                versions=list(queryset), actor=request.user, reason="bulk deprecation (admin)"
            )
        except DomainError as exc:
            self.message_user(request, f"Nothing deprecated: {exc.message}", messages.ERROR)
        else:
            self.message_user(request, f"Deprecated {len(records)} version(s).")


@admin.register(StageTransition)
class StageTransitionAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "model", "version", "kind", "from_stage", "to_stage", "actor",
                    "source"]
    list_filter = ["kind", "to_stage", "model"]
    search_fields = ["version__version", "model__name", "reason", "actor__username"]
    date_hierarchy = "created_at"


@admin.register(EvaluationDataset)
class EvaluationDatasetAdmin(ReadOnlyAdmin):
    """Registered through the API or the client (the file is stored with its sha256)."""

    list_display = ["model", "name", "label_column", "rows", "file_format", "created_at"]
    list_filter = ["model"]
