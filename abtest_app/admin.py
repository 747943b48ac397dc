from __future__ import annotations

import dataclasses
from collections.abc import Callable

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest
from django_fsm.admin import FSMAdminMixin

from abtest_app import services
from abtest_app.models import ABTest, ABTestSnapshot, ArmStats, OutcomeToken
from axion_registry.admin_inlines import ReadOnlyAdmin, ReadOnlyInline
from axion_registry.errors import DomainError

SERVICES: dict[str, Callable[..., ABTest]] = {
    "start": services.abtest_start,
    "pause": services.abtest_pause,
    "conclude": services.abtest_conclude,
    "cancel": services.abtest_cancel,
}
EDITABLE = ("name", "description")
ARM_STATS_FIELDS = ("arm", "metric", "n", "total", "total_sq")
SNAPSHOT_FIELDS = ("created_at", "kind", "decision", "champion_n", "challenger_n", "effect",
                   "ci_low", "ci_high", "p_value", "sequential_p", "srm_p", "promotion_status")


class ReasonForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=True,
                             help_text="Why: kept on the test.")


class OptionalReasonForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False,
                             help_text="Why (optional): kept on the test.")


class ArmStatsInline(ReadOnlyInline):
    model = ArmStats
    fields = ARM_STATS_FIELDS
    readonly_fields = ARM_STATS_FIELDS


class SnapshotInline(ReadOnlyInline):
    model = ABTestSnapshot
    fields = SNAPSHOT_FIELDS
    readonly_fields = SNAPSHOT_FIELDS
    ordering = ["-created_at", "-id"]
    show_change_link = True


@admin.register(ABTest)
class ABTestAdmin(FSMAdminMixin, admin.ModelAdmin):
    fsm_fields = ["state"]
    fsm_forms = {"conclude": ReasonForm, "cancel": OptionalReasonForm}
    list_display = ["id", "name", "model", "champion", "challenger", "state", "decision",
                    "challenger_share", "method", "auto_promote", "created_by", "created_at"]
    list_filter = ["state", "decision", "method", "auto_promote", "model"]
    search_fields = ["name", "description", "model__name", "metric_name"]
    inlines = [ArmStatsInline, SnapshotInline]

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        # Everything but the labels: changing a split or a metric mid-test breaks it.
        fields = [f.name for f in self.model._meta.fields if f.name not in EDITABLE]
        return tuple(dict.fromkeys([*fields, *super().get_readonly_fields(request, obj)]))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # tests are created through the API, which validates the design

    def _get_fsm_extra_context(self, *, request: HttpRequest, obj):
        """Only the buttons the user may press (the services check again on click)."""
        for block in super()._get_fsm_extra_context(request=request, obj=obj):
            kept = [t for t in block.available_transitions
                    if services.can_manage(obj, request.user)
                    and (t.name != "start" or services.may_start(obj, request.user))]
            if kept:
                yield dataclasses.replace(block, available_transitions=kept)

    def _apply_fsm_transition(self, *, obj, transition_name, request, kwargs=None) -> bool:
        """Every admin button goes through the lifecycle services: permission, locks."""
        service = SERVICES[transition_name]
        extra = {}
        if transition_name in ("conclude", "cancel"):
            extra["reason"] = (kwargs or {}).get("reason", "")
        try:
            test = service(test=obj, actor=request.user, **extra)
        except DomainError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return False
        self.message_user(request, f"{test} is now {test.state}.")
        return True


@admin.register(ABTestSnapshot)
class ABTestSnapshotAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "test", "kind", "decision", "champion_n", "challenger_n",
                    "effect", "p_value", "sequential_p", "srm_mismatch", "concluded"]
    list_filter = ["decision", "kind", "concluded", "srm_mismatch"]
    search_fields = ["test__name"]
    date_hierarchy = "created_at"


@admin.register(OutcomeToken)
class OutcomeTokenAdmin(ReadOnlyAdmin):
    """Outcome tokens are made and revoked through the API (the key is shown once there)."""

    list_display = ["name", "test", "prefix", "created_by", "created_at", "revoked_at"]
    list_filter = ["revoked_at"]
    search_fields = ["name", "prefix", "test__name"]
    exclude = ["key_hash"]

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        return [f.name for f in self.model._meta.fields if f.name != "key_hash"]
