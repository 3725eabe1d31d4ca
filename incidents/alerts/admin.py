"""Alerts in the operators' admin: channels are edited here; alerts and their
attempts are a read-only record, with "deliver again" for failed ones."""

from django import forms
from django.contrib import admin, messages

from incidents.admin_site import local_time_column
from incidents.alerts.models import Alert, AlertAttempt, AlertChannel
from incidents.models import URL_MAX_LENGTH


class AlertChannelForm(forms.ModelForm):
    url = forms.URLField(
        max_length=URL_MAX_LENGTH,
        required=False,
        assume_scheme="https",
        help_text="For webhooks: receives a JSON POST.",
    )

    class Meta:
        model = AlertChannel
        fields = ["name", "kind", "email", "url", "secret", "enabled"]
        widgets = {"secret": forms.TextInput(attrs={"autocomplete": "off", "size": 60})}


@admin.register(AlertChannel)
class AlertChannelAdmin(admin.ModelAdmin):
    form = AlertChannelForm
    list_display = ["name", "kind", "destination", "enabled"]
    list_filter = ["kind", "enabled"]
    search_fields = ["name", "email", "url"]

    @admin.display(description="sends to")
    def destination(self, channel):
        return channel.target


class AlertAttemptInline(admin.TabularInline):
    model = AlertAttempt
    fields = ["number", "started_local", "duration_ms", "status_code", "succeeded", "error"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    started_local = local_time_column("started_at", "started")

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):
    # Outcome early: it is what operators look for, and it stays in view at 1280 px.
    list_display = [
        "created_local",
        "monitor_name",
        "kind",
        "outcome",
        "channel_name",
        "attempt_count",
        "window_ref",
    ]
    list_filter = ["outcome", "kind", "reason", "channel_kind"]
    search_fields = ["id", "monitor_ref", "monitor_name", "window_ref"]
    date_hierarchy = "created_at"
    inlines = [AlertAttemptInline]
    actions = ["deliver_again"]
    fields = [
        "id",
        "monitor_name",
        "monitor_ref",
        "kind",
        "reason",
        "from_status",
        "to_status",
        "occurred_local",
        "channel_kind",
        "channel_name",
        "target",
        "outcome",
        "window_ref",
        "attempt_count",
        "last_error",
        "created_local",
        "next_attempt_local",
        "finished_local",
    ]
    readonly_fields = fields

    created_local = local_time_column("created_at", "recorded")
    occurred_local = local_time_column("occurred_at", "occurred")
    next_attempt_local = local_time_column("next_attempt_at", "next attempt")
    finished_local = local_time_column("finished_at", "finished")

    def changelist_view(self, request, extra_context=None):
        from incidents.admin import warn_without_alert_channels

        warn_without_alert_channels(request)
        return super().changelist_view(request, extra_context)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False  # a record of what happened

    @admin.action(description="Deliver the selected failed alerts again")
    def deliver_again(self, request, queryset):
        queued = sum(alert.deliver_again() for alert in queryset.filter(outcome=Alert.FAILED))
        skipped = queryset.count() - queued
        self.message_user(request, f"{queued} alert(s) queued for delivery.", messages.SUCCESS)
        if skipped:
            self.message_user(
                request, f"{skipped} alert(s) skipped: only failed alerts are sent again."
            )
