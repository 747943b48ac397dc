from __future__ import annotations

import dataclasses
from collections.abc import Callable

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django_fsm.admin import FSMAdminMixin

from abtest_app import services
from abtest_app.models import ABTest, ABTestSnapshot, ArmStats, OutcomeToken
from axion_registry.admin_display import ReadableFieldsMixin
from axion_registry.admin_inlines import ReadOnlyAdmin, ReadOnlyInline
from axion_registry.errors import DomainError

SERVICES: dict[str, Callable[..., ABTest]] = {
    "start": services.abtest_start,
    "pause": services.abtest_pause,
    "conclude": services.abtest_conclude,
    "cancel": services.abtest_cancel,
}
EDITABLE = ("name", "description")
SNAPSHOT_NUMBERS = ("effect", "ci_low", "ci_high", "p_value", "sequential_p", "srm_p")
SNAPSHOT_FIELDS = ("created_at", "kind", "decision", "champion_n", "challenger_n",
                   *(f"{name}_rounded" for name in SNAPSHOT_NUMBERS), "promotion_status")
# The test's page shows the latest snapshots only (one is added every evaluation); the
# rest are a link away, in the snapshot list filtered to the test.
LATEST_SNAPSHOTS = 10
# Transition -> (button label, what it does).
ACTIONS: dict[str, tuple[str, str]] = {
    "start": ("Start / resume", "Route traffic to the challenger (a draft or paused test)."),
    "pause": ("Pause", "Stop routing to the challenger; outcomes are still accepted."),
    "conclude": ("Conclude", "End the test with a reason; a final snapshot keeps the evidence."),
    "cancel": ("Cancel", "Abandon the test without a decision."),
}


class ReasonForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=True,
                             help_text="Why: kept on the test.")


class OptionalReasonForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False,
                             help_text="Why (optional): kept on the test.")


class ArmStatsInline(ReadableFieldsMixin, ReadOnlyInline):
    model = ArmStats
    rounded = ("total", "total_sq")
    fields = readonly_fields = ("arm", "metric", "n", "total_rounded", "total_sq_rounded")


class SnapshotInline(ReadableFieldsMixin, ReadOnlyInline):
    model = ABTestSnapshot
    verbose_name_plural = f"latest snapshots (up to {LATEST_SNAPSHOTS})"
    rounded = SNAPSHOT_NUMBERS
    fields = SNAPSHOT_FIELDS
    readonly_fields = SNAPSHOT_FIELDS
    ordering = ["-created_at", "-id"]
    show_change_link = True

    def get_queryset(self, request: HttpRequest):
        snapshots = super().get_queryset(request)
        match = request.resolver_match
        test_id = match.kwargs.get("object_id") if match else None
        if not (test_id and str(test_id).isdigit()):
            return snapshots.none()
        latest = snapshots.filter(test_id=int(test_id)).order_by("-created_at", "-id")
        return snapshots.filter(pk__in=list(latest.values_list("pk", flat=True)
                                            [:LATEST_SNAPSHOTS]))


@admin.register(ABTest)
class ABTestAdmin(ReadableFieldsMixin, FSMAdminMixin, admin.ModelAdmin):
    fsm_fields = ["state"]
    fsm_forms = {"conclude": ReasonForm, "cancel": OptionalReasonForm}
    fsm_transition_form_template = "admin/fsm_transition_form.html"
    json_tables = ("guardrails", "promotion_details")
    list_display = ["id", "name", "model", "champion", "challenger", "state", "decision",
                    "challenger_share", "method", "auto_promote", "created_by", "created_at"]
    list_filter = ["state", "decision", "method", "auto_promote", "model"]
    search_fields = ["name", "description", "model__name", "metric_name"]
    inlines = [ArmStatsInline, SnapshotInline]

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        # Everything but the labels: changing a split or a metric mid-test breaks it.
        fields = [self._readable(f.name) for f in self.model._meta.fields
                  if f.name not in EDITABLE]
        return tuple(dict.fromkeys([*fields, *super().get_readonly_fields(request, obj),
                                    "all_snapshots"]))

    @admin.display(description="snapshots")
    def all_snapshots(self, obj: ABTest) -> str:
        count = obj.snapshots.count()
        url = reverse("admin:abtest_app_abtestsnapshot_changelist")
        return format_html('{} in all; the latest {} below. <a href="{}?test__exact={}">'
                           "See every snapshot of this test</a>", count,
                           min(count, LATEST_SNAPSHOTS), url, obj.pk)

    @staticmethod
    def get_fsm_block_label(fsm_field_name: str) -> str:
        return "Change the test's state"

    def get_fsm_label(self, transition) -> str:
        return ACTIONS[transition.name][0]

    def get_help_text(self, transition) -> str:
        return ACTIONS[transition.name][1]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # tests are created through the API, which validates the design

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # a test is evidence: concluded or cancelled, never deleted

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
class ABTestSnapshotAdmin(ReadableFieldsMixin, ReadOnlyAdmin):
    list_display = ["created_at", "test", "kind", "decision", "champion_n", "challenger_n",
                    "effect_rounded", "p_value_rounded", "sequential_p_rounded", "srm_mismatch",
                    "concluded"]
    list_filter = ["decision", "kind", "concluded", "srm_mismatch", "test"]
    json_tables = ("reasons", "guardrails", "details")
    rounded = ("champion_mean", "challenger_mean", *SNAPSHOT_NUMBERS, "relative_lift",
               "relative_ci_low", "relative_ci_high")
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
