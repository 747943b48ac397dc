from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import Model, QuerySet
from django.http import HttpRequest

from axion_registry.admin_inlines import ReadOnlyAdmin
from axion_registry.errors import DomainError
from webhooks_app import services
from webhooks_app.events import Event
from webhooks_app.models import Webhook, WebhookDelivery


class WebhookForm(forms.ModelForm):
    events = forms.MultipleChoiceField(choices=[(e.value, e.value) for e in Event],
                                       widget=forms.CheckboxSelectMultiple)
    # Write-only: the stored secret is never rendered; blank on a change keeps it.
    secret = forms.CharField(required=False, widget=forms.PasswordInput(render_value=False),
                             help_text="The key receivers check signatures with. Never shown "
                             "again; leave blank to keep the current one.")

    class Meta:
        model = Webhook
        fields = ["name", "url", "events", "description", "secret", "status"]

    def clean_url(self) -> str:
        url = self.cleaned_data["url"].strip()
        try:
            services.destination(url)
        except DomainError as exc:
            raise forms.ValidationError(exc.message) from exc
        return url


class ManagersOnly:
    """Release managers and staff (services.may_manage), as in the API."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return services.may_manage(request.user)

    def has_view_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return services.may_manage(request.user)


@admin.register(Webhook)
class WebhookAdmin(ManagersOnly, admin.ModelAdmin):
    form = WebhookForm
    list_display = ["name", "url", "status", "event_list", "created_by", "updated_at"]
    list_filter = ["status"]
    search_fields = ["name", "url"]
    readonly_fields = ["webhook_id", "created_by", "created_at", "updated_at"]

    @admin.display(description="events")
    def event_list(self, obj: Webhook) -> str:
        return ", ".join(obj.events)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return services.may_manage(request.user)

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return services.may_manage(request.user)

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return services.may_manage(request.user)

    def save_model(self, request: HttpRequest, obj: Webhook, form: Any, change: bool) -> None:
        data = form.cleaned_data
        events = [Event(name) for name in data["events"]]
        try:
            if not change:
                created = services.webhook_create(
                    actor=request.user, name=data["name"], url=data["url"], events=events,
                    description=data.get("description", ""), secret=data.get("secret", ""),
                    status=data["status"])
                obj.pk = created.pk
                return
            services.webhook_update(
                actor=request.user, webhook=obj, name=data["name"], url=data["url"],
                events=events, description=data.get("description", ""),
                secret=data.get("secret") or None, status=data["status"])
        except DomainError as exc:
            self.message_user(request, f"Not saved: {exc.message}", messages.ERROR)

    def delete_model(self, request: HttpRequest, obj: Webhook) -> None:
        services.webhook_delete(actor=request.user, webhook=obj)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ManagersOnly, ReadOnlyAdmin):
    list_display = ["created_at", "event", "webhook", "status", "attempts",
                    "last_status_code", "next_attempt_at", "delivered_at"]
    list_filter = ["status", "event", "webhook"]
    search_fields = ["delivery_id", "webhook__name", "last_error"]
    date_hierarchy = "created_at"
    list_select_related = ["webhook"]
    actions = ["retry_now"]

    @admin.action(description="Retry now (one more attempt)")
    def retry_now(self, request: HttpRequest, queryset: QuerySet[WebhookDelivery]) -> None:
        count = services.deliveries_retry_now(actor=request.user,
                                              pks=list(queryset.values_list("pk", flat=True)))
        self.message_user(request, f"{count} deliveries queued for another attempt "
                          "(delivered ones are left alone).")
