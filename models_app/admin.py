from __future__ import annotations

import dataclasses

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.http import HttpRequest
from django_fsm.admin import FSMAdminMixin

from axion_registry.admin_inlines import ReadOnlyAdmin, ReadOnlyInline
from axion_registry.errors import DomainError
from models_app import roles, selectors, services
from models_app.models import (
    STAGE_MOVES,
    AliasChange,
    EvaluationDataset,
    ModelAlias,
    ModelChange,
    ModelVersion,
    PromotionRequest,
    RegisteredModel,
    StageTransition,
)

# Settings edited through models_app.services.model_update, by the role each needs.
MODEL_SETTINGS = ("description", "tags", "metric_directions", "gates", "require_four_eyes")

# transition button name -> target stage, from the one stage graph on the model.
TRANSITION_TARGETS = {name: target for target, name in STAGE_MOVES.items()}


class ReasonForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=True,
                             help_text="Why: kept in the audit trail.")


TRANSITION_FIELDS = ("created_at", "kind", "from_stage", "to_stage", "actor", "reason", "source")


class StageTransitionInline(ReadOnlyInline):
    model = StageTransition
    fk_name = "version"
    fields = readonly_fields = TRANSITION_FIELDS


SIGNING = ["require_signed_artifacts", "signing_keys"]


class ModelAliasInline(ReadOnlyInline):
    """Aliases are set from the version list's action (through models_app.services)."""

    model = ModelAlias
    fields = readonly_fields = ("name", "version", "set_by", "set_at")


class AliasForm(ActionForm):
    alias = forms.CharField(required=False, label="Alias",
                            widget=forms.TextInput(attrs={"size": 20}))
    reason = forms.CharField(required=False, label="Reason",
                             widget=forms.TextInput(attrs={"size": 40}))


@admin.register(RegisteredModel)
class RegisteredModelAdmin(admin.ModelAdmin):
    list_display = ["name", "owner", "require_four_eyes", "created_at", "updated_at"]
    search_fields = ["name", "description"]
    actions = ["rollback"]
    inlines = [ModelAliasInline]
    # Signing is changed through models/{name}/signing/, where may_change_signing is checked.
    fields = ["name", "owner", "co_owners", *MODEL_SETTINGS, "require_signed_artifacts",
              "signing_keys"]

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        """Owners change through the API (audited); each setting by the role that may."""
        if obj is None:
            return ["owner", "co_owners", "require_four_eyes", *SIGNING]
        user = request.user
        editable = set()
        if roles.may_change_metadata(user, obj):
            editable |= {"description", "tags"}
        if roles.is_owner_or_release_manager(user, obj):
            editable |= {"metric_directions", "gates"}
        if roles.is_release_manager(user):
            editable.add("require_four_eyes")
        return ["name", "owner", "co_owners",
                *(field for field in MODEL_SETTINGS if field not in editable), *SIGNING]

    def save_model(self, request: HttpRequest, obj: RegisteredModel, form, change: bool) -> None:
        """Through the services: a new model belongs to its creator; changes are audited."""
        if not change:
            created = services.model_create(
                name=obj.name, description=obj.description, owner=request.user, tags=obj.tags,
                metric_directions=obj.metric_directions, gates=obj.gates,
            )
            obj.pk = created.pk
            return
        changed = {f: form.cleaned_data[f] for f in form.changed_data if f in MODEL_SETTINGS}
        if changed:
            try:
                services.model_update(model=obj, actor=request.user, source="admin", **changed)
            except DomainError as exc:
                self.message_user(request, f"Not saved: {exc.message}", messages.ERROR)

    def save_related(self, request: HttpRequest, form, formsets, change: bool) -> None:
        pass  # co_owners are read-only here; nothing else is related

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
        if not roles.is_release_manager(request.user):
            actions.pop("rollback", None)
        return actions


@admin.register(ModelVersion)
class ModelVersionAdmin(FSMAdminMixin, admin.ModelAdmin):
    fsm_fields = ["stage"]
    fsm_forms = {name: ReasonForm for name in TRANSITION_TARGETS}
    list_display = ["model", "version", "sequence", "stage", "load_check_status", "framework",
                    "artifact_format", "created_by", "created_at"]
    list_filter = ["stage", "load_check_status", "framework", "artifact_format", "model"]
    search_fields = ["model__name", "version", "description"]
    readonly_fields = [
        "model", "version", "sequence", "major", "minor", "patch", "framework", "artifact_format",
        "artifact_path", "artifact_sha256", "artifact_size", "source_run_id", "created_by",
        "created_at", "metrics", "hyperparameters", "signature", "input_example",
        "signature_bundle", "signed_with",
        "serving_input", "load_check_status", "load_check", "verified_metrics",
    ]
    exclude = []
    inlines = [StageTransitionInline]
    actions = ["deprecate_selected", "alias_set"]
    action_form = AliasForm

    def get_actions(self, request: HttpRequest):
        actions = super().get_actions(request)
        if not roles.is_release_manager(request.user):
            actions.pop("alias_set", None)
        return actions

    @admin.action(description="Point the alias (type it beside) at the selected version")
    def alias_set(self, request: HttpRequest, queryset) -> None:
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one version to point the alias at.",
                              messages.ERROR)
            return
        version = queryset.select_related("model").get()
        alias = request.POST.get("alias", "")
        try:
            services.alias_set(model=version.model, alias=alias, version=version,
                               actor=request.user, source="admin",
                               reason=request.POST.get("reason", ""))
        except DomainError as exc:
            self.message_user(request, f"Alias not set: {exc.message}", messages.ERROR)
        else:
            self.message_user(request, f"{version.model}@{alias} now points at {version}.")

    def _get_fsm_extra_context(self, *, request: HttpRequest, obj):
        """Only the buttons the user's role allows (the service checks again on click)."""
        allowed = (set(selectors.available_moves(version=obj, user=request.user))
                   if obj is not None else set())
        for block in super()._get_fsm_extra_context(request=request, obj=obj):
            kept = [t for t in block.available_transitions
                    if TRANSITION_TARGETS.get(t.name) in allowed]
            if kept:
                yield dataclasses.replace(block, available_transitions=kept)

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


@admin.register(ModelChange)
class ModelChangeAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "model", "actor", "source", "changes"]
    list_filter = ["model", "source"]
    search_fields = ["model__name", "actor__username"]
    date_hierarchy = "created_at"


@admin.register(ModelAlias)
class ModelAliasAdmin(ReadOnlyAdmin):
    """Aliases: set from the version list; deleted here, through the service (audited)."""

    list_display = ["model", "name", "version", "set_by", "set_at"]
    list_filter = ["model"]
    search_fields = ["model__name", "name"]
    actions = ["alias_delete"]

    def get_actions(self, request: HttpRequest):
        actions = super().get_actions(request)
        if not roles.is_release_manager(request.user):
            actions.pop("alias_delete", None)
        return actions

    @admin.action(description="Delete the selected aliases (audited)")
    def alias_delete(self, request: HttpRequest, queryset) -> None:
        for row in queryset.select_related("model"):
            try:
                services.alias_delete(model=row.model, alias=row.name, actor=request.user,
                                      source="admin")
            except DomainError as exc:
                self.message_user(request, f"{row}: {exc.message}", messages.ERROR)
            else:
                self.message_user(request, f"{row} deleted.")


@admin.register(AliasChange)
class AliasChangeAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "model", "alias", "from_version", "to_version", "actor",
                    "source"]
    list_filter = ["model", "source"]
    search_fields = ["model__name", "alias", "actor__username", "reason"]
    date_hierarchy = "created_at"


class DecisionForm(ActionForm):
    reason = forms.CharField(required=False, label="Reason (required to refuse)",
                             widget=forms.TextInput(attrs={"size": 60}))


@admin.register(PromotionRequest)
class PromotionRequestAdmin(ReadOnlyAdmin):
    """Four-eyes requests: read-only; release managers approve or refuse other people's."""

    list_display = ["id", "model", "version", "status", "requested_by", "requested_at",
                    "decided_by", "decided_at", "reason"]
    list_filter = ["status", "model"]
    search_fields = ["model__name", "version__version", "reason", "requested_by__username"]
    date_hierarchy = "requested_at"
    actions = ["approve", "refuse"]
    action_form = DecisionForm

    def get_actions(self, request: HttpRequest):
        actions = super().get_actions(request)
        if not roles.is_release_manager(request.user):
            actions.pop("approve", None)
            actions.pop("refuse", None)
        return actions

    def _decide(self, request: HttpRequest, queryset, service, done: str) -> None:
        reason = request.POST.get("reason", "")
        for promotion_request in queryset:
            try:
                service(request_id=promotion_request.pk, actor=request.user, reason=reason)
            except DomainError as exc:
                self.message_user(request, f"Request {promotion_request.pk}: {exc.message}",
                                  messages.ERROR)
            else:
                self.message_user(request, f"Request {promotion_request.pk} {done}.")

    @admin.action(description="Approve (promote through the gates)")
    def approve(self, request: HttpRequest, queryset) -> None:
        self._decide(request, queryset, services.promotion_request_approve, "approved")

    @admin.action(description="Refuse (give a reason)")
    def refuse(self, request: HttpRequest, queryset) -> None:
        self._decide(request, queryset, services.promotion_request_refuse, "refused")


@admin.register(EvaluationDataset)
class EvaluationDatasetAdmin(ReadOnlyAdmin):
    """Registered through the API or the client (the file is stored with its sha256)."""

    list_display = ["model", "name", "label_column", "rows", "file_format", "created_at"]
    list_filter = ["model"]
